"""Backup generations: incremental copies, retention, and verify catching every kind of damage;
the same on an S3 target (moto's S3 server)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.archive_data import contents, populate
from tests.support.nodes import open_test_node
from tests.support.s3 import S3Server, moto_s3
from tests.support.swift import swift_s3

from dicomvault.archive import Archive
from dicomvault.backup import open_target, restore, run_backup, verify_backup
from dicomvault.backup.common import node_ledger_keys
from dicomvault.backup.manifest import open_manifest
from dicomvault.backup.target import DirectoryTarget, manifest_name
from dicomvault.config import Settings, load_settings
from dicomvault.errors import IntegrityError
from dicomvault.keys.recovery import collect
from dicomvault.node import open_archive
from dicomvault.storage import FilesystemBlobStore


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Archive]:
    with open_test_node(tmp_path / "node", f"sqlite:///{tmp_path / 'index.sqlite3'}") as archive:
        yield archive


def test_generations_are_incremental_and_retention_drops_what_no_one_lists(
        node: Archive, tmp_path: Path) -> None:
    target = open_target(str(tmp_path / "backup"), node.settings)
    populate(node, seed=21, count=4)
    reports = [run_backup(node, target, keep=2)]
    reports.append(run_backup(node, target, keep=2))  # nothing new: nothing copied
    populate(node, seed=22, count=3)
    reports.append(run_backup(node, target, keep=2))
    assert [r.copied for r in reports] == [4, 0, 3]
    assert [r.objects for r in reports] == [4, 4, 7]
    assert target.generations() == [2, 3]
    assert reports[2].pruned_generations == (1,)
    # Generation 1's snapshot is gone; the blobs generations 2 and 3 list are all kept.
    assert reports[2].pruned_objects == 1
    assert len(list(target.blobs.names())) == 7 + 2
    report = verify_backup(node, target)
    assert report.ok, report.problems
    assert report.objects_checked == 7


def _flip_byte(path: Path, offset: int = 40) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_verify_finds_a_damaged_blob_a_missing_blob_and_a_forged_manifest(
        node: Archive, tmp_path: Path) -> None:
    target = open_target(str(tmp_path / "backup"), node.settings)
    assert isinstance(target, DirectoryTarget)
    populate(node, seed=23, count=4)
    report = run_backup(node, target, keep=3)
    names = sorted(contents(node))
    assert report.objects == len(names)
    blob_files = sorted(p for p in (tmp_path / "backup" / "blobs").rglob("*")
                        if p.is_file() and ".staging" not in p.parts)
    manifest = target.read_manifest(1)
    listed = open_manifest(manifest, node.settings.ledger_origin, node_ledger_keys(node)).objects
    first, second = listed[0].name, listed[1].name
    assert isinstance(target.blobs, FilesystemBlobStore)
    _flip_byte(target.blobs.path_of(first))
    target.blobs.path_of(second).unlink()
    problems = verify_backup(node, target).problems
    assert any(first in p and "does not match" in p for p in problems)
    assert any(second in p and "missing" in p for p in problems)
    assert len(blob_files) == len(names) + 1

    forged = manifest.replace('"generation":1', '"generation":7')
    (tmp_path / "backup" / "generations" / manifest_name(1)).write_text(forged)
    problems = verify_backup(node, target).problems
    assert problems == ["generation 1: backup manifest signature does not verify under this "
                        "node's key: note is not signed by key "
                        f"{node.settings.ledger_origin}/backup"]


def test_a_damaged_snapshot_is_refused_by_verify_and_restore(node: Archive,
                                                               tmp_path: Path) -> None:
    target = open_target(str(tmp_path / "backup"), node.settings)
    populate(node, seed=24, count=2)
    report = run_backup(node, target, keep=3)
    assert isinstance(target, DirectoryTarget)
    snapshot = next(p for p in (tmp_path / "backup" / "blobs").rglob("*") if p.is_file()
                    and p.name not in contents_blob_names(node))
    _flip_byte(snapshot, offset=100)
    problems = verify_backup(node, target).problems
    assert len(problems) == 1 and "snapshot" in problems[0]
    settings = load_settings(data_dir=tmp_path / "new", keyring_passphrase="x" * 12,
                             database_url=f"sqlite:///{tmp_path / 'new.sqlite3'}")
    with pytest.raises(IntegrityError):
        restore(settings, target, keys=collect(node.settings, node.keys))
    assert report.generation == 1


def contents_blob_names(archive: Archive) -> set[str]:
    from tests.support.archive_data import all_locations

    return {loc.blob_name for loc in all_locations(archive)}


@pytest.mark.parametrize("server", ["moto", "swift"])
def test_backup_to_s3_and_restore_from_it(node: Archive, tmp_path: Path, server: str) -> None:
    with moto_s3() if server == "moto" else swift_s3(tmp_path / "swift") as s3:
        _backup_and_restore_through_s3(node, tmp_path, s3)


def _backup_and_restore_through_s3(node: Archive, tmp_path: Path, s3: S3Server) -> None:
    url = f"s3://{s3.bucket('offsite')}/hospital/pacs1"
    settings = Settings.model_validate({**node.settings.model_dump(), **s3.settings()})
    populate(node, seed=25, count=4)
    first = run_backup(node, open_target(url, settings), keep=3)
    populate(node, seed=26, count=2)
    second = run_backup(node, open_target(url, settings), keep=3)
    assert (first.copied, second.copied) == (4, 2)
    assert verify_backup(node, open_target(url, settings)).ok
    expected = contents(node)
    new = load_settings(data_dir=tmp_path / "restored", keyring_passphrase="y" * 12,
                        database_url=f"sqlite:///{tmp_path / 'restored.sqlite3'}",
                        **s3.settings())
    report = restore(new, open_target(url, new), keys=collect(node.settings, node.keys))
    assert report.instances == len(expected) == 6
    restored, _ = open_archive(new)
    try:
        assert contents(restored) == expected
    finally:
        restored.close()


def test_an_empty_node_backs_up_and_verifies(node: Archive, tmp_path: Path) -> None:
    target = open_target(str(tmp_path / "backup"), node.settings)
    report = run_backup(node, target, keep=3)
    assert (report.generation, report.instances, report.objects) == (1, 0, 0)
    assert verify_backup(node, target).ok


def test_a_rotten_blob_is_never_backed_up(node: Archive, tmp_path: Path) -> None:
    from tests.support.archive_data import all_locations

    populate(node, seed=27, count=3)
    assert isinstance(node.blobs, FilesystemBlobStore)
    victim = all_locations(node)[1].blob_name
    _flip_byte(node.blobs.path_of(victim), offset=300)
    target = open_target(str(tmp_path / "backup"), node.settings)
    with pytest.raises(IntegrityError, match=f"blob {victim} is missing or damaged"):
        run_backup(node, target, keep=3)
    assert target.generations() == []
    assert not target.blobs.exists(victim)
