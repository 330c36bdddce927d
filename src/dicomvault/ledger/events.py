"""Ledger events: what happened, to what (as keyed hashes), by whom, through which door.

Each event is one leaf of the Merkle log. Its leaf data is the RFC 8785
canonical JSON of :meth:`LedgerEvent.to_dict`, so the bytes are reproducible
by anyone and the leaf hash (RFC 9162 2.1.1) is stable. Subject identifiers
are HMAC values from :class:`~dicomvault.ledger.identifiers.IdentifierHasher`,
never UIDs or patient IDs, so a published ledger reveals no PHI.

Schema version 1 (``"v": 1``) members: ``type``, ``actor``, ``door``,
``client``, ``time`` (UTC RFC 3339 with ``Z``), ``subjects`` and ``details``
(a flat object of str/int/bool; :data:`DETAILS` lists the members each type
carries). A subject is ``"<kind>:<HMAC-SHA256 hex>"`` (kind ``patient``,
``study``, ``series``, ``sop``...): typed, so that audit exports can say
which participant object it is, yet free of PHI. For an ``instance_stored``
event ``details["content_sha256"]`` is the SHA-256 of the archived file (what
a proof bundle checks an image against) and ``details["pixel_sha256"]`` the
SHA-256 of its Pixel Data value, which survives header edits.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType

from dicomvault.ledger.canonical import JSONValue, canonical_json, parse_canonical_json

SCHEMA_VERSION = 1
#: The details member holding a stored file's SHA-256 (hex).
CONTENT_HASH = "content_sha256"
#: The details member holding the SHA-256 (hex) of the Pixel Data element's value.
PIXEL_HASH = "pixel_sha256"
#: The doors a request can come through (matches ``dicomvault.access.Door`` values).
DOORS = frozenset({"DIMSE", "DICOMweb", "CLI", "UI", "API", "system"})

_RFC3339_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z")
_SUBJECT = re.compile(r"[a-z][a-z0-9_]*:[0-9a-f]{64}")
_MEMBERS = frozenset({"v", "type", "actor", "door", "client", "time", "subjects", "details"})

DetailValue = str | int | bool


class EventType(enum.StrEnum):
    """What happened (the ``type`` member of a ledger event)."""

    INSTANCE_STORED = "instance_stored"
    INSTANCE_RETRIEVED = "instance_retrieved"
    SEARCHED = "searched"
    EXPORTED = "exported"
    TRANSCODED = "transcoded"
    DELETED = "deleted"
    SHARED = "shared"
    SHARE_USED = "share_used"
    SHARE_REVOKED = "share_revoked"
    KEY_ROTATED = "key_rotated"
    LOGIN_SUCCEEDED = "login_succeeded"
    LOGIN_FAILED = "login_failed"
    BREAK_GLASS = "break_glass"  # emergency access outside the principal's scope
    SETTINGS_CHANGED = "settings_changed"
    BACKUP_MADE = "backup_made"
    RESTORE_DONE = "restore_done"
    BLOB_DAMAGED = "blob_damaged"
    BLOB_REPAIRED = "blob_repaired"
    CHECKPOINT_WITNESSED = "checkpoint_witnessed"
    WITNESS_ALARM = "witness_alarm"
    AUDIT_LOG_USED = "audit_log_used"


#: The ``details`` members each event type carries (a member may be absent when
#: it does not apply, e.g. ``pixel_sha256`` of an instance without pixel data).
#: Producers outside this package (sharing, keys, access, backup, codecs) record
#: through ``Archive.record_event`` with these names; ``docs/ledger.md`` explains them.
DETAILS: Mapping[EventType, tuple[str, ...]] = MappingProxyType({
    EventType.INSTANCE_STORED: ("content_sha256", "pixel_sha256", "size", "sop_class",
                                "transfer_syntax", "outcome"),
    EventType.INSTANCE_RETRIEVED: ("content_sha256", "sop_class", "transfer_syntax"),
    EventType.SEARCHED: ("level", "matching_keys", "matches"),
    EventType.EXPORTED: ("content_sha256", "sop_class", "destination"),
    EventType.TRANSCODED: ("content_sha256", "from_transfer_syntax", "to_transfer_syntax",
                           "result_sha256"),
    EventType.DELETED: ("content_sha256", "sop_class"),
    # Sharing (docs/sharing.md): ``role`` is grantor or grantee (both sides record);
    # ``agreement_sha256`` is the SHA-256 of the agreement's RFC 8785 canonical JSON.
    EventType.SHARED: ("share_id", "grantor", "grantee", "role", "purpose_sha256", "expires",
                       "max_retrievals", "scope_kind", "agreement_sha256"),
    EventType.SHARE_USED: ("share_id", "grantor", "grantee", "role", "operation", "outcome",
                           "reason", "level", "matches", "content_sha256", "released_sha256",
                           "agreement_sha256"),
    EventType.SHARE_REVOKED: ("share_id", "grantor", "grantee", "role", "agreement_sha256"),
    EventType.KEY_ROTATED: ("old_key_id", "new_key_id", "rewrapped"),
    EventType.LOGIN_SUCCEEDED: ("method",),
    EventType.LOGIN_FAILED: ("method", "reason"),
    EventType.SETTINGS_CHANGED: ("changed", "settings_sha256", "setting_hashes"),
    EventType.BACKUP_MADE: ("target", "ledger_size", "instances"),
    EventType.RESTORE_DONE: ("source", "ledger_size", "instances"),
    EventType.CHECKPOINT_WITNESSED: ("origin", "tree_size", "root_hash", "previous_size"),
    EventType.WITNESS_ALARM: ("origin", "tree_size", "root_hash", "previous_size", "reason"),
    EventType.AUDIT_LOG_USED: ("view", "filters", "results"),
    EventType.BREAK_GLASS: ("operation", "reason_sha256", "break_glass"),
})


def subject_hash(subject: str) -> str:
    """The keyed hash part of a ``"<kind>:<hash>"`` subject (what the subject index stores)."""
    return subject.rpartition(":")[2]


def subject_kind(subject: str) -> str:
    """The kind part of a ``"<kind>:<hash>"`` subject (``study``, ``patient``...)."""
    return subject.partition(":")[0]


def utc_now() -> str:
    """The current time as the ledger writes it: RFC 3339, UTC, microseconds, ``Z``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class EventFormatError(ValueError):
    """An event (or its serialised bytes) does not follow the ledger event schema."""


