"""Replication: mirror writes both copies before acknowledging; async queues the copy in the
database, survives a restart, pauses while the replica is unreachable and catches up after."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.archive_data import CTX, all_locations, contents, populate, study_files
from tests.support.nodes import open_test_node
from tests.support.proxy import cuttable
from tests.support.s3 import S3Server, moto_s3

from dicomvault.backup import DatabaseReplicationQueue, drain
from dicomvault.errors import OutOfResourcesError
from dicomvault.storage import FilesystemBlobStore
from dicomvault.storage.replicated import ReplicatedBlobStore


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with moto_s3() as server:
        yield server


def _queue(node_blobs: object, engine: object) -> tuple[ReplicatedBlobStore,
                                                         DatabaseReplicationQueue]:
    assert isinstance(node_blobs, ReplicatedBlobStore)
    return node_blobs, DatabaseReplicationQueue(engine)  # type: ignore[arg-type]


def test_async_replication_survives_a_restart_and_applies_deletes(tmp_path: Path,
                                                                  database_url: str) -> None:
    options = {"replica": str(tmp_path / "replica"), "replication_mode": "async"}
    with open_test_node(tmp_path / "node", database_url, **options) as node:
        stored = populate(node, seed=41, count=4)
        store, queue = _queue(node.blobs, node.engine)
        assert queue.pending() == 4 and list(store.replica.names()) == []
    # The process stops before the background job ran: the queue is in the database.
    with open_test_node(tmp_path / "node", database_url, **options) as node:
        store, queue = _queue(node.blobs, node.engine)
        assert queue.pending() == 4
        report = drain(store, queue)
        assert (report.copied, report.remaining) == (4, 0)
        names = {loc.blob_name for loc in all_locations(node)}
        assert set(store.replica.names()) == names
        victim = all_locations(node)[0]
        node.delete(CTX, victim.study_instance_uid, victim.series_instance_uid,
                    victim.sop_instance_uid)
        assert drain(store, queue).deleted == 1
        assert set(store.replica.names()) == names - {victim.blob_name}
        # A primary disk loss loses nothing: reads fall back to the replica.
        assert isinstance(store.primary, FilesystemBlobStore)
        for name in names - {victim.blob_name}:
            store.primary.path_of(name).unlink()
        assert contents(node) == {k: v for k, v in stored.items()
                                  if k != victim.sop_instance_uid}


def test_async_replication_waits_for_an_unreachable_replica(tmp_path: Path,
                                                            s3: S3Server) -> None:
    bucket = s3.bucket("replica-async")
    port = int(s3.endpoint_url.rsplit(":", 1)[1])
    with cuttable("127.0.0.1", port) as proxy:
        settings = {**s3.settings(), "s3_endpoint_url": f"http://127.0.0.1:{proxy.port}",
                    "s3_max_attempts": 1}
        with open_test_node(tmp_path / "node", f"sqlite:///{tmp_path / 'i.sqlite3'}",
                            replica=f"s3://{bucket}/r", replication_mode="async",
                            **settings) as node:
            store, queue = _queue(node.blobs, node.engine)
            proxy.cut()
            populate(node, seed=42, count=3)  # acknowledged: primary + durable queue entry
            paused = drain(store, queue)
            assert (paused.copied, paused.remaining) == (0, 3)
            proxy.restore()
            resumed = drain(store, queue)
            assert (resumed.copied, resumed.remaining) == (3, 0)
            assert set(store.replica.names()) == {loc.blob_name for loc in all_locations(node)}


def test_mirror_acknowledges_nothing_the_replica_did_not_take(tmp_path: Path,
                                                             s3: S3Server) -> None:
    bucket = s3.bucket("replica-mirror")
    port = int(s3.endpoint_url.rsplit(":", 1)[1])
    files = list(study_files(seed=43, count=2).values())
    with cuttable("127.0.0.1", port) as proxy:
        settings = {**s3.settings(), "s3_endpoint_url": f"http://127.0.0.1:{proxy.port}",
                    "s3_max_attempts": 1}
        with open_test_node(tmp_path / "node", f"sqlite:///{tmp_path / 'i.sqlite3'}",
                            replica=f"s3://{bucket}/m", replication_mode="mirror",
                            **settings) as node:
            store, _ = _queue(node.blobs, node.engine)
            proxy.cut()
            with pytest.raises(OutOfResourcesError, match="unreachable"):
                node.store_bytes(files[0], CTX)
            assert all_locations(node) == [] and list(store.primary.names()) == []
            proxy.restore()  # the fault clears: stores work again, without a restart
            node.store_bytes(files[1], CTX)
            names = {loc.blob_name for loc in all_locations(node)}
            assert set(store.primary.names()) == set(store.replica.names()) == names
