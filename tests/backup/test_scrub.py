"""Scrub and fsck: bit rot and lost blobs found and repaired from the replica or a backup,
recorded in the ledger; debris of interrupted writes cleaned."""

from __future__ import annotations

from pathlib import Path

from tests.support.archive_data import all_locations, contents, populate
from tests.support.nodes import open_test_node

from dicomvault.archive import Archive
from dicomvault.backup import Scrubber, fsck, open_target, run_backup
from dicomvault.backup.scrub import Problem
from dicomvault.ledger import EventType
from dicomvault.storage import FilesystemBlobStore, new_blob_name
from dicomvault.storage.replicated import ReplicatedBlobStore


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset % len(data)] ^= 0x40
    path.write_bytes(bytes(data))


def _event_types(archive: Archive) -> list[EventType]:
    ledger = archive.audit.ledger
    with archive.engine.connect() as conn:
        return [e.event.type for e in ledger.entries(conn, 0, ledger.tree_size(conn))]


def _url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'index.sqlite3'}"


def test_bit_rot_in_primary_and_replica_is_found_and_repaired_from_the_other(
        tmp_path: Path) -> None:
    with open_test_node(tmp_path / "node", _url(tmp_path), replica=str(tmp_path / "replica"),
                        replication_mode="mirror") as node:
        assert isinstance(node.blobs, ReplicatedBlobStore)
        primary, replica = node.blobs.primary, node.blobs.replica
        assert isinstance(primary, FilesystemBlobStore) and isinstance(replica, FilesystemBlobStore)
        expected = populate(node, seed=31, count=8)
        blobs = [loc.blob_name for loc in all_locations(node)]
        _flip(primary.path_of(blobs[0]), 3)            # the envelope header
        _flip(primary.path_of(blobs[1]), 2000)         # inside the ciphertext
        _flip(primary.path_of(blobs[2]), -1)           # the last segment's GCM tag
        primary.path_of(blobs[3]).unlink()             # a lost file
        primary.path_of(blobs[4]).write_bytes(b"")     # truncated to nothing
        _flip(replica.path_of(blobs[5]), 1000)         # rot on the replica side

        report = Scrubber(node).run()
        found = {(f.blob_name, f.copy): f for f in report.findings}
        assert set(found) == {(b, "primary") for b in blobs[:5]} | {(blobs[5], "replica")}
        assert found[blobs[3], "primary"].problem is Problem.MISSING
        assert all(found[b, "primary"].problem is Problem.UNREADABLE
                   for b in (blobs[0], blobs[1], blobs[2], blobs[4]))
        assert {f.repaired_from for f in report.findings} == {"replica", "primary"}
        assert report.unrepaired == [] and report.checked == 8

        again = Scrubber(node).run()
        assert again.findings == [] and again.checked == 8
        assert contents(node) == expected
        events = _event_types(node)
        assert events.count(EventType.BLOB_DAMAGED) == 6
        assert events.count(EventType.BLOB_REPAIRED) == 6


def test_rot_without_a_replica_is_repaired_from_the_latest_backup(tmp_path: Path) -> None:
    with open_test_node(tmp_path / "node", _url(tmp_path)) as node:
        expected = populate(node, seed=32, count=4)
        target = open_target(str(tmp_path / "backup"), node.settings)
        run_backup(node, target, keep=3)
        populate(node, seed=33, count=2)
        run_backup(node, target, keep=3)
        assert isinstance(node.blobs, FilesystemBlobStore)
        victim = all_locations(node)[0].blob_name
        _flip(node.blobs.path_of(victim), 500)

        unrepaired = Scrubber(node, repair=False).run()
        assert [(f.blob_name, f.repaired_from) for f in unrepaired.findings] == [(victim, None)]
        report = Scrubber(node, backup=target).run()
        assert [(f.blob_name, f.repaired_from) for f in report.findings] == [
            (victim, "backup generation 2")]
        assert Scrubber(node).run().findings == []
        assert {uid: data for uid, data in contents(node).items() if uid in expected} == expected


def test_an_index_row_whose_hash_differs_from_the_ledger_is_reported(tmp_path: Path) -> None:
    import sqlalchemy as sa

    from dicomvault.index import instances, write_transaction

    with open_test_node(tmp_path / "node", _url(tmp_path)) as node:
        populate(node, seed=34, count=2)
        victim = all_locations(node)[0]
        with write_transaction(node.engine) as conn:
            conn.execute(sa.update(instances).where(instances.c.blob_name == victim.blob_name)
                         .values(sha256="0" * 64))
        report = Scrubber(node).run()
        assert [(f.blob_name, f.problem) for f in report.findings] == [
            (victim.blob_name, Problem.LEDGER)]


def test_fsck_cleans_staged_objects_and_orphans_and_restores_lost_blobs(tmp_path: Path) -> None:
    with open_test_node(tmp_path / "node", _url(tmp_path), replica=str(tmp_path / "replica"),
                        replication_mode="mirror") as node:
        expected = populate(node, seed=35, count=4)
        assert isinstance(node.blobs, ReplicatedBlobStore)
        primary = node.blobs.primary
        assert isinstance(primary, FilesystemBlobStore)
        # What a crash leaves: a half-written staged blob, and a committed blob never indexed.
        staged = node.blobs.begin(new_blob_name())
        staged.write(b"half an upload")
        orphan = node.blobs.begin(new_blob_name())
        orphan.write(b"committed but never indexed")
        orphan.commit()
        lost = all_locations(node)[1].blob_name
        primary.path_of(lost).unlink()  # and a blob lost from the primary disk

        young = fsck(node, grace_seconds=3600)
        assert (young.staged_discarded, young.orphans_removed) == (0, 0)  # could be in flight
        assert young.restored == [lost]

        report = fsck(node, grace_seconds=0)
        assert report.staged_discarded == 2  # primary and replica halves of the staged write
        assert (report.orphans_removed, report.replica_orphans_removed) == (1, 1)
        assert report.clean and report.missing == []
        assert not node.blobs.exists(orphan.name)
        names = {loc.blob_name for loc in all_locations(node)}
        assert set(primary.names()) == names == set(node.blobs.replica.names())
        assert contents(node) == expected