@dataclass(frozen=True, slots=True)
class LedgerEvent:
    """One thing that happened, as recorded in the ledger (see the module docstring).

    Validated on construction, so a malformed event never reaches the log.
    ``details`` is copied into a read-only mapping.
    """

    type: EventType
    actor: str
    door: str
    time: str
    client: str = ""
    subjects: tuple[str, ...] = ()
    details: Mapping[str, DetailValue] = field(default_factory=dict)
    version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "type", EventType(self.type))
        except ValueError as exc:
            raise EventFormatError(f"unknown event type {self.type!r}") from exc
        if self.version != SCHEMA_VERSION:
            raise EventFormatError(f"unsupported event schema version {self.version}")
        if str(self.door) not in DOORS:
            raise EventFormatError(f"unknown door {self.door!r}")
        object.__setattr__(self, "door", str(self.door))
        if not isinstance(self.actor, str) or not isinstance(self.client, str):
            raise EventFormatError("actor and client must be strings")
        if not _RFC3339_UTC.fullmatch(self.time):
            raise EventFormatError("time must be RFC 3339 in UTC ending in 'Z'")
        subjects = tuple(self.subjects)
        if not all(isinstance(s, str) and _SUBJECT.fullmatch(s) for s in subjects):
            raise EventFormatError("subjects must be '<kind>:<keyed hash of 64 lowercase hex>'")
        object.__setattr__(self, "subjects", subjects)
        details = dict(self.details)
        for key, value in details.items():
            if not isinstance(key, str) or not isinstance(value, str | int | bool):
                raise EventFormatError("details must map strings to str, int or bool")
        object.__setattr__(self, "details", MappingProxyType(details))

    def to_dict(self) -> dict[str, JSONValue]:
        """The event as the JSON object that becomes the leaf."""
        return {
            "v": self.version,
            "type": self.type.value,
            "actor": self.actor,
            "door": self.door,
            "client": self.client,
            "time": self.time,
            "subjects": list(self.subjects),
            "details": dict(self.details),
        }

    def to_json(self) -> bytes:
        """RFC 8785 canonical JSON bytes: the leaf data hashed into the log."""
        try:
            return canonical_json(self.to_dict())
        except ValueError as exc:
            raise EventFormatError(str(exc)) from exc

    @classmethod
    def from_json(cls, data: bytes) -> LedgerEvent:
        """Parse leaf bytes back into an event; they must be canonical and well formed."""
        try:
            value = parse_canonical_json(data)
        except ValueError as exc:
            raise EventFormatError(str(exc)) from exc
        if not isinstance(value, dict) or set(value) != _MEMBERS:
            raise EventFormatError("event must be an object with exactly the v1 members")
        subjects, details, version = value["subjects"], value["details"], value["v"]
        if not isinstance(subjects, list) or not isinstance(details, dict):
            raise EventFormatError("subjects must be an array and details an object")
        if not isinstance(version, int) or isinstance(version, bool):
            raise EventFormatError("v must be an integer")
        try:
            kind = EventType(_text(value, "type"))
        except ValueError as exc:
            raise EventFormatError(f"unknown event type {value['type']!r}") from exc
        return cls(
            type=kind,
            actor=_text(value, "actor"),
            door=_text(value, "door"),
            time=_text(value, "time"),
            client=_text(value, "client"),
            subjects=tuple(s if isinstance(s, str) else "" for s in subjects),
            details=_details(details),
            version=version,
        )


def _text(obj: Mapping[str, JSONValue], name: str) -> str:
    value = obj[name]
    if not isinstance(value, str):
        raise EventFormatError(f"event member {name} must be a string")
    return value


def _details(obj: Mapping[str, JSONValue]) -> dict[str, DetailValue]:
    result: dict[str, DetailValue] = {}
    for key, value in obj.items():
        if not isinstance(value, str | int | bool):
            raise EventFormatError("details must map strings to str, int or bool")
        result[key] = value
    return result
