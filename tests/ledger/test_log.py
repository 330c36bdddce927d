"""The database-backed ledger on SQLite and PostgreSQL: appends, roots, proofs, queries."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
import sqlalchemy as sa
from tests.ledger import reference
from tests.ledger.conftest import ORIGIN, make_event

from dicomvault.errors import InvalidInputError
from dicomvault.index.database import write_transaction
from dicomvault.ledger import Ledger, LedgerEvent, LedgerKeys
from dicomvault.ledger.merkle import leaf_hash, verify_consistency, verify_inclusion
from dicomvault.ledger.schema import ledger_nodes


def append_batches(engine: sa.Engine, ledger: Ledger, batches: list[int]) -> list[LedgerEvent]:
    events: list[LedgerEvent] = []
    for size in batches:
        batch = [make_event(len(events) + i) for i in range(size)]
        with write_transaction(engine) as conn:
            assert ledger.append(conn, batch) == list(range(len(events), len(events) + size))
        events += batch
    return events


@contextmanager
def counted_statements(engine: sa.Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)


def test_roots_and_proofs_of_every_size_match_the_rfc_definitions(
    engine: sa.Engine, ledger: Ledger
) -> None:
    events = append_batches(engine, ledger, [1, 5, 16, 1, 14])
    data = [event.to_json() for event in events]
    with engine.connect() as conn:
        assert ledger.tree_size(conn) == 37
        assert ledger.root(conn) == reference.mth(data)
        for size in range(0, 38):
            assert ledger.root(conn, size) == reference.mth(data[:size])
        for size in (1, 2, 7, 8, 9, 22, 37):
            root = reference.mth(data[:size])
            for index in range(size):
                proof = ledger.inclusion_proof(conn, index, size)
                assert proof == reference.path(index, data[:size])
                verify_inclusion(index, size, leaf_hash(data[index]), proof, root)
            for old in range(1, size + 1):
                proof = ledger.consistency_proof(conn, old, size)
                assert proof == reference.proof(old, data[:size])
                verify_consistency(old, size, reference.mth(data[:old]), root, proof)
        # Exactly the complete subtrees of two or more leaves are stored: n - popcount(n).
        nodes = conn.execute(sa.select(sa.func.count()).select_from(ledger_nodes)).scalar_one()
        assert nodes == 37 - bin(37).count("1")
        assert ledger.check_integrity(conn) == 37


def test_append_and_proofs_touch_a_bounded_number_of_statements(
    engine: sa.Engine, ledger: Ledger
) -> None:
    append_batches(engine, ledger, [300])
    for batch in (1, 100):
        with counted_statements(engine) as statements, write_transaction(engine) as conn:
            ledger.append(conn, [make_event(1000 + i, ("study:" + "ab" * 32,))
                                 for i in range(batch)])
        # BEGIN, lock head, frontier leaves + nodes, insert leaves, subjects, event index,
        # nodes, head (PRAGMA synchronous is the transaction's durability, not the ledger's).
        assert len([s for s in statements
                    if not s.startswith(("BEGIN", "COMMIT", "PRAGMA"))]) <= 8
    with counted_statements(engine) as statements, engine.connect() as conn:
        ledger.inclusion_proof(conn, 123, 350)
        ledger.consistency_proof(conn, 77, 399)
    queries = [s for s in statements if s.startswith("SELECT")]
    assert len(queries) <= 6  # head + at most two node queries, each


def test_entries_and_find_events(engine: sa.Engine, ledger: Ledger) -> None:
    study = ledger.identifiers.subject("study", "1.2.3.4")
    other = ledger.identifiers.subject("study", "1.2.3.5")
    batch = [make_event(0, (study,)), make_event(1, (other,)), make_event(2, (study, other, study))]
    with write_transaction(engine) as conn:
        ledger.append(conn, batch)
    with engine.connect() as conn:
        entries = ledger.entries(conn, 0, 10)
        assert [e.data for e in entries] == [e.to_json() for e in batch]
        assert [e.event for e in entries] == batch
        assert all(e.leaf_hash == leaf_hash(e.data) for e in entries)
        assert all(e.recorded_at.utcoffset() == timedelta(0) for e in entries)
        assert [e.index for e in ledger.entries(conn, 1, 2)] == [1]
        assert [e.index for e in ledger.find_events(conn, study)] == [0, 2]
        assert [e.index for e in ledger.find_events(conn, other.partition(":")[2])] == [1, 2]
        assert ledger.find_events(conn, ledger.identifiers.hash("study", "9")) == []


def test_a_rolled_back_transaction_leaves_no_entry(engine: sa.Engine, ledger: Ledger) -> None:
    append_batches(engine, ledger, [3])
    with engine.connect() as conn:
        root_before = ledger.root(conn)
    with engine.connect() as conn:
        transaction = conn.begin()
        assert ledger.append(conn, [make_event(10), make_event(11)]) == [3, 4]
        assert ledger.tree_size(conn) == 5
        transaction.rollback()
    with engine.connect() as conn:
        assert ledger.tree_size(conn) == 3
        assert ledger.root(conn) == root_before
        assert ledger.check_integrity(conn) == 3
    with write_transaction(engine) as conn:
        assert ledger.append(conn, [make_event(12)]) == [3]


def test_concurrent_writers_get_dense_distinct_indexes(engine: sa.Engine, ledger: Ledger) -> None:
    threads, per_thread = 4, 8
    indexes: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def writer(number: int) -> None:
        try:
            for i in range(per_thread):
                with write_transaction(engine) as conn:
                    got = ledger.append(conn, [make_event(number * 100 + i)] * 2)
                with lock:
                    indexes.extend(got)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    workers = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    assert sorted(indexes) == list(range(threads * per_thread * 2))
    with engine.connect() as conn:
        assert ledger.check_integrity(conn) == threads * per_thread * 2
        data = [e.data for e in ledger.entries(conn, 0, 1000)]
        assert ledger.root(conn) == reference.mth(data)


def test_out_of_range_requests_are_refused(engine: sa.Engine, ledger: Ledger) -> None:
    append_batches(engine, ledger, [4])
    with engine.connect() as conn:
        assert ledger.append(conn, []) == []
        with pytest.raises(InvalidInputError):
            ledger.root(conn, 5)
        with pytest.raises(InvalidInputError):
            ledger.inclusion_proof(conn, 4, 4)
        with pytest.raises(InvalidInputError):
            ledger.consistency_proof(conn, 3, 2)


def test_an_empty_ledger_has_the_empty_root(engine: sa.Engine, ledger: Ledger) -> None:
    with engine.connect() as conn:
        assert ledger.tree_size(conn) == 0
        assert ledger.root(conn) == reference.mth([])
        assert ledger.check_integrity(conn) == 0


def test_the_remembered_frontier_is_used_only_for_the_head_it_belongs_to(
    engine: sa.Engine, keys: LedgerKeys
) -> None:
    """An append reuses the frontier its process left, but never after another writer
    appended or its own transaction rolled back: the tree must stay the RFC tree."""
    mine, other = Ledger(keys, origin=ORIGIN), Ledger(keys, origin=ORIGIN)  # two processes
    events: list[LedgerEvent] = []

    def append(ledger: Ledger, count: int) -> None:
        batch = [make_event(len(events) + i) for i in range(count)]
        with write_transaction(engine) as conn:
            ledger.append(conn, batch)
        events.extend(batch)

    append(mine, 5)
    with counted_statements(engine) as statements:
        append(mine, 1)  # the head is the one it left: no node lookup
    assert not [s for s in statements if "ledger_nodes" in s and s.startswith("SELECT")]
    append(other, 3)  # another process moves the head
    with counted_statements(engine) as statements:
        append(mine, 2)  # stale memory: the frontier is read from the nodes again
    assert [s for s in statements if "ledger_nodes" in s and s.startswith("SELECT")]
    with engine.connect() as conn:  # a rolled-back append leaves a memory of a head
        transaction = conn.begin()  # that never committed
        mine.append(conn, [make_event(900), make_event(901)])
        transaction.rollback()
    append(mine, 7)
    append(other, 1)
    append(mine, 1)
    data = [event.to_json() for event in events]
    with engine.connect() as conn:
        assert mine.tree_size(conn) == len(data) == 20
        assert mine.root(conn) == reference.mth(data)
        for size in range(1, 21):
            assert mine.root(conn, size) == reference.mth(data[:size])
        assert mine.check_integrity(conn) == 20
