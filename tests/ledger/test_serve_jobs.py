"""``dicomvault serve`` runs the ledger's background jobs: checkpoints at an interval and the
ATNA forwarder to a syslog collector (a real server subprocess, a UDP collector the test runs)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydicom.data import get_testdata_file
from tests.support.auth import bearer, cli_service_token
from tests.support.live import free_port, http_status, wait_until
from tests.support.multipart import stow_body
from tests.support.nodes import TEST_PASSPHRASE

from dicomvault.ledger.checkpoint import verify_checkpoint


@pytest.fixture
def collector() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    yield sock
    sock.close()


@pytest.fixture
def token(tmp_path: Path) -> str:
    return cli_service_token(tmp_path / "node", TEST_PASSPHRASE)


@pytest.fixture
def server(tmp_path: Path, collector: socket.socket, token: str) -> Iterator[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DICOMVAULT_")}
    env.update(DICOMVAULT_DATA_DIR=str(tmp_path / "node"), DICOMVAULT_HTTP_PORT=str(port),
               DICOMVAULT_KEYRING_PASSPHRASE=TEST_PASSPHRASE, DICOMVAULT_LOG_LEVEL="WARNING",
               DICOMVAULT_LEDGER_CHECKPOINT_INTERVAL_SECONDS="0.3",
               DICOMVAULT_AUDIT_SYSLOG_URL=f"udp://127.0.0.1:{collector.getsockname()[1]}",
               DICOMVAULT_AUDIT_SYSLOG_INTERVAL_SECONDS="0.3")
    process = subprocess.Popen([sys.executable, "-m", "dicomvault.cli", "serve", "--no-dimse"],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: http_status(f"{url}/healthz") == 200, "server start")
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()




def _checkpoint_size(url: str) -> int:
    response = httpx.get(f"{url}/api/ledger/checkpoint", timeout=10)
    if response.status_code != 200:
        return -1
    key = httpx.get(f"{url}/api/ledger/public-key", timeout=10).json()["log_key"]
    return verify_checkpoint(response.text, key).size


def test_serve_signs_checkpoints_and_forwards_audit_messages(
    server: str, collector: socket.socket, token: str
) -> None:
    wait_until(lambda: _checkpoint_size(server) >= 1, "first checkpoint")  # settings_changed
    body, content_type = stow_body([Path(str(get_testdata_file("CT_small.dcm"))).read_bytes()])
    stored = httpx.post(f"{server}/dicom-web/studies", content=body,
                        headers={"Content-Type": content_type, **bearer(token)}, timeout=60)
    assert stored.status_code == 200
    wait_until(lambda: _checkpoint_size(server) >= 2, "checkpoint covering the store")
    received: list[bytes] = []

    def got_the_store() -> bool:
        with contextlib.suppress(TimeoutError):
            received.append(collector.recv(65535))
        return any(b"110104" in message for message in received)

    # Earlier events (settings, the service account made by the CLI) come first.
    wait_until(got_the_store, "the audit message of the store")
    stored_message = next(message for message in received if b"110104" in message)
    assert b"IHE+RFC-3881" in stored_message  # DICOM Instances Transferred, as ATNA XML
    assert all(message.startswith(b"<") and b" dicomvault " in message for message in received)
