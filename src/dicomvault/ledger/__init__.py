"""The tamper-evident ledger: an RFC 9162 Merkle log of archive events, signed checkpoints.

Public names (the rest is behind them)::

    Ledger           append events in the caller's transaction; roots, proofs,
                     entries, find_events, checkpoints, proof bundles, witnessing
    LedgerEvent      one event (canonical JSON leaf); EventType its kinds
    LedgerEntry      a stored leaf as read back
    IdentifierHasher keyed hashes of UIDs / patient IDs (no PHI in the ledger)
    LedgerKeys       the identifier key and Ed25519 keys, in a private directory
    WitnessResult    the outcome of witnessing a partner's checkpoint
    LEDGER_TABLES    the tables (on the index's shared metadata)
    verify_*         the standalone verifier (:mod:`dicomvault.ledger.verify`)

Beside them: :mod:`.service` (``LedgerService``, whole operations for doors:
checkpoints, proofs, verification, witnessing a partner over HTTP with
:mod:`.remote`), :mod:`.checkpointer` (the checkpoint daemon) and
:mod:`.derived` (the subject and event indexes the audit views use).

The database-backed names are imported lazily, so that the standalone
verifier (``dicomvault.ledger.verify`` and the pure modules it uses) can run
where SQLAlchemy is not installed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from dicomvault.ledger.checkpoint import Checkpoint, VerifierKey
from dicomvault.ledger.events import EventType, LedgerEvent, utc_now
from dicomvault.ledger.identifiers import IdentifierHasher
from dicomvault.ledger.merkle import VerificationError
from dicomvault.ledger.verify import (
    VerifiedEvent,
    verify_checkpoint_consistency,
    verify_event_inclusion,
    verify_log,
    verify_proof_bundle,
)

if TYPE_CHECKING:
    from dicomvault.ledger.keys import LedgerKeys
    from dicomvault.ledger.log import Ledger, LedgerEntry
    from dicomvault.ledger.schema import LEDGER_TABLES
    from dicomvault.ledger.witness import WitnessResult

_LAZY = {
    "Ledger": "dicomvault.ledger.log",
    "LedgerEntry": "dicomvault.ledger.log",
    "LedgerKeys": "dicomvault.ledger.keys",
    "LEDGER_TABLES": "dicomvault.ledger.schema",
    "WitnessResult": "dicomvault.ledger.witness",
}

__all__ = [
    "LEDGER_TABLES",
    "Checkpoint",
    "EventType",
    "IdentifierHasher",
    "Ledger",
    "LedgerEntry",
    "LedgerEvent",
    "LedgerKeys",
    "VerificationError",
    "VerifiedEvent",
    "VerifierKey",
    "WitnessResult",
    "utc_now",
    "verify_checkpoint_consistency",
    "verify_event_inclusion",
    "verify_log",
    "verify_proof_bundle",
]


def __getattr__(name: str) -> object:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
