"""Keyed hashes of identifiers, so the ledger can be searched by UID without holding PHI.

A subject in a ledger event is ``HMAC-SHA256(key, "<kind>:<value>")`` in
lowercase hex, e.g. kind ``study`` and value a Study Instance UID. Whoever
holds the UID *and* the node's identifier key can find every event about it
(:meth:`dicomvault.ledger.Ledger.find_events`); someone holding only the
ledger learns nothing about patients or studies, and cannot test guesses
offline without the key (a plain hash of a UID or patient ID could be
brute-forced). The kind prefix keeps equal strings of different kinds (a
Patient ID that looks like a UID) from colliding.
"""

from __future__ import annotations

import hmac
import re

#: The identifier kinds the archive uses; others of the same shape are allowed.
STUDY, SERIES, SOP, PATIENT = "study", "series", "sop", "patient"
_KIND = re.compile(r"[a-z][a-z0-9_]*")
MIN_KEY_BYTES = 32


class IdentifierHasher:
    """Turns (kind, identifier) into the subject hash stored in ledger events."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(f"identifier key must be at least {MIN_KEY_BYTES} bytes")
        self._key = bytes(key)

    def __repr__(self) -> str:
        return "IdentifierHasher(<key redacted>)"

    def hash(self, kind: str, value: str) -> str:
        """HMAC-SHA256 hex of ``"<kind>:<value>"`` (kind like ``study``, ``sop``, ``patient``)."""
        if not _KIND.fullmatch(kind):
            raise ValueError("identifier kind must be lowercase letters, digits or '_'")
        message = f"{kind}:{value}".encode()
        # hmac.digest: OpenSSL's one-shot HMAC, the same value as hmac.new(...) faster.
        return hmac.digest(self._key, message, "sha256").hex()

    def subject(self, kind: str, value: str) -> str:
        """The typed subject of a ledger event: ``"<kind>:<hash>"``."""
        return f"{kind}:{self.hash(kind, value)}"
