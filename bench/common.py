"""Shared benchmark machinery: starting nodes and peers, STOW bodies, statistics."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def fresh_postgres_schema(name: str) -> str:
    """Drop and recreate schema ``name``; returns a database URL that uses it."""
    import sqlalchemy as sa

    engine = sa.create_engine(POSTGRES_URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
    engine.dispose()
    return f"{POSTGRES_URL}?options=-csearch_path%3D{name}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_http(url: str, timeout: float = 60.0,
                  process: subprocess.Popen[bytes] | None = None) -> None:
    """Wait until ``url`` answers; fail early with the server's stderr if it exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
            raise RuntimeError(f"server exited with {process.returncode}: {stderr[-2000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code < 500:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


@dataclass
class RunningServer:
    base_url: str  # e.g. http://127.0.0.1:1234/dicom-web
    process: subprocess.Popen[bytes]
    data_dir: Path
    dicom_port: int
    #: What every request sends: a bearer token of a service account (every route but
    #: /healthz needs one); empty for a peer without authentication.
    headers: dict[str, str] = field(default_factory=dict)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@contextlib.contextmanager
def dicomvault_node(database_url: str | None = None, *, dimse: bool = False,
                    extra_env: dict[str, str] | None = None,
                    data_dir: Path | None = None) -> Iterator[RunningServer]:
    """A dicomvault server in a subprocess on free ports with its own data directory
    (a fresh temporary one unless ``data_dir`` is given, which is kept)."""
    with contextlib.ExitStack() as stack:
        tmp = str(data_dir) if data_dir else stack.enter_context(
            tempfile.TemporaryDirectory(prefix="dv-bench-"))
        http_port, dicom_port = free_port(), free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("DICOMVAULT_")}
        env.update({
            "DICOMVAULT_DATA_DIR": tmp,
            "DICOMVAULT_HTTP_PORT": str(http_port),
            "DICOMVAULT_DICOM_PORT": str(dicom_port),
            "DICOMVAULT_LOG_LEVEL": "WARNING",
            **(extra_env or {}),
        })
        if database_url:
            env["DICOMVAULT_DATABASE_URL"] = database_url
        command = [sys.executable, "-m", "dicomvault.cli", "serve"]
        if not dimse:
            command.append("--no-dimse")
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE)
        server = RunningServer(f"http://127.0.0.1:{http_port}/dicom-web", process, Path(tmp),
                               dicom_port)
        try:
            wait_for_http(f"http://127.0.0.1:{http_port}/healthz", process=process)
            server.headers = {"Authorization": f"Bearer {service_token(env)}"}
            yield server
        finally:
            server.stop()


def service_token(env: dict[str, str], name: str | None = None) -> str:
    """An API token of a new service account (store, search, retrieve), made with the
    real CLI on the node's data directory, as an operator provisions a modality."""

    def run(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "dicomvault.cli", *args], env=env,
                              text=True, capture_output=True, timeout=300, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"dicomvault {args[0]} {args[1]} failed: {done.stderr[-2000:]}")
        return done.stdout

    name = name or f"bench-{uuid.uuid4().hex[:8]}"  # a kept data directory has older ones
    run("users", "create", name, "--role", "service", "--service")
    return run("tokens", "create", "--user", name).strip()


ORTHANC = "/usr/sbin/Orthanc"
ORTHANC_DICOMWEB_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"


