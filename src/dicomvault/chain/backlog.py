"""The durable anchoring backlog: what is waiting for the chain, and what it became.

Collecting is pure database work and never needs the chain: new signed
checkpoints (rows of ``ledger_checkpoints`` past this consumer's cursor) and
new ``shared`` / ``share_revoked`` ledger events recorded as grantor
(``role`` absent or ``grantor``; the grantee's node records the same events
and leaves them to the grantor) past the other cursor become ``pending``
rows, and the cursors advance in the same transaction, so each is queued
exactly once even across crashes. Draining
(:mod:`.anchorer`) turns pending rows into transactions when the chain is
reachable.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from dicomvault.chain.records import share_key
from dicomvault.chain.schema import chain_backlog
from dicomvault.index.database import write_transaction
from dicomvault.ledger import EventType, Ledger, VerificationError
from dicomvault.ledger.checkpoint import verify_checkpoint
from dicomvault.ledger.schema import ledger_checkpoints, ledger_cursors

log = logging.getLogger(__name__)

#: Cursor names in ``ledger_cursors`` (a ledger-entry index and a checkpoint row id).
EVENTS_CURSOR = "chain:events"
CHECKPOINTS_CURSOR = "chain:checkpoints"
#: The details member of ``shared`` / ``share_revoked`` events holding the agreement digest.
AGREEMENT_HASH = "agreement_sha256"
_BATCH = 1000
#: Ledger entries scanned per collecting transaction.
SCAN = 10_000
_AGREEMENT_EVENTS = {EventType.SHARED: "grant", EventType.SHARE_REVOKED: "revoke"}


class Kind(enum.StrEnum):
    """What a backlog row anchors."""

    CHECKPOINT = "checkpoint"
    GRANT = "grant"
    REVOKE = "revoke"


class State(enum.StrEnum):
    PENDING = "pending"
    ANCHORED = "anchored"
    SUPERSEDED = "superseded"
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class BacklogItem:
    """One row of the backlog (checkpoint fields or agreement fields are set, per kind)."""

    id: int
    kind: Kind
    state: State
    attempts: int
    origin: str | None = None
    tree_size: int | None = None
    root_hash: bytes | None = None
    checkpoint_time: int | None = None
    share_key: bytes | None = None
    agreement_sha256: bytes | None = None
    last_error: str | None = None
    tx_hash: str | None = None
    block_number: int | None = None


class Backlog:
    """The backlog of this node (its database and its ledger)."""

    def __init__(self, engine: sa.Engine, ledger: Ledger) -> None:
        self.engine = engine
        self.ledger = ledger

    # -- collecting -----------------------------------------------------------------

    def collect(self) -> int:
        """Queue new checkpoints and agreement events; how many rows were added.

        Entries are scanned :data:`SCAN` at a time, each slice in its own short
        transaction, so that a node enabling the chain on a long log does not
        hold the database's write lock for the whole scan.
        """
        with write_transaction(self.engine) as conn:
            added = self._collect_checkpoints(conn)
        while True:
            with write_transaction(self.engine) as conn:
                found, done = self._collect_agreements(conn)
            added += found
            if done:
                return added

    def _collect_checkpoints(self, conn: sa.Connection) -> int:
        after = _cursor(conn, CHECKPOINTS_CURSOR)
        rows = conn.execute(sa.select(ledger_checkpoints.c.id, ledger_checkpoints.c.note)
                            .where(ledger_checkpoints.c.id > after)
                            .order_by(ledger_checkpoints.c.id)).all()
        added = 0
        for row in rows:
            try:
                checkpoint = verify_checkpoint(row.note, self.ledger.verifier_key)
            except VerificationError:
                log.warning("checkpoint row %s is not signed by this node's key; not anchored",
                            row.id)
                continue
            conn.execute(sa.insert(chain_backlog).values(
                kind=Kind.CHECKPOINT.value, origin=checkpoint.origin, tree_size=checkpoint.size,
                root_hash=checkpoint.root_hash, checkpoint_time=checkpoint.timestamp or 0,
                **_new_row()))
            added += 1
        if rows:
            _set_cursor(conn, CHECKPOINTS_CURSOR, int(rows[-1].id))
        return added

    def _collect_agreements(self, conn: sa.Connection) -> tuple[int, bool]:
        """Rows added from the next slice of entries, and whether the log's end was reached."""
        start, size, added = _cursor(conn, EVENTS_CURSOR), self.ledger.tree_size(conn), 0
        stop = min(size, start + SCAN)
        for entry in self.ledger.stream_entries(conn, start, stop):
            kind = _AGREEMENT_EVENTS.get(entry.event.type)
            if kind is None:
                continue
            details = entry.event.details
            if details.get("role", "grantor") != "grantor":
                continue  # the grantee's copy of the event: the grantor anchors it
            digest, share_id = details.get(AGREEMENT_HASH), details.get("share_id")
            if not isinstance(digest, str) or not isinstance(share_id, str):
                log.warning("ledger entry %s (%s) carries no agreement digest; not anchored",
                            entry.index, entry.event.type.value)
                continue
            try:
                digest_bytes = bytes.fromhex(digest)
            except ValueError:
                digest_bytes = b""
            if len(digest_bytes) != 32:
                log.warning("ledger entry %s has a malformed agreement digest", entry.index)
                continue
            conn.execute(sa.insert(chain_backlog).values(
                kind=kind, share_key=share_key(share_id), agreement_sha256=digest_bytes,
                **_new_row()))
            added += 1
        if stop > start:
            _set_cursor(conn, EVENTS_CURSOR, stop)
        return added, stop >= size

    # -- reading and settling ----------------------------------------------------------

    def pending(self, limit: int = _BATCH) -> list[BacklogItem]:
        """Pending rows, oldest first."""
        return self._select(chain_backlog.c.state == State.PENDING.value, limit)

    def recent(self, limit: int = 20) -> list[BacklogItem]:
        """The latest rows in any state, newest first (``chain status``)."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(chain_backlog).order_by(chain_backlog.c.id.desc())
                                .limit(limit)).all()
        return [_item(row) for row in rows]

    def counts(self) -> dict[str, int]:
        """Rows per state."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(chain_backlog.c.state, sa.func.count())
                                .group_by(chain_backlog.c.state)).all()
        return {str(state): int(count) for state, count in rows}

    def _select(self, condition: sa.ColumnElement[bool], limit: int) -> list[BacklogItem]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(chain_backlog).where(condition)
                                .order_by(chain_backlog.c.id).limit(limit)).all()
        return [_item(row) for row in rows]

    def settle(self, item_ids: Sequence[int], state: State, *, tx_hash: str | None = None,
               block_number: int | None = None, reason: str | None = None) -> None:
        """Record the outcome of rows (anchored with its transaction, superseded, refused)."""
        with write_transaction(self.engine) as conn:
            conn.execute(sa.update(chain_backlog).where(chain_backlog.c.id.in_(item_ids))
                         .values(state=state.value, tx_hash=tx_hash, block_number=block_number,
                                 last_error=None if reason is None else reason[:500],
                                 anchored_at=datetime.now(UTC)))

    def failed_attempt(self, item_id: int, reason: str) -> None:
        """Count a failed attempt (the chain was unreachable); the row stays pending."""
        with write_transaction(self.engine) as conn:
            conn.execute(sa.update(chain_backlog).where(chain_backlog.c.id == item_id)
                         .values(attempts=chain_backlog.c.attempts + 1,
                                 last_error=reason[:500]))


