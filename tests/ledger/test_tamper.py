"""Tamper drills: edit, delete, reorder, truncate or replace a stored log; each is caught.

A log of 20 entries is built in SQLite with checkpoints at sizes 8 (early)
and 20 (taken just before the tamper). Each drill changes the rows by hand
as an attacker with database access would, then checks that:

* the server's own scrub (:meth:`Ledger.check_integrity`) notices naive edits;
* the standalone verifier refuses the exported log against the checkpoint
  taken before the tamper;
* an insider who also holds the signing key, rebuilds a self-consistent tree
  from the tampered entries and signs it, still cannot prove it consistent
  with the early checkpoint a witness kept (RFC 9162 2.1.4).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.ledger.conftest import ORIGIN, make_event

from dicomvault.errors import IntegrityError
from dicomvault.index.database import create_engine_for, write_transaction
from dicomvault.index.schema import metadata
from dicomvault.ledger import (
    Ledger,
    LedgerEvent,
    LedgerKeys,
    VerificationError,
    verify_checkpoint_consistency,
    verify_log,
)
from dicomvault.ledger.merkle import leaf_hash
from dicomvault.ledger.schema import LEDGER_TABLES, ledger_head, ledger_leaves


@dataclass
class Log:
    engine: sa.Engine
    ledger: Ledger
    keys: LedgerKeys
    early: str  # checkpoint at size 8, kept by a witness
    before: str  # checkpoint at size 20, taken just before the tamper


@pytest.fixture
def log(sqlite_engine: sa.Engine, keys: LedgerKeys) -> Log:
    ledger = Ledger(keys, ORIGIN)
    with write_transaction(sqlite_engine) as conn:
        ledger.append(conn, [make_event(i) for i in range(8)])
    with write_transaction(sqlite_engine) as conn:
        early = ledger.sign_checkpoint(conn)
    with write_transaction(sqlite_engine) as conn:
        ledger.append(conn, [make_event(i) for i in range(8, 20)])
    with write_transaction(sqlite_engine) as conn:
        before = ledger.sign_checkpoint(conn)
    return Log(sqlite_engine, ledger, keys, early, before)


def exported(log: Log) -> list[bytes]:
    with log.engine.connect() as conn:
        return [entry.data for entry in log.ledger.entries(conn, 0, 1000)]


def rebuild_and_sign(entries: list[bytes], keys: LedgerKeys, tmp: Path) -> tuple[str, Ledger,
                                                                                  sa.Engine]:
    """What an insider holding the signing key does: a fresh, self-consistent tree."""
    engine = create_engine_for(f"sqlite:///{tmp / 'rewritten.sqlite3'}")
    metadata.create_all(engine, tables=list(LEDGER_TABLES))
    ledger = Ledger(keys, ORIGIN)
    with write_transaction(engine) as conn:
        ledger.append(conn, [LedgerEvent.from_json(data) for data in entries])
        return ledger.sign_checkpoint(conn), ledger, engine


def edit_one(conn: sa.Connection) -> None:
    original = LedgerEvent.from_json(conn.execute(
        sa.select(ledger_leaves.c.event).where(ledger_leaves.c.idx == 5)).scalar_one())
    forged = replace(original, actor="nobody").to_json()
    conn.execute(sa.update(ledger_leaves).where(ledger_leaves.c.idx == 5)
                 .values(event=forged, leaf_hash=leaf_hash(forged)))


def delete_one(conn: sa.Connection) -> None:
    conn.execute(sa.delete(ledger_leaves).where(ledger_leaves.c.idx == 5))
    for index in range(6, 20):  # close the gap so the log looks dense
        conn.execute(sa.update(ledger_leaves).where(ledger_leaves.c.idx == index)
                     .values(idx=index - 1))
    conn.execute(sa.update(ledger_head).values(tree_size=19))


def reorder_two(conn: sa.Connection) -> None:
    rows = {r.idx: r for r in conn.execute(
        sa.select(ledger_leaves).where(ledger_leaves.c.idx.in_([3, 4])))}
    for index, other in ((3, 4), (4, 3)):
        conn.execute(sa.update(ledger_leaves).where(ledger_leaves.c.idx == index).values(
            event=rows[other].event, leaf_hash=rows[other].leaf_hash))


def truncate_tail(conn: sa.Connection) -> None:
    conn.execute(sa.delete(ledger_leaves).where(ledger_leaves.c.idx >= 6))
    conn.execute(sa.update(ledger_head).values(tree_size=6))


DRILLS: dict[str, Callable[[sa.Connection], None]] = {
    "edit one entry": edit_one,
    "delete one entry": delete_one,
    "reorder two entries": reorder_two,
    "truncate the tail": truncate_tail,
}


def test_the_untouched_log_verifies(log: Log) -> None:
    key = log.ledger.verifier_key.encode()
    assert verify_log(exported(log), log.before, key).size == 20
    with log.engine.connect() as conn:
        proof = log.ledger.consistency_proof(conn, 8, 20)
        assert log.ledger.check_integrity(conn) == 20
    verify_checkpoint_consistency(log.early, log.before, proof, key)


@pytest.mark.parametrize("drill", sorted(DRILLS))
def test_tampering_is_detected(drill: str, log: Log, tmp_path: Path) -> None:
    key = log.ledger.verifier_key.encode()
    with write_transaction(log.engine) as conn:
        DRILLS[drill](conn)
    entries = exported(log)

    with log.engine.connect() as conn, pytest.raises(IntegrityError):
        log.ledger.check_integrity(conn)
    with pytest.raises(VerificationError):
        verify_log(entries, log.before, key)

    rewritten, ledger, engine = rebuild_and_sign(entries, log.keys, tmp_path)
    with engine.connect() as conn:
        size = ledger.tree_size(conn)
        proof = ledger.consistency_proof(conn, 8, size) if size >= 8 else []
    engine.dispose()
    verify_log(entries, rewritten, key)  # the rewrite is self-consistent...
    with pytest.raises(VerificationError):  # ...but not an extension of what was witnessed
        verify_checkpoint_consistency(log.early, rewritten, proof, key)


def test_replacing_the_whole_log_with_another_signed_one_is_detected(
    log: Log, tmp_path: Path
) -> None:
    key = log.ledger.verifier_key.encode()
    impostor_keys = LedgerKeys.generate()
    with write_transaction(log.engine) as conn:
        for table in reversed(LEDGER_TABLES):
            conn.execute(sa.delete(table))
    impostor = Ledger(impostor_keys, ORIGIN)
    with write_transaction(log.engine) as conn:
        impostor.append(conn, [make_event(100 + i) for i in range(25)])
    with write_transaction(log.engine) as conn:
        forged = impostor.sign_checkpoint(conn)
        proof = impostor.consistency_proof(conn, 8, 25)
    entries = exported(log)
    assert verify_log(entries, forged, impostor.verifier_key).size == 25  # valid-looking

    with pytest.raises(VerificationError, match="not signed"):
        verify_log(entries, forged, key)
    with pytest.raises(VerificationError):
        verify_log(entries, log.before, key)
    with pytest.raises(VerificationError):
        verify_checkpoint_consistency(log.early, forged, proof, key)
    with pytest.raises(VerificationError):  # even trusting the impostor's key
        verify_checkpoint_consistency(log.early, forged, proof, impostor.verifier_key)
