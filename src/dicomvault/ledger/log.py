"""The ledger: an append-only Merkle log of events in the index database.

Every method takes the caller's :class:`sqlalchemy.Connection` and runs in
the caller's transaction: an archive operation and its ledger entry commit
or roll back together (ARCHITECTURE.md, "Ingest, step by step", step 5).

Concurrency: :meth:`Ledger.append` locks the single head row first (``SELECT
... FOR UPDATE`` on PostgreSQL; SQLite has one writer at a time, and
:func:`dicomvault.index.database.write_transaction` takes its lock at
``BEGIN``), so appends are serialised and leaf indexes are dense. Reads do
not lock: they see the committed tree, and the nodes of any committed size
never change.

Signing: sign checkpoints in a transaction of their own, after the appends
they cover have committed; a checkpoint of a tree that later rolls back
would be evidence against this node.

Speed: an append remembers the frontier it leaves (the O(log n) subtree
hashes the next append folds into) together with the head it belongs to.
The next append in this process uses it only if the locked head row still
holds exactly that size and root, i.e. nobody else appended and nothing
rolled back meanwhile (equal root, equal leaves); otherwise it reads the
frontier from the stored nodes as before. So a search or a retrieve pays
for one head read and the inserts, not for a node lookup as well.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from dicomvault.errors import IntegrityError, InvalidInputError
from dicomvault.ledger import derived, tree
from dicomvault.ledger import witness as witnessing
from dicomvault.ledger.canonical import JSONValue
from dicomvault.ledger.checkpoint import (
    ALG_COSIGNATURE_V1,
    Checkpoint,
    NoteSigner,
    VerifierKey,
    add_cosignature,
    parse_checkpoint_body,
    sign_checkpoint,
    split_note,
    verify_checkpoint,
)
from dicomvault.ledger.events import EventType, LedgerEvent, subject_hash, utc_now
from dicomvault.ledger.identifiers import IdentifierHasher
from dicomvault.ledger.keys import LedgerKeys
from dicomvault.ledger.merkle import (
    EMPTY_ROOT,
    VerificationError,
    consistency_proof,
    consistency_ranges,
    inclusion_proof,
    inclusion_ranges,
    leaf_hash,
    proof_nodes,
    root_from_leaf_hashes,
    root_hash,
)
from dicomvault.ledger.schema import (
    ledger_checkpoints,
    ledger_leaves,
    ledger_subjects,
)
from dicomvault.ledger.verify import make_proof_bundle

#: Rows fetched per round trip when streaming the whole log.
_STREAM_BATCH = 5000
_INSERT_LEAVES = sa.insert(ledger_leaves)


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One stored leaf: its index, hash, canonical event bytes and when it was written."""

    index: int
    leaf_hash: bytes
    data: bytes
    recorded_at: datetime

    @property
    def event(self) -> LedgerEvent:
        """The event decoded from :attr:`data`."""
        return LedgerEvent.from_json(self.data)