def _new_row() -> dict[str, object]:
    return {"state": State.PENDING.value, "attempts": 0, "enqueued_at": datetime.now(UTC)}


def _cursor(conn: sa.Connection, name: str) -> int:
    value = conn.execute(sa.select(ledger_cursors.c.next_index)
                         .where(ledger_cursors.c.name == name)).scalar_one_or_none()
    return 0 if value is None else int(value)


def _set_cursor(conn: sa.Connection, name: str, value: int) -> None:
    conn.execute(sa.delete(ledger_cursors).where(ledger_cursors.c.name == name))
    conn.execute(sa.insert(ledger_cursors).values(name=name, next_index=value))


def _item(row: sa.Row[object]) -> BacklogItem:
    values = row._mapping
    return BacklogItem(
        id=int(values["id"]), kind=Kind(values["kind"]), state=State(values["state"]),
        attempts=int(values["attempts"]), origin=values["origin"],
        tree_size=values["tree_size"], root_hash=_bytes(values["root_hash"]),
        checkpoint_time=values["checkpoint_time"], share_key=_bytes(values["share_key"]),
        agreement_sha256=_bytes(values["agreement_sha256"]), last_error=values["last_error"],
        tx_hash=values["tx_hash"], block_number=values["block_number"])


def _bytes(value: object) -> bytes | None:
    return None if value is None else bytes(value)  # type: ignore[call-overload]
