"""A real S3-protocol server for tests: moto's standalone server in a subprocess.

moto's server speaks the S3 REST protocol over HTTP (path-style addressing,
multipart uploads, listing); boto3 talks to it exactly as to any S3 service.
"""

from __future__ import annotations

import contextlib
import importlib.util
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

from tests.support.live import free_port
from tests.support.services import require

from dicomvault.storage.s3 import S3Connection, S3Objects


@dataclass(frozen=True)
class S3Server:
    """An S3 endpoint a test started, and the credentials it accepts."""

    endpoint_url: str
    access_key: str = "test"
    secret_key: str = "test"  # moto accepts any credentials

    def connection(self, max_attempts: int = 3) -> S3Connection:
        return S3Connection(endpoint_url=self.endpoint_url, region="us-east-1",
                            access_key_id=self.access_key, secret_access_key=self.secret_key,
                            max_attempts=max_attempts, connect_timeout=2, read_timeout=30)

    def settings(self) -> dict[str, object]:
        """The node settings that point at this server."""
        return {"s3_endpoint_url": self.endpoint_url, "s3_region": "us-east-1",
                "s3_access_key_id": self.access_key, "s3_secret_access_key": self.secret_key,
                "s3_max_attempts": 3}

    def bucket(self, name: str) -> str:
        S3Objects(self.connection(), name).ensure_bucket()
        return name


def _wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("moto server exited at start")
        try:
            with urllib.request.urlopen(url + "/moto-api/", timeout=2):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    raise RuntimeError("moto server did not start")


@contextlib.contextmanager
def moto_s3(port: int | None = None) -> Iterator[S3Server]:
    """Run ``python -m moto.server`` on a free loopback port; yields its endpoint."""
    require(importlib.util.find_spec("moto") is not None, "moto[server] is not installed")
    port = port or free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_until_up(url, process)
        yield S3Server(url)
    finally:
        process.terminate()
        process.wait(timeout=20)
