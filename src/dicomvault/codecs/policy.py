"""The storage policy: which archived instances are compressed, to what, and when.

Read once from the settings (``storage_compression``,
``storage_compression_when``, ``storage_compression_rules``; see
docs/codecs.md) and checked at start: a rule naming a syntax we cannot
write losslessly is a :class:`~dicomvault.errors.ConfigurationError`, not a
surprise on the first store. The first rule matching an instance's
Modality and/or SOP Class UID decides; otherwise the default does.
"""

from __future__ import annotations

from dataclasses import dataclass

from dicomvault.codecs.bitstreams import ENCODABLE
from dicomvault.codecs.syntaxes import HTJ2K, syntax_uid
from dicomvault.config import CompressionTime, Settings
from dicomvault.errors import ConfigurationError

KEEP = "keep"


@dataclass(frozen=True, slots=True)
class Decision:
    """What the policy says for one instance: a target syntax (``None``: keep) and when."""

    target: str | None
    when: CompressionTime

    @property
    def compresses_on_ingest(self) -> bool:
        return self.target is not None and self.when is CompressionTime.INGEST

    @property
    def compresses_in_background(self) -> bool:
        return self.target is not None and self.when is CompressionTime.BACKGROUND


@dataclass(frozen=True, slots=True)
class _Rule:
    modality: str | None
    sop_class: str | None
    decision: Decision

    def matches(self, modality: str, sop_class: str) -> bool:
        return (self.modality is None or self.modality == modality) and (
            self.sop_class is None or self.sop_class == sop_class)


def storage_target(name: str, where: str) -> str | None:
    """The lossless syntax a setting names (``None`` for ``keep``); ``where`` names the
    setting in the error."""
    if name.strip().lower() == KEEP:
        return None
    uid = syntax_uid(name)
    if uid not in ENCODABLE or uid == HTJ2K:
        raise ConfigurationError(
            f"{where}: {name!r} is not a lossless syntax dicomvault can write "
            "(jpeg-ls-lossless, jpeg2000-lossless, htj2k-lossless, htj2k-lossless-rpcl, rle, keep)")
    return uid


@dataclass(frozen=True, slots=True)
class StoragePolicy:
    """The policy in force (see the module docstring)."""

    default: Decision
    rules: tuple[_Rule, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> StoragePolicy:
        when = settings.storage_compression_when
        default = Decision(
            storage_target(settings.storage_compression, "storage_compression"), when)
        rules = tuple(
            _Rule(rule.modality.strip().upper() if rule.modality else None,
                  rule.sop_class.strip() if rule.sop_class else None,
                  Decision(storage_target(rule.syntax, f"storage_compression_rules[{i}]"),
                           rule.when or when))
            for i, rule in enumerate(settings.storage_compression_rules)
        )
        return cls(default, rules)

    @classmethod
    def keep_everything(cls) -> StoragePolicy:
        return cls(Decision(None, CompressionTime.BACKGROUND))

    def decide(self, modality: str, sop_class: str) -> Decision:
        """The decision for an instance of this Modality and SOP Class UID."""
        modality = modality.strip().upper()
        for rule in self.rules:
            if rule.matches(modality, sop_class):
                return rule.decision
        return self.default

    @property
    def uses_background(self) -> bool:
        """Whether any instance may be left to the background compressor."""
        return any(d.compresses_in_background
                   for d in (self.default, *(r.decision for r in self.rules)))
