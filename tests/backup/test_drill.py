"""The disaster-recovery drill: populate, back up, ingest more, back up again, destroy
the node, restore into a new data directory, verify every instance bit-exact and the
ledger consistent (with the checkpoint a partner witnessed)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.support.archive_data import CTX, all_locations, contents, populate
from tests.support.nodes import TEST_PASSPHRASE, open_test_node

from dicomvault.archive import Archive
from dicomvault.backup import WitnessedCheckpoint, open_target, restore, run_backup
from dicomvault.backup.verify import verify_backup
from dicomvault.config import load_settings
from dicomvault.errors import IntegrityError, InvalidInputError
from dicomvault.index import create_engine_for, upgrade_database, write_transaction
from dicomvault.keys.recovery import collect, open_recovery, seal_recovery
from dicomvault.ledger import EventType, Ledger, LedgerKeys
from dicomvault.node import open_archive

RECOVERY_PASSPHRASE = "correct horse battery staple"
NEW_NODE_PASSPHRASE = "the new node's own passphrase"


def _wipe_database(url: str) -> None:
    """Destroy the index database (drop every table): the node is gone."""
    engine = create_engine_for(url)
    try:
        meta = sa.MetaData()
        meta.reflect(engine)
        with engine.begin() as conn:
            meta.drop_all(conn)
    finally:
        engine.dispose()


def _witness(node: Archive, tmp_path: Path) -> tuple[str, str]:
    """A partner node cosigns this node's current checkpoint; (cosigned note, witness key)."""
    with write_transaction(node.engine) as conn:
        note = node.audit.ledger.sign_checkpoint(conn)
    engine = create_engine_for(f"sqlite:///{tmp_path / 'partner.sqlite3'}")
    upgrade_database(engine)
    partner = Ledger(LedgerKeys.generate(), origin="partner.example/ledger")
    try:
        with write_transaction(engine) as conn:
            result = partner.witness(conn, note, node.audit.ledger.verifier_key, [])
    finally:
        engine.dispose()
    assert result.accepted and result.cosigned_note is not None
    return result.cosigned_note, partner.witness_verifier_key.encode()


def _ledger_events(archive: Archive) -> list[EventType]:
    with archive.engine.connect() as conn:
        size = archive.audit.ledger.tree_size(conn)
        return [e.event.type for e in archive.audit.ledger.entries(conn, 0, size)]


def test_disaster_recovery_drill(tmp_path: Path, database_url: str) -> None:
    target_dir = tmp_path / "offsite-backup"
    with open_test_node(tmp_path / "node", database_url) as node:
        target = open_target(str(target_dir), node.settings)
        originals = populate(node, seed=1)
        first = run_backup(node, target, keep=7)
        witnessed, witness_key = _witness(node, tmp_path)
        more = populate(node, seed=2)
        deleted = next(iter(originals))
        node.delete(CTX, *_address(node, deleted))
        second = run_backup(node, target, keep=7)
        recovery = seal_recovery(collect(node.settings, node.keys), RECOVERY_PASSPHRASE)
        expected = contents(node)
        assert verify_backup(node, target).ok
    assert first.generation == 1 and first.copied == len(originals)
    assert second.generation == 2 and second.copied == len(more)  # incremental
    assert second.tree_size > first.tree_size
    assert set(expected) == (set(originals) | set(more)) - {deleted}

    shutil.rmtree(tmp_path / "node")  # the fire in the server room
    _wipe_database(database_url)

    settings = load_settings(data_dir=tmp_path / "new-node", database_url=database_url,
                             keyring_passphrase=NEW_NODE_PASSPHRASE)
    report = restore(settings, open_target(str(target_dir), settings),
                     keys=open_recovery(recovery, RECOVERY_PASSPHRASE + "\n"),
                     witnessed=WitnessedCheckpoint(witnessed, witness_key))
    assert report.generation == 2
    assert report.instances == len(expected)
    assert report.witnessed_size is not None

    restored, _ = open_archive(settings)
    try:
        assert contents(restored) == expected  # bit-exact
        with restored.engine.connect() as conn:
            size = restored.audit.ledger.check_integrity(conn)
        assert size == second.tree_size + 1  # the snapshot's ledger, then restore_done
        events = _ledger_events(restored)
        assert events[-1] is EventType.RESTORE_DONE
        assert EventType.BACKUP_MADE in events  # the first backup, in the second snapshot
        # The restored node goes on: it stores, and backs up on top of the old generations.
        populate(restored, seed=3)
        third = run_backup(restored, open_target(str(target_dir), settings), keep=2)
        assert third.generation == 3 and third.pruned_generations == (1,)
        assert verify_backup(restored, open_target(str(target_dir), settings)).ok
    finally:
        restored.close()


def _address(archive: Archive, sop_uid: str) -> tuple[str, str, str]:
    location = next(loc for loc in all_locations(archive) if loc.sop_instance_uid == sop_uid)
    return location.study_instance_uid, location.series_instance_uid, sop_uid


def test_restore_refuses_a_backup_older_than_what_a_witness_saw(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'index.sqlite3'}"
    with open_test_node(tmp_path / "node", url) as node:
        target = open_target(str(tmp_path / "backup"), node.settings)
        populate(node, seed=4)
        run_backup(node, target, keep=3)
        populate(node, seed=5)  # stored after the last backup, then the fire
        witnessed, witness_key = _witness(node, tmp_path)
        recovery = seal_recovery(collect(node.settings, node.keys), RECOVERY_PASSPHRASE)

    def attempt(path: str, allow: bool) -> int | None:
        settings = load_settings(data_dir=tmp_path / path,
                                 database_url=f"sqlite:///{tmp_path / path}.sqlite3",
                                 keyring_passphrase=TEST_PASSPHRASE)
        return restore(settings, open_target(str(tmp_path / "backup"), settings),
                       keys=open_recovery(recovery, RECOVERY_PASSPHRASE),
                       witnessed=WitnessedCheckpoint(witnessed, witness_key),
                       allow_ledger_rollback=allow).witnessed_size

    with pytest.raises(IntegrityError, match="entries after the backup are lost"):
        attempt("refused", allow=False)
    assert attempt("accepted", allow=True) is not None


def test_restore_needs_an_empty_node_and_the_right_passphrase(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'index.sqlite3'}"
    with open_test_node(tmp_path / "node", url) as node:
        target = open_target(str(tmp_path / "backup"), node.settings)
        populate(node, seed=6, count=2)
        run_backup(node, target, keep=3)
        recovery = seal_recovery(collect(node.settings, node.keys), RECOVERY_PASSPHRASE)
        with pytest.raises(InvalidInputError, match="empty node"):
            restore(node.settings, target)
    with pytest.raises(InvalidInputError, match="passphrase is wrong"):
        open_recovery(recovery, "not the recovery passphrase")
    with pytest.raises(InvalidInputError, match="at least 12"):
        seal_recovery(open_recovery(recovery, RECOVERY_PASSPHRASE), "short")
