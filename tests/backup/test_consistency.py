"""Snapshots are consistent while ingest runs, and portable between SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from tests.support.archive_data import CTX, contents, populate, study_files
from tests.support.nodes import open_test_node

from dicomvault.archive import Archive
from dicomvault.backup import open_target, restore, run_backup
from dicomvault.config import load_settings
from dicomvault.keys.recovery import collect
from dicomvault.ledger import EventType
from dicomvault.node import open_archive


def _stored_events(archive: Archive) -> int:
    ledger = archive.audit.ledger
    with archive.engine.connect() as conn:
        entries = ledger.entries(conn, 0, ledger.tree_size(conn))
    return sum(1 for e in entries if e.event.type is EventType.INSTANCE_STORED)


def test_backups_taken_while_ingest_runs_restore_consistent_states(tmp_path: Path,
                                                                  database_url: str) -> None:
    files = study_files(seed=81, count=30)
    target_dir = tmp_path / "backup"
    with open_test_node(tmp_path / "node", database_url) as node:
        target = open_target(str(target_dir), node.settings)

        def ingest() -> None:
            for data in files.values():
                node.store_bytes(data, CTX)

        writer = threading.Thread(target=ingest)
        writer.start()
        reports = []
        while writer.is_alive():
            reports.append(run_backup(node, target, keep=100))
        writer.join()
        reports.append(run_backup(node, target, keep=100))
        # The keys are exported after the backups, as docs/backup.md asks: the study KEKs
        # and each snapshot's KEK exist only from the moment they are first used.
        keys = collect(node.settings, node.keys)
    assert reports[-1].instances == len(files)
    for report in reports:
        name = f"restored-{report.generation}"
        settings = load_settings(data_dir=tmp_path / name, keyring_passphrase="p" * 12,
                                 database_url=f"sqlite:///{tmp_path / name}.sqlite3")
        restored_report = restore(settings, open_target(str(target_dir), settings),
                                  generation=report.generation, keys=keys)
        restored, _ = open_archive(settings)
        try:
            archived = contents(restored)
            # The index and the ledger come from the same instant: every stored event has
            # its row and every row its event; every row has its blob, bit-exact.
            assert len(archived) == report.instances == restored_report.instances
            assert _stored_events(restored) == report.instances
            assert all(files[uid] == data for uid, data in archived.items())
        finally:
            restored.close()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_sqlite_backup_restores_onto_postgresql(tmp_path: Path, database_url: str) -> None:
    with open_test_node(tmp_path / "node", f"sqlite:///{tmp_path / 'i.sqlite3'}") as node:
        populate(node, seed=82, count=5)
        target = open_target(str(tmp_path / "backup"), node.settings)
        run_backup(node, target, keep=3)
        populate(node, seed=83, count=2)  # ids grow past the restored ones later, too
        run_backup(node, target, keep=3)
        expected = contents(node)
        keys = collect(node.settings, node.keys)
    settings = load_settings(data_dir=tmp_path / "pg-node", database_url=database_url,
                             keyring_passphrase="q" * 12)
    assert restore(settings, open_target(str(tmp_path / "backup"), settings),
                   keys=keys).instances == 7
    restored, _ = open_archive(settings)
    try:
        assert contents(restored) == expected
        more = populate(restored, seed=84, count=2)  # sequences were moved past restored keys
        assert set(contents(restored)) == set(expected) | set(more)
        with restored.engine.connect() as conn:
            restored.audit.ledger.check_integrity(conn)
    finally:
        restored.close()