class Ledger:
    """One node's ledger: append events, prove them, sign checkpoints.

    ``origin`` names the log in its checkpoints (C2SP tlog-checkpoint: a
    schema-less URL such as ``pacs.example-hospital.org/ledger``) and is the
    key name of :attr:`verifier_key`; the witness key is named
    ``<origin>/witness``.
    """

    def __init__(self, keys: LedgerKeys, origin: str) -> None:
        self.origin = origin
        self.identifiers = IdentifierHasher(keys.identifier_key)
        self._signer = NoteSigner(origin, keys.signing_key)
        self._witness = NoteSigner(f"{origin}/witness", keys.witness_key)
        #: The public key that verifies this log's checkpoints.
        self.verifier_key: VerifierKey = self._signer.verifier_key()
        #: The public key that verifies this node's cosignatures of partners' checkpoints.
        self.witness_verifier_key: VerifierKey = self._witness.verifier_key(ALG_COSIGNATURE_V1)
        # The head and frontier left by this process's last append (see the module docstring).
        self._last_append: tuple[tree.Head, tree.Frontier] | None = None
        self._last_append_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Ledger(origin={self.origin!r})"

    # -- writing ---------------------------------------------------------------

    def append(self, conn: sa.Connection, events: Sequence[LedgerEvent]) -> list[int]:
        """Append ``events`` in order inside the caller's transaction; their leaf indexes."""
        if not events:
            return []
        payloads = [event.to_json() for event in events]
        hashes = [leaf_hash(data) for data in payloads]
        head = tree.read_head(conn, for_update=True)
        now = datetime.now(UTC)
        conn.execute(
            _INSERT_LEAVES,
            [
                {"idx": head.size + offset, "leaf_hash": hashed, "event": data,
                 "event_type": event.type.value, "recorded_at": now}
                for offset, (event, data, hashed) in enumerate(zip(events, payloads, hashes,
                                                                   strict=True))
            ],
        )
        derived.insert(conn, head.size, events)
        new_head, frontier = tree.extend(conn, head, hashes, self._known_frontier(head))
        tree.write_head(conn, new_head)
        with self._last_append_lock:
            self._last_append = (new_head, frontier)
        return list(range(head.size, new_head.size))

    def _known_frontier(self, head: tree.Head) -> tree.Frontier | None:
        """The frontier of ``head`` if this process's last append left exactly that head."""
        with self._last_append_lock:
            last = self._last_append
        if last is None or last[0] != head:
            return None
        return last[1]

    # -- reading ---------------------------------------------------------------

    def tree_size(self, conn: sa.Connection) -> int:
        """Number of entries in the log."""
        return tree.read_head(conn).size

    def _checked_size(self, conn: sa.Connection, size: int | None) -> int:
        current = tree.read_head(conn).size
        if size is None:
            return current
        if not 0 <= size <= current:
            raise InvalidInputError(f"tree size {size} is outside 0..{current}")
        return size

    def root(self, conn: sa.Connection, size: int | None = None) -> bytes:
        """MTH of the first ``size`` entries (default: all), from O(log n) stored nodes."""
        size = self._checked_size(conn, size)
        ranges = [(0, size)] if size else []
        return root_hash(tree.fetch_nodes(conn, proof_nodes(ranges)), size)

    def inclusion_proof(self, conn: sa.Connection, index: int, size: int | None = None
                        ) -> list[bytes]:
        """Audit path of entry ``index`` in the tree of ``size`` entries (RFC 9162 2.1.3.1)."""
        size = self._checked_size(conn, size)
        if not 0 <= index < size:
            raise InvalidInputError(f"entry {index} is not in a tree of size {size}")
        get = tree.fetch_nodes(conn, proof_nodes(inclusion_ranges(index, size)))
        return inclusion_proof(get, index, size)

    def consistency_proof(self, conn: sa.Connection, old_size: int,
                          new_size: int | None = None) -> list[bytes]:
        """Proof that the tree of ``old_size`` is a prefix of ``new_size`` (RFC 9162 2.1.4.1)."""
        new_size = self._checked_size(conn, new_size)
        if not 0 <= old_size <= new_size:
            raise InvalidInputError(f"no consistency proof from {old_size} to {new_size}")
        get = tree.fetch_nodes(conn, proof_nodes(consistency_ranges(old_size, new_size)))
        return consistency_proof(get, old_size, new_size)

    def entries(self, conn: sa.Connection, start: int, stop: int) -> list[LedgerEntry]:
        """Entries ``start <= index < stop``, in log order."""
        rows = conn.execute(
            sa.select(ledger_leaves)
            .where(ledger_leaves.c.idx >= start, ledger_leaves.c.idx < stop)
            .order_by(ledger_leaves.c.idx)
        )
        return [_entry(row) for row in rows]

    def find_events(self, conn: sa.Connection, subject: str) -> list[LedgerEntry]:
        """Entries about ``subject``: a typed subject from :attr:`identifiers` or its hash."""
        rows = conn.execute(
            sa.select(ledger_leaves)
            .join(ledger_subjects, ledger_subjects.c.leaf_idx == ledger_leaves.c.idx)
            .where(ledger_subjects.c.subject == subject_hash(subject))
            .order_by(ledger_leaves.c.idx)
        )
        return [_entry(row) for row in rows]

    def check_integrity(self, conn: sa.Connection) -> int:
        """Re-hash every stored entry and compare with the stored tree; the size checked.

        Catches an edited event row, a missing or extra leaf and a damaged node
        or head. Reads the whole log (a scrub job's work, not a request's).
        """
        head = tree.read_head(conn)
        size, root = root_from_leaf_hashes(self._stream_leaf_hashes(conn))
        if size != head.size:
            raise IntegrityError(f"ledger holds {size} entries but its head says {head.size}")
        if root != head.root or (size and self.root(conn, size) != root):
            raise IntegrityError("ledger entries do not hash to the stored root")
        return size

    def _stream_leaf_hashes(self, conn: sa.Connection) -> Iterator[bytes]:
        """Every stored leaf hash in order, checked against its event bytes, its index
        and the derived rows written with it."""
        expected = 0
        while True:
            batch = self.entries(conn, expected, expected + _STREAM_BATCH)
            start = expected
            for entry in batch:
                if entry.index != expected or leaf_hash(entry.data) != entry.leaf_hash:
                    raise IntegrityError(f"ledger entry {expected} was altered or removed")
                expected += 1
                yield entry.leaf_hash
            try:
                events = [entry.event for entry in batch]
            except ValueError as exc:
                raise IntegrityError(f"a ledger entry from {start} on is malformed") from exc
            derived.check(conn, start, events)
            if len(batch) < _STREAM_BATCH:
                return

    def stream_entries(self, conn: sa.Connection, start: int = 0,
                       stop: int | None = None) -> Iterator[LedgerEntry]:
        """Entries ``start <= index < stop`` (default: to the end) fetched in batches."""
        position = start
        while stop is None or position < stop:
            end = position + _STREAM_BATCH if stop is None else min(stop, position + _STREAM_BATCH)
            batch = self.entries(conn, position, end)
            yield from batch
            if len(batch) < end - position:
                return
            position = end

    # -- checkpoints and proof bundles -----------------------------------------

    def sign_checkpoint(self, conn: sa.Connection) -> str:
        """Sign (and record) a checkpoint of the committed tree; the signed note text.

        The note carries the signing time as a ``Timestamp:`` extension line
        (see :mod:`.checkpoint`), so a checkpoint says when the log had that size.
        """
        head = tree.read_head(conn)
        checkpoint = Checkpoint(self.origin, head.size, head.root, timestamp=int(time.time()))
        note = sign_checkpoint(checkpoint, self._signer)
        conn.execute(sa.insert(ledger_checkpoints).values(
            tree_size=head.size, root_hash=head.root, note=note, issued_at=datetime.now(UTC)))
        return note

    def latest_checkpoint(self, conn: sa.Connection) -> str | None:
        """The most recent checkpoint this node signed, or ``None``."""
        return conn.execute(
            sa.select(ledger_checkpoints.c.note)
            .order_by(ledger_checkpoints.c.tree_size.desc(), ledger_checkpoints.c.id.desc())
            .limit(1)
        ).scalar_one_or_none()

    def export_proof_bundle(self, conn: sa.Connection, index: int,
                            note: str | None = None) -> dict[str, JSONValue]:
        """A self-contained proof bundle of entry ``index`` (see :mod:`.verify`).

        Uses ``note`` if given (a checkpoint this log signed), else the latest
        checkpoint, signing a new one if none covers the entry yet.
        """
        if note is None:
            note = self.latest_checkpoint(conn)
            if note is None or _parse_own(note, self.verifier_key).size <= index:
                note = self.sign_checkpoint(conn)
        checkpoint = _parse_own(note, self.verifier_key)
        found = self.entries(conn, index, index + 1)
        if not found:
            raise InvalidInputError(f"entry {index} is not in the ledger")
        proof = self.inclusion_proof(conn, index, checkpoint.size)
        return make_proof_bundle(found[0].data, index, proof, note, self.verifier_key.encode())

    # -- witnessing partners ---------------------------------------------------

    def witness(self, conn: sa.Connection, note: str, partner_key: VerifierKey | str,
                proof: Sequence[bytes], *, actor: str = "system", door: str = "system",
                client: str = "", audit_failure: str | None = None
                ) -> witnessing.WitnessResult:
        """Witness a partner's checkpoint: cosign it, or raise the alarm (see :mod:`.witness`).

        ``proof`` is the partner's consistency proof from the size this node
        last accepted from it (empty on first contact). ``audit_failure`` is
        why the partner's entries failed to hash to this checkpoint, if the
        caller checked them (a monitor's full audit). Both outcomes are
        recorded and appended to this ledger (``checkpoint_witnessed`` or
        ``witness_alarm``) in the caller's transaction, which must commit even
        on an alarm: the alarm is the evidence. A note not signed by
        ``partner_key`` is refused with :class:`InvalidInputError` and not
        recorded (anyone can send garbage); a caller that fetched it from a
        known partner records that with :meth:`record_witness_alarm`.
        """
        try:
            checkpoint = verify_checkpoint(note, partner_key)
        except VerificationError as exc:
            raise InvalidInputError(f"partner checkpoint refused: {exc}") from exc
        tree.read_head(conn, for_update=True)  # one witness decision at a time, like appends
        previous = witnessing.latest_accepted(conn, checkpoint.origin)
        previous_size = None if previous is None else previous.size
        reason = witnessing.alarm_reason(previous, checkpoint, proof) or audit_failure
        if reason is not None:
            self._witness_alarm(conn, checkpoint, note, reason, previous_size,
                                actor=actor, door=door, client=client)
            return witnessing.WitnessResult(False, checkpoint, previous_size, None, reason)
        cosigned = add_cosignature(note, self._witness, int(time.time()))
        witnessing.record(conn, checkpoint, cosigned, accepted=True)
        self.append(conn, [LedgerEvent(type=EventType.CHECKPOINT_WITNESSED, actor=actor,
                                       door=door, client=client, time=utc_now(),
                                       details=_witness_details(checkpoint, previous_size))])
        return witnessing.WitnessResult(True, checkpoint, previous_size, cosigned)

    def record_witness_alarm(self, conn: sa.Connection, origin: str, note: str, reason: str,
                             *, actor: str = "system", door: str = "system",
                             client: str = "") -> None:
        """Record an alarm about a partner's note that did not even verify (wrong key, garbage).

        For a note fetched from a partner whose key this node pinned: a
        checkpoint signed by another key means the partner's log (or its key)
        was replaced, which is evidence, not noise.
        """
        tree.read_head(conn, for_update=True)
        try:
            checkpoint = parse_checkpoint_body(split_note(note)[0])
        except VerificationError:
            checkpoint = Checkpoint(origin, 0, EMPTY_ROOT)
        previous = witnessing.latest_accepted(conn, origin)
        self._witness_alarm(conn, checkpoint, note, reason,
                            None if previous is None else previous.size,
                            actor=actor, door=door, client=client)

    def _witness_alarm(self, conn: sa.Connection, checkpoint: Checkpoint, note: str,
                       reason: str, previous_size: int | None, *, actor: str, door: str,
                       client: str) -> None:
        witnessing.record(conn, checkpoint, note, accepted=False)
        details = _witness_details(checkpoint, previous_size)
        details["reason"] = reason
        self.append(conn, [LedgerEvent(type=EventType.WITNESS_ALARM, actor=actor, door=door,
                                       client=client, time=utc_now(), details=details)])


def _witness_details(checkpoint: Checkpoint, previous_size: int | None
                     ) -> dict[str, str | int | bool]:
    return {
        "origin": checkpoint.origin,
        "tree_size": checkpoint.size,
        "root_hash": checkpoint.root_hash.hex(),
        "previous_size": -1 if previous_size is None else previous_size,
    }


def _parse_own(note: str, key: VerifierKey) -> Checkpoint:
    try:
        return verify_checkpoint(note, key)
    except VerificationError as exc:
        raise InvalidInputError(f"not a checkpoint of this ledger: {exc}") from exc


def _entry(row: sa.Row[object]) -> LedgerEntry:
    mapping = row._mapping
    recorded: datetime = mapping["recorded_at"]
    if recorded.tzinfo is None:  # SQLite keeps no offset; the ledger writes UTC only
        recorded = recorded.replace(tzinfo=UTC)
    return LedgerEntry(int(mapping["idx"]), bytes(mapping["leaf_hash"]), bytes(mapping["event"]),
                       recorded)
