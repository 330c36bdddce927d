"""Witnessing partners' checkpoints: accept only append-only growth, remember what was seen.

Between institutions each node cosigns its partners' checkpoints
(ARCHITECTURE.md, "The ledger"). A witness keeps, per origin, the largest
checkpoint it accepted; a new checkpoint is accepted only if it is signed by
the partner's key and is consistent with that one (RFC 9162 2.1.4.2). A
smaller tree (rollback), another root for the same size or a failed
consistency proof (fork) is an alarm: the offending note is stored as
evidence and never cosigned. The first checkpoint seen from an origin is
trusted on first use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from dicomvault.ledger.checkpoint import Checkpoint
from dicomvault.ledger.merkle import VerificationError, verify_consistency
from dicomvault.ledger.schema import ledger_witnessed


@dataclass(frozen=True, slots=True)
class WitnessResult:
    """Outcome of :meth:`dicomvault.ledger.Ledger.witness`.

    ``cosigned_note`` is the partner's note with this node's cosignature line
    appended (send it back); ``None`` with ``accepted`` false, when
    ``reason`` says why the alarm was raised.
    """

    accepted: bool
    checkpoint: Checkpoint
    previous_size: int | None
    cosigned_note: str | None = None
    reason: str = ""


def latest_accepted(conn: sa.Connection, origin: str) -> Checkpoint | None:
    """The largest checkpoint of ``origin`` this node accepted, if any."""
    row = conn.execute(
        sa.select(ledger_witnessed.c.tree_size, ledger_witnessed.c.root_hash)
        .where(ledger_witnessed.c.origin == origin, ledger_witnessed.c.accepted.is_(True))
        .order_by(ledger_witnessed.c.tree_size.desc(), ledger_witnessed.c.id.desc())
        .limit(1)
    ).first()
    return None if row is None else Checkpoint(origin, int(row.tree_size), bytes(row.root_hash))


def alarm_reason(previous: Checkpoint | None, new: Checkpoint,
                 proof: Sequence[bytes]) -> str | None:
    """Why ``new`` must not be cosigned given the last accepted one, or ``None`` if it may."""
    if previous is None:
        return None
    try:
        verify_consistency(previous.size, new.size, previous.root_hash, new.root_hash, proof)
    except VerificationError as exc:
        return str(exc)
    return None


def record(conn: sa.Connection, checkpoint: Checkpoint, note: str, *, accepted: bool) -> None:
    """Keep the note as seen (accepted, or as evidence of an alarm)."""
    conn.execute(sa.insert(ledger_witnessed).values(
        origin=checkpoint.origin, tree_size=checkpoint.size, root_hash=checkpoint.root_hash,
        note=note, accepted=accepted, witnessed_at=datetime.now(UTC)))
