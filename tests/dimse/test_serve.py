"""``dicomvault serve`` starts the DIMSE door beside HTTP; ``--no-dimse`` leaves it off."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from tests.support.dimse import DCMTK_ENV, dcmtk
from tests.support.live import free_port
from tests.support.nodes import TEST_PASSPHRASE


def _serve(data_dir: Path, http_port: int, dicom_port: int,
           *extra: str, log_level: str = "WARNING") -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DICOMVAULT_")}
    env.update(DICOMVAULT_DATA_DIR=str(data_dir), DICOMVAULT_KEYRING_PASSPHRASE=TEST_PASSPHRASE,
               DICOMVAULT_SCRUB_INTERVAL_HOURS="0", DICOMVAULT_LOG_LEVEL=log_level)
    process = subprocess.Popen([sys.executable, "-m", "dicomvault.cli", "serve", "--http-port",
                                str(http_port), "--dicom-port", str(dicom_port), *extra],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        try:
            if httpx.get(f"http://127.0.0.1:{http_port}/healthz", timeout=2).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise AssertionError("dicomvault serve did not start")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(timeout=30)


def test_serve_answers_c_echo_and_no_dimse_does_not_listen(tmp_path: Path) -> None:
    echoscu = dcmtk("echoscu")
    dicom_port = free_port()
    process = _serve(tmp_path / "node", free_port(), dicom_port)
    try:
        done = subprocess.run([echoscu, "-aec", "DICOMVAULT", "127.0.0.1", str(dicom_port)],
                              env={**os.environ, **DCMTK_ENV}, capture_output=True, text=True,
                              timeout=60, check=False)
        assert done.returncode == 0, done.stderr
    finally:
        _stop(process)
    process = _serve(tmp_path / "node", free_port(), dicom_port, "--no-dimse")
    try:
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", dicom_port)) != 0  # nothing listens
    finally:
        _stop(process)


def test_sigterm_stops_the_node_before_the_process_ends(tmp_path: Path) -> None:
    """uvicorn ends the process with the signal once its own shutdown is done: the DIMSE
    door, the background jobs and the archive (blobs in flight) must stop inside it."""
    process = _serve(tmp_path / "node", free_port(), free_port(), log_level="INFO")
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert b"stopped: DIMSE door closed, background jobs ended, blobs durable" in stderr
