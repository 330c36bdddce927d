"""The background jobs a serving node runs: replication drains the queue, scrub repairs rot."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from tests.support.archive_data import all_locations, populate
from tests.support.nodes import open_test_node

from dicomvault.backup import DatabaseReplicationQueue, ReplicationDaemon, Scrubber, ScrubDaemon
from dicomvault.daemon import DaemonRunner
from dicomvault.node import background_jobs
from dicomvault.storage import FilesystemBlobStore
from dicomvault.storage.replicated import ReplicatedBlobStore


def _eventually(condition: Callable[[], bool], timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_a_serving_node_runs_the_jobs_its_settings_ask_for(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'i.sqlite3'}"
    with open_test_node(tmp_path / "a", url, scrub_interval_hours=0) as plain:
        plain_jobs = {job.name for job in background_jobs(plain)}
        assert not plain_jobs & {"replication", "scrub"}
    with open_test_node(tmp_path / "b", url, replica=str(tmp_path / "r"),
                        replication_mode="async") as replicated:
        replicated_jobs = {job.name for job in background_jobs(replicated)}
        assert {"replication", "scrub"} <= replicated_jobs
        assert replicated_jobs - {"replication", "scrub"} == plain_jobs


def test_the_replication_job_drains_the_queue_in_the_background(tmp_path: Path) -> None:
    with open_test_node(tmp_path / "node", f"sqlite:///{tmp_path / 'i.sqlite3'}",
                        replica=str(tmp_path / "replica"), replication_mode="async") as node:
        assert isinstance(node.blobs, ReplicatedBlobStore)
        queue = DatabaseReplicationQueue(node.engine)
        with DaemonRunner([ReplicationDaemon(node.blobs, queue, 0.05)]):
            populate(node, seed=91, count=5)
            assert _eventually(lambda: queue.pending() == 0)
        names = {loc.blob_name for loc in all_locations(node)}
        assert set(node.blobs.replica.names()) == names and len(names) == 5


def test_the_scrub_job_repairs_rot_and_does_not_rescan_until_due(tmp_path: Path) -> None:
    with open_test_node(tmp_path / "node", f"sqlite:///{tmp_path / 'i.sqlite3'}",
                        replica=str(tmp_path / "replica"), replication_mode="mirror") as node:
        populate(node, seed=92, count=3)
        assert isinstance(node.blobs, ReplicatedBlobStore)
        primary = node.blobs.primary
        assert isinstance(primary, FilesystemBlobStore)
        victim = primary.path_of(all_locations(node)[0].blob_name)
        victim.write_bytes(victim.read_bytes()[:-5])
        job = ScrubDaemon(node, period_seconds=3600)
        with DaemonRunner([job]):
            assert _eventually((tmp_path / "node" / "scrub.last").exists)
        assert Scrubber(node).run().findings == []  # the job repaired it
        victim.write_bytes(victim.read_bytes()[:-5])
        job.run_once()  # the last pass was moments ago: not due, nothing read
        assert len(Scrubber(node, repair=False).run().findings) == 1
