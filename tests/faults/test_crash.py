"""kill -9 of a real server during a 1,000-instance ingest.

The server is ``dicomvault serve`` in a subprocess. Clients send the
instances in batches from two threads; the server is killed with SIGKILL
(no shutdown of any kind) twice while requests are in flight and once at
the end, and restarted in between; clients re-send what was not
acknowledged, as a modality does. Afterwards ``dicomvault fsck`` cleans
what the kills interrupted, and:

* every acknowledged instance is archived, reads back bit-exact and
  verifies (GCM tags, index hash, ledger hash);
* no blob is left that the index does not account for, nothing is staged;
* no index row is without its blob (a scrub finds nothing wrong);
* the ledger re-hashes to its stored tree.

The ingest door is a parameter: :class:`StowSender` (STOW-RS) and
:class:`CStoreSender` (DIMSE C-STORE, one pynetdicom association per batch;
the kill lands in the middle of associations).
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import httpx
import pydicom
import pytest
from pynetdicom import AE, build_context
from tests.faults.conftest import stow
from tests.support.archive_data import all_locations, contents, sop_uid
from tests.support.auth import bearer, cli_service_token
from tests.support.cli import run_cli
from tests.support.dicom_files import dataset_bytes
from tests.support.live import free_port
from tests.support.nodes import TEST_PASSPHRASE, open_test_node

from dicomvault.backup import Scrubber
from dicomvault.dicom.synthetic import generate_study_files

TOTAL = 1000
BATCH = 10
KILL_AFTER = (250, 600)  # acknowledged instances at which the server is killed
DICOM_PORT = free_port()  # the DIMSE door of every (re)started server
ENV = {"DICOMVAULT_KEYRING_PASSPHRASE": TEST_PASSPHRASE, "DICOMVAULT_SCRUB_INTERVAL_HOURS": "0",
       "DICOMVAULT_DICOM_PORT": str(DICOM_PORT)}


class Server:
    def __init__(self, process: subprocess.Popen[bytes], http_url: str, token: str) -> None:
        self.process = process
        self.http_url = http_url
        self.token = token

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)


def _start_server(data_dir: Path, token: str) -> Server:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DICOMVAULT_")}
    env.update(ENV, DICOMVAULT_DATA_DIR=str(data_dir))
    process = subprocess.Popen(
        [sys.executable, "-m", "dicomvault.cli", "serve", "--http-port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("dicomvault serve exited at start")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return Server(process, url, token)
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("dicomvault serve did not start")


class Sender(Protocol):
    """One ingest door: send a batch, return the SOP Instance UIDs the server acknowledged."""

    def send(self, server: Server, files: list[bytes]) -> list[str]: ...


class StowSender:
    def send(self, server: Server, files: list[bytes]) -> list[str]:
        response = stow(server.http_url, files, bearer(server.token))
        if response.status_code != 200:
            return []
        return [item["00081155"]["Value"][0]
                for item in response.json()["00081199"]["Value"]]


class CStoreSender:
    """One pynetdicom association per batch; acknowledged: answered 0x0000."""

    def send(self, server: Server, files: list[bytes]) -> list[str]:
        datasets = [pydicom.dcmread(io.BytesIO(data)) for data in files]
        ae = AE(ae_title="CRASH_SCU")
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 60
        assoc = ae.associate("127.0.0.1", DICOM_PORT, ae_title="DICOMVAULT", contexts=[
            build_context(uid) for uid in sorted({str(ds.SOPClassUID) for ds in datasets})])
        if not assoc.is_established:
            return []
        acknowledged = []
        try:
            for ds in datasets:
                status = assoc.send_c_store(ds)
                if status.get("Status") != 0:
                    break
                acknowledged.append(str(ds.SOPInstanceUID))
        except (RuntimeError, OSError, ValueError):
            pass  # the server died mid-association
        finally:
            if assoc.is_established:
                assoc.release()
        return acknowledged


SENDERS: dict[str, Callable[[], Sender]] = {"stow": StowSender, "c-store": CStoreSender}


class _Ingest:
    """Two client threads working through the batches; they stop when the server dies."""

    def __init__(self, sender: Sender, batches: deque[list[bytes]]) -> None:
        self.sender = sender
        self.batches = batches
        self.acknowledged: set[str] = set()
        self.lock = threading.Lock()

    def run(self, server: Server, kill_at: int | None) -> None:
        threads = [threading.Thread(target=self._work, args=(server,)) for _ in range(2)]
        for thread in threads:
            thread.start()
        while any(t.is_alive() for t in threads):
            with self.lock:
                if kill_at is not None and len(self.acknowledged) >= kill_at:
                    break
            time.sleep(0.005)
        server.kill()  # SIGKILL: with requests in flight, or (the last run) after the ingest
        for thread in threads:
            thread.join(timeout=120)

    def _work(self, server: Server) -> None:
        while True:
            with self.lock:
                if not self.batches:
                    return
                batch = self.batches.popleft()
            try:
                acked = self.sender.send(server, batch)
            except httpx.TransportError:
                acked = []
            with self.lock:
                self.acknowledged.update(acked)
                if len(acked) < len(batch):
                    self.batches.append(batch)  # re-sent after the restart, as a modality does
                    if server.process.poll() is not None:
                        return


@pytest.mark.slow
@pytest.mark.parametrize("door", sorted(SENDERS))
def test_kill_9_during_ingest_loses_nothing_acknowledged(tmp_path: Path, door: str) -> None:
    files = generate_study_files(series=10, per_series=TOTAL // 10, rows=16, columns=16, seed=7)
    originals = {sop_uid(data): data for data in files}
    data_dir = tmp_path / "node"
    ingest = _Ingest(SENDERS[door](), deque(files[i:i + BATCH]
                                            for i in range(0, TOTAL, BATCH)))
    acknowledged_at_kill = []
    token = cli_service_token(data_dir, TEST_PASSPHRASE)
    for kill_at in (*KILL_AFTER, None):
        ingest.run(_start_server(data_dir, token), kill_at)
        acknowledged_at_kill.append(len(ingest.acknowledged))
    assert acknowledged_at_kill[0] >= KILL_AFTER[0] and acknowledged_at_kill[-1] == TOTAL

    result = run_cli(data_dir, "fsck", "--grace-seconds", "0", env=ENV)
    assert result.returncode == 0, result.stderr
    print(result.stdout)  # what the kills left behind, for the record

    with open_test_node(data_dir, f"sqlite:///{(data_dir / 'index.sqlite3').resolve()}") as node:
        archived = contents(node)  # every instance read back, verified
        assert set(archived) == set(originals) >= ingest.acknowledged
        # C-STORE carries the data set alone (the archive gets the File Meta Information
        # built from the request): the data set is what must be bit-exact.
        same = (dataset_bytes if door == "c-store" else bytes)
        assert all(same(archived[uid]) == same(originals[uid]) for uid in ingest.acknowledged)
        indexed = {loc.blob_name for loc in all_locations(node)}
        assert set(node.blobs.names()) == indexed  # no orphan, no row without its blob
        assert list((data_dir / "blobs" / ".staging").iterdir()) == []
        report = Scrubber(node).run()
        assert (report.checked, report.findings, report.orphans) == (TOTAL, [], [])
        with node.engine.connect() as conn:
            assert node.audit.ledger.check_integrity(conn) >= TOTAL
