"""OpenStack Swift with its S3 API (s3api middleware), a production S3 implementation from
Debian, run as a throw-away all-in-one cluster for tests.

Debian packages: ``swift swift-proxy swift-account swift-container swift-object
memcached`` (``scripts/test`` installs them). The cluster is one replica of
each ring on one device under a temporary directory, each server a
subprocess on a free loopback port (``workers = 0``), tempauth with one user
``test:tester`` / ``testing`` that s3api accepts as access key / secret, and
memcached for tempauth. Nothing is installed as a service and nothing
listens beyond the test.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from tests.support.live import free_port
from tests.support.s3 import S3Server
from tests.support.services import require

from dicomvault.errors import OutOfResourcesError

_SERVERS = ("account", "container", "object")
ACCESS_KEY = "test:tester"
SECRET_KEY = "testing"


def available() -> bool:
    return all(shutil.which(tool) for tool in (
        "swift-ring-builder", "swift-proxy-server", "swift-object-server",
        "swift-container-server", "swift-account-server", "memcached"))


def _write(path: Path, text: str) -> None:
    path.write_text(text.strip() + "\n", encoding="utf-8")


def _configure(root: Path, ports: dict[str, int], memcached: int) -> None:
    devices = root / "srv"
    (devices / "d1").mkdir(parents=True)
    _write(root / "swift.conf", """
[swift-hash]
swift_hash_path_suffix = dicomvault-test-suffix
swift_hash_path_prefix = dicomvault-test-prefix
[storage-policy:0]
name = Policy-0
default = yes
""")
    for server in _SERVERS:
        builder = str(root / f"{server}.builder")
        for args in (["create", "8", "1", "1"],
                     ["add", f"r1z1-127.0.0.1:{ports[server]}/d1", "1"],
                     ["rebalance"]):
            subprocess.run(["swift-ring-builder", builder, *args], check=True,
                           capture_output=True)
        _write(root / f"{server}-server.conf", f"""
[DEFAULT]
devices = {devices}
mount_check = false
bind_ip = 127.0.0.1
bind_port = {ports[server]}
workers = 0
swift_dir = {root}
log_level = WARNING
[pipeline:main]
pipeline = {server}-server
[app:{server}-server]
use = egg:swift#{server}
""")
    pipeline = ("catch_errors gatekeeper healthcheck cache listing_formats s3api tempauth copy "
                "slo dlo proxy-server")
    _write(root / "proxy-server.conf", f"""
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = {ports["proxy"]}
workers = 0
swift_dir = {root}
log_level = WARNING
[pipeline:main]
pipeline = {pipeline}
[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
# Swift's defaults (0.5 s to connect to a backend, 10 s for its answer) suit a dedicated
# cluster; on a loaded 2-core test machine they turned slow backends into 503s.
conn_timeout = 5
node_timeout = 60
[filter:s3api]
use = egg:swift#s3api
location = us-east-1
[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = {SECRET_KEY} .admin
[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:{memcached}
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:copy]
use = egg:swift#copy
[filter:slo]
use = egg:swift#slo
[filter:dlo]
use = egg:swift#dlo
[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
""")


def _wait_healthy(url: str, processes: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in processes):
            raise RuntimeError("a Swift server exited at start")
        try:
            with urllib.request.urlopen(url + "/healthcheck", timeout=2):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    raise RuntimeError("Swift did not start")


def _wait_for_backends(server: S3Server) -> None:
    """The proxy answers before the account/container/object servers do: wait until a
    bucket can be made and an object written to it (the object server was the last to
    come up, once, in a loaded run: the first test's PUT got 503)."""
    from botocore.exceptions import BotoCoreError, ClientError

    deadline = time.monotonic() + 60
    while True:
        try:
            client = server.connection().client()
            client.put_object(Bucket=server.bucket("readiness-probe"), Key="probe", Body=b"x")
            client.delete_object(Bucket="readiness-probe", Key="probe")
            return
        except (OutOfResourcesError, BotoCoreError, ClientError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


@contextlib.contextmanager
def swift_s3(root: Path) -> Iterator[S3Server]:
    """A Swift all-in-one cluster under ``root`` serving the S3 API; yields its endpoint."""
    require(available(), "OpenStack Swift (Debian swift-* packages) and memcached are needed")
    ports = {name: free_port() for name in (*_SERVERS, "proxy")}
    memcached = free_port()
    _configure(root, ports, memcached)
    processes = [subprocess.Popen(["memcached", "-l", "127.0.0.1", "-p", str(memcached),
                                   "-U", "0", "-u", "root"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        for server in (*_SERVERS, "proxy"):
            processes.append(subprocess.Popen(
                [f"swift-{server}-server", str(root / f"{server}-server.conf")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        url = f"http://127.0.0.1:{ports['proxy']}"
        _wait_healthy(url, processes)
        server = S3Server(url, access_key=ACCESS_KEY, secret_key=SECRET_KEY)
        _wait_for_backends(server)
        yield server
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