@contextlib.contextmanager
def orthanc_peer() -> Iterator[RunningServer]:
    """Orthanc (Debian package) with its own empty storage, SQLite, no compression,
    TCP_NODELAY=1 (see shared/PEERS.md)."""
    if not Path(ORTHANC).exists():
        raise RuntimeError("Orthanc is not installed: apt-get install -y orthanc orthanc-dicomweb")
    with tempfile.TemporaryDirectory(prefix="orthanc-peer-") as tmp:
        http_port, dicom_port = free_port(), free_port()
        config = {
            "Name": "PEER",
            "StorageDirectory": f"{tmp}/db",
            "IndexDirectory": f"{tmp}/db",
            "StorageCompression": False,
            "HttpPort": http_port,
            "DicomPort": dicom_port,
            "DicomAet": "ORTHANC",
            "RemoteAccessAllowed": True,
            "AuthenticationEnabled": False,
            "DicomAlwaysAllowFind": True,  # bench/dimse.py measures C-FIND latency
            "Plugins": [ORTHANC_DICOMWEB_PLUGIN],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
        }
        config_path = Path(tmp) / "orthanc.json"
        config_path.write_text(json.dumps(config))
        env = {**os.environ, "TCP_NODELAY": "1"}
        process = subprocess.Popen([ORTHANC, str(config_path)], env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        server = RunningServer(f"http://127.0.0.1:{http_port}/dicom-web", process, Path(tmp),
                               dicom_port)
        try:
            wait_for_http(f"http://127.0.0.1:{http_port}/system")
            yield server
        finally:
            server.stop()


def stow_body(files: Sequence[bytes]) -> tuple[bytes, str]:
    """A multipart/related STOW-RS body and its Content-Type."""
    boundary = uuid.uuid4().hex
    parts = []
    for data in files:
        parts.append(f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode())
        parts.append(data)
        parts.append(b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    content_type = f'multipart/related; type="application/dicom"; boundary={boundary}'
    return b"".join(parts), content_type


def server_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) a process has used so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure_in_tree(tree: Path, module: str) -> dict[str, float]:
    """Run ``python -m <module> --measure`` on the ``src`` of ``tree`` (the workload from
    this checkout); returns the JSON object its last output line prints."""
    env = {**os.environ, "PYTHONPATH": f"{tree / 'src'}{os.pathsep}{REPO}"}
    done = subprocess.run([sys.executable, "-m", module, "--measure"], env=env,
                          cwd=REPO, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"round on {tree} failed: {done.stderr[-2000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def ab_arguments(description: str, rounds: int, *, side_by_side: bool = False
                 ) -> argparse.Namespace:
    """The command line of an interleaved A/B benchmark (``--before``, ``--after``,
    ``--rounds``; ``--measure`` runs one round in this process's tree; with
    ``side_by_side``, ``--side-by-side`` too)."""
    parser = argparse.ArgumentParser(description=description)
    if side_by_side:
        parser.add_argument("--side-by-side", action="store_true",
                            help="this tree beside Orthanc and a server doing no work")
    parser.add_argument("--before", type=Path, help="a tree holding the src/ to compare with")
    parser.add_argument("--after", type=Path, default=REPO)
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


def interleaved_rounds(trees: dict[str, Path], module: str, rounds: int) -> None:
    """Alternate :func:`measure_in_tree` over ``trees`` round by round (so the machine's
    load swings spread over all of them); print each round, then the medians."""
    results: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    for number in range(rounds):
        for name, tree in trees.items():
            results[name].append(measure_in_tree(tree, module))
            print(f"  round {number + 1} {name}: "
                  + "  ".join(f"{k} {v:.2f}" for k, v in results[name][-1].items()), flush=True)
    print()
    for name, measured in results.items():
        medians = {key: statistics.median(r[key] for r in measured) for key in measured[0]}
        print(f"{name:7} " + "  ".join(f"{key} {value:.2f}" for key, value in medians.items()))


def run_ab(description: str, module: str, measure: Callable[[], dict[str, float]],
           rounds: int, side_by_side: Callable[[int], None] | None = None) -> None:
    """The ``main`` of an interleaved A/B benchmark: with ``--measure``, one round of
    ``measure`` in this tree, printed as JSON; with ``--side-by-side`` (offered if
    ``side_by_side`` is given), that function with ``--rounds``; otherwise rounds over
    ``--before`` (if given) and ``--after`` (see :func:`interleaved_rounds`)."""
    args = ab_arguments(description, rounds, side_by_side=side_by_side is not None)
    if side_by_side is not None and args.side_by_side:
        side_by_side(args.rounds)
        return
    if args.measure:
        print(json.dumps(measure()))
        return
    print_command()
    trees = {"after": args.after.resolve()}
    if args.before is not None:
        trees = {"before": args.before.resolve(), **trees}
    interleaved_rounds(trees, module, args.rounds)


def side_by_side_rounds(names: Sequence[str], rounds: int, unit: str,
                        measure_one: Callable[[str], float]) -> None:
    """``rounds`` rounds of ``measure_one(name)`` for each server in turn (so the machine's
    load swings fall on all of them), each round printed, then each server's median and
    its ratio to Orthanc's (``"orthanc"``)."""
    rates: dict[str, list[float]] = {name: [] for name in names}
    for number in range(rounds):
        for name in names:
            rates[name].append(measure_one(name))
        print(f"  round {number + 1}: "
              + "  ".join(f"{name} {values[-1]:.1f} {unit}" for name, values in rates.items())
              + f"  (load {os.getloadavg()[0]:.1f})", flush=True)
    peer = statistics.median(rates["orthanc"])
    print()
    for name, values in rates.items():
        print(f"{name:13} median {statistics.median(values):8.1f} {unit}  "
              f"x{statistics.median(values) / peer:.2f} Orthanc")


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def p95(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def print_command() -> None:
    command = [Path(sys.executable).name, "-m", "bench." + Path(sys.argv[0]).stem, *sys.argv[1:]]
    print(f"reproduce: {shlex.join(command)}")
