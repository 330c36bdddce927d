"""Tamper drills on a real node, caught through the command line by verify and by a witness.

Node A imports real files and serves HTTP; the auditor kept A's public key
(``ledger export-key``) and its checkpoints; node B witnesses A with
``dicomvault ledger witness URL`` (both are real ``dicomvault``
subprocesses) and last saw the checkpoint taken just before the tamper.
Then an attacker with database access tampers with A's ledger rows. Each drill checks that:

* ``dicomvault ledger verify --key <kept key> --checkpoint <kept note>`` on A
  exits 1 and says what failed;
* the witness B catches it: with ``--audit`` (entries re-hashed) for rows
  edited in place, and plainly once the insider rebuilds the tree and signs
  a new checkpoint to cover the edit. The witness exits 3 and B's own ledger
  records a ``witness_alarm``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import sqlalchemy as sa
from pydicom.data import get_testdata_file
from tests.support.auth import token_for
from tests.support.live import serving
from tests.support.nodes import TEST_PASSPHRASE, open_test_node

from dicomvault.access import Role
from dicomvault.archive import Archive
from dicomvault.index.database import write_transaction
from dicomvault.ledger import EventType, Ledger, LedgerEvent, LedgerKeys
from dicomvault.ledger.merkle import leaf_hash
from dicomvault.ledger.schema import (
    ledger_checkpoints,
    ledger_event_index,
    ledger_head,
    ledger_leaves,
    ledger_nodes,
    ledger_subjects,
)

pytestmark = pytest.mark.slow

FILES = ["CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "JPEG2000.dcm", "US1_J2KR.dcm"]
ALARM = 3


def dicomvault(data_dir: Path, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DICOMVAULT_")}
    env.update(DICOMVAULT_DATA_DIR=str(data_dir), DICOMVAULT_KEYRING_PASSPHRASE=TEST_PASSPHRASE,
               **extra_env)
    return subprocess.run([sys.executable, "-m", "dicomvault.cli", *args], env=env, text=True,
                          capture_output=True, timeout=180, check=False)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@dataclass
class Drill:
    node_a: Path
    node_b: Path
    archive: Archive
    url: str
    key_file: Path
    early: Path  # the first checkpoint the auditor kept
    before: Path  # the checkpoint kept just before the tamper


@pytest.fixture
def drill(tmp_path: Path) -> Iterator[Drill]:
    node_a, node_b = tmp_path / "a", tmp_path / "b"
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    for name in FILES[:2]:
        shutil.copy(str(get_testdata_file(name)), incoming / name)
    ok(dicomvault(node_a, "import", str(incoming)))
    key_file, early = tmp_path / "a.key", tmp_path / "early.note"
    key_file.write_text(ok(dicomvault(node_a, "ledger", "export-key")))
    early.write_text(ok(dicomvault(node_a, "ledger", "checkpoint")))
    with open_test_node(node_a, f"sqlite:///{node_a / 'index.sqlite3'}") as archive, \
            serving(archive) as url:
        ok(dicomvault(node_b, "ledger", "witness", url, "--key", str(key_file)))
        for name in FILES[2:]:
            shutil.copy(str(get_testdata_file(name)), incoming / name)
        ok(dicomvault(node_a, "import", str(incoming)))
        before = tmp_path / "before.note"
        before.write_text(ok(dicomvault(node_a, "ledger", "checkpoint")))
        ok(dicomvault(node_b, "ledger", "witness", url))  # the witness now holds 'before'
        yield Drill(node_a, node_b, archive, url, key_file, early, before)


def _entry(conn: sa.Connection, index: int) -> LedgerEvent:
    return LedgerEvent.from_json(conn.execute(
        sa.select(ledger_leaves.c.event).where(ledger_leaves.c.idx == index)).scalar_one())


def edit_one(conn: sa.Connection) -> None:
    forged = replace(_entry(conn, 3), actor="nobody").to_json()
    conn.execute(sa.update(ledger_leaves).where(ledger_leaves.c.idx == 3)
                 .values(event=forged, leaf_hash=leaf_hash(forged)))


def delete_one(conn: sa.Connection) -> None:
    size = conn.execute(sa.select(ledger_head.c.tree_size)).scalar_one()
    conn.execute(sa.delete(ledger_leaves).where(ledger_leaves.c.idx == 2))
    for index in range(3, size):
        conn.execute(sa.update(ledger_leaves).where(ledger_leaves.c.idx == index)
                     .values(idx=index - 1))
    conn.execute(sa.update(ledger_head).values(tree_size=size - 1))


def reorder_two(conn: sa.Connection) -> None:
    rows = {r.idx: r for r in conn.execute(
        sa.select(ledger_leaves).where(ledger_leaves.c.idx.in_([1, 2])))}
    for index, other in ((1, 2), (2, 1)):
        conn.execute(sa.update(ledger_leaves).where(ledger_leaves.c.idx == index).values(
            event=rows[other].event, leaf_hash=rows[other].leaf_hash))


def truncate_tail(conn: sa.Connection) -> None:
    conn.execute(sa.delete(ledger_leaves).where(ledger_leaves.c.idx >= 4))
    conn.execute(sa.update(ledger_head).values(tree_size=4))


DRILLS: dict[str, Callable[[sa.Connection], None]] = {
    "edit one entry": edit_one,
    "delete one entry": delete_one,
    "reorder two entries": reorder_two,
    "truncate the tail": truncate_tail,
}


def rebuild_and_sign(archive: Archive, keys: LedgerKeys | None = None) -> None:
    """What an insider holding the signing key does next: a self-consistent tree, re-signed."""
    engine = archive.engine
    with engine.connect() as conn:
        events = [LedgerEvent.from_json(bytes(data)) for data in conn.execute(
            sa.select(ledger_leaves.c.event).order_by(ledger_leaves.c.idx)).scalars()]
    ledger = archive.audit.ledger if keys is None else Ledger(keys, archive.audit.ledger.origin)
    with write_transaction(engine) as conn:
        for table in (ledger_subjects, ledger_event_index, ledger_nodes, ledger_leaves,
                      ledger_head, ledger_checkpoints):
            conn.execute(sa.delete(table))
        ledger.append(conn, events)
    with write_transaction(engine) as conn:
        ledger.sign_checkpoint(conn)


def verify_fails(drill: Drill) -> str:
    result = dicomvault(drill.node_a, "ledger", "verify", "--key", str(drill.key_file),
                        "--checkpoint", str(drill.early), "--checkpoint", str(drill.before))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAILED" in result.stdout
    return result.stdout


def witness_alarms(drill: Drill, *extra: str) -> str:
    """The witness (with an auditor's token on node A, so --audit can read entries) alarms."""
    token = token_for(drill.archive, "partner-auditor", {Role.AUDITOR})
    result = dicomvault(drill.node_b, "ledger", "witness", drill.url, *extra,
                        DICOMVAULT_WITNESS_TOKEN=token)
    assert result.returncode == ALARM, result.stdout + result.stderr
    assert "ALARM" in result.stderr and "answered 401" not in result.stderr
    with open_test_node(drill.node_b, f"sqlite:///{drill.node_b / 'index.sqlite3'}") as b, \
            b.engine.connect() as conn:
        kinds = [e.event.type for e in b.audit.ledger.entries(conn, 0, 100)]
    assert kinds[-1] is EventType.WITNESS_ALARM
    return result.stderr


def test_untouched_node_verifies_and_is_witnessed(drill: Drill) -> None:
    out = ok(dicomvault(drill.node_a, "ledger", "verify", "--key", str(drill.key_file),
                        "--checkpoint", str(drill.early), "--entry", "1"))
    assert "FAILED" not in out and out.count("OK") >= 5
    refused = dicomvault(drill.node_b, "ledger", "witness", drill.url, "--audit")
    assert refused.returncode == ALARM and "401" in refused.stderr  # entries need an account
    token = token_for(drill.archive, "partner-auditor", {Role.AUDITOR})
    witnessed = dicomvault(drill.node_b, "ledger", "witness", drill.url, "--audit",
                           DICOMVAULT_WITNESS_TOKEN=token)
    assert witnessed.returncode == 0, witnessed.stderr
    assert "consistent with size" in witnessed.stderr
    assert witnessed.stdout.count("\u2014 ") == 2  # A's signature and B's cosignature


@pytest.mark.parametrize("name", sorted(DRILLS))
def test_tampered_rows_are_caught_by_verify_and_by_the_witness(drill: Drill, name: str) -> None:
    with write_transaction(drill.archive.engine) as conn:
        DRILLS[name](conn)
    verify_fails(drill)
    if name in ("edit one entry", "reorder two entries"):
        # Rows edited in place, checkpoint unchanged: a witness that audits the entries
        # catches it (so may the consistency proof, which is built from stored leaf hashes).
        witness_alarms(drill, "--audit")
    rebuild_and_sign(drill.archive)
    verify_fails(drill)  # the rewrite is self-consistent but not an extension of 'before'
    reason = witness_alarms(drill)
    assert "rollback" in reason or "prefix" in reason or "fork" in reason


def test_a_whole_log_replaced_and_signed_by_another_key_is_caught(drill: Drill) -> None:
    impostor = LedgerKeys.generate()
    rebuild_and_sign(drill.archive, impostor)
    keys_dir = drill.node_a / "keys" / "ledger"  # the attacker swaps the key files too
    (keys_dir / "checkpoint.key").write_bytes(impostor.signing_key.private_bytes_raw())
    out = verify_fails(drill)
    assert "not signed" in out
    assert "pinned key" in witness_alarms(drill)
