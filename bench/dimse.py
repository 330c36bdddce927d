"""DIMSE C-STORE throughput and C-FIND latency, side by side with Orthanc.

What it measures (issue 3, "How fast"): dcmtk's ``storescu`` (TCP_NODELAY=1)
sending the same 500 synthetic 512x512 16-bit CT instances (~0.5 MB each)

* over one association, and
* over four parallel associations (four storescu processes, 125 files each),

to a fresh dicomvault node (``dicomvault serve``: SQLite, encryption, index and
ledger, each instance durable before its success status) and to a fresh
Orthanc 1.10 (SQLite, no compression, TCP_NODELAY=1), in the same run on the
same files; then C-FIND latency at STUDY level (one pynetdicom association,
median and p95 of 50 queries). Prints instances/s, MB/s and the ratios
dicomvault/Orthanc the issue's targets are stated in (>= 1.5 over one
association, >= 2 over four). Every figure is the median of ``--runs`` runs.

For dicomvault it also prints the server's CPU time per stored instance
(``/proc/<pid>/stat``, all threads), the figure that moves least with the load
of a shared machine. ``--before TREE`` runs an interleaved A/B instead: each
round a fresh node from TREE's ``src`` and one from this checkout's, in turn,
medians of the rounds (like ``bench/compare.py`` for the HTTP doors).

    python -m bench.dimse
    python -m bench.dimse --runs 1 --instances 200 --skip-orthanc
    mkdir /tmp/before && git archive main src | tar -x -C /tmp/before
    python -m bench.dimse --before /tmp/before --rounds 3 --instances 300

``--floor`` measures instead what no pynetdicom-based door can beat here: a
pynetdicom SCP that keeps nothing (``bench/bare_scp.py``, with and without the
reactor bells of ``dicomvault.dimse.reactor``), Orthanc on the same files,
and the disk's price of one durable instance (blob write and fsync, its hash,
a commit's fsync); from these, the ratios to Orthanc that a door doing no
work at all would reach, and the highest rate one association could reach
with only the durable steps added.

    python -m bench.dimse --floor --runs 3
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind

from bench.common import (
    REPO,
    RunningServer,
    dicomvault_node,
    free_port,
    median,
    orthanc_peer,
    p95,
    print_command,
    server_cpu,
)
from bench.ingest import make_dataset
from dicomvault.dimse.session import set_no_delay

STORESCU = "/usr/bin/storescu"
ENV = {**os.environ, "TCP_NODELAY": "1"}


def _storescu(port: int, ae_title: str, directory: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([STORESCU, "+sd", "-aec", ae_title, "127.0.0.1", str(port),
                             str(directory)], env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def _send(port: int, ae_title: str, directories: list[Path]) -> float:
    """Seconds for storescu processes (one per directory, in parallel) to send everything."""
    start = time.perf_counter()
    processes = [_storescu(port, ae_title, d) for d in directories]
    for process in processes:
        _, stderr = process.communicate(timeout=1800)
        if process.returncode != 0:
            raise RuntimeError(f"storescu failed: {stderr.decode(errors='replace')[-1000:]}")
    return time.perf_counter() - start


def _wait_for_dimse(port: int, ae_title: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done = subprocess.run(["/usr/bin/echoscu", "-aec", ae_title, "127.0.0.1", str(port)],
                              env=ENV, capture_output=True, check=False)
        if done.returncode == 0:
            return
        time.sleep(0.2)
    raise RuntimeError("the DIMSE port did not answer C-ECHO")


def _find_latency(port: int, ae_title: str, queries: int = 50) -> list[float]:
    ae = AE(ae_title="BENCHFIND")
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    # Our side of the connection without Nagle too, or each response waits ~40 ms.
    assoc = ae.associate("127.0.0.1", port, ae_title=ae_title,
                         evt_handlers=[(evt.EVT_CONN_OPEN, lambda e: set_no_delay(e.assoc))])
    if not assoc.is_established:
        raise RuntimeError("C-FIND association refused")
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.PatientID = "BENCH00*"
    query.StudyInstanceUID = ""
    query.PatientName = ""
    timings = []
    try:
        for _ in range(queries):
            start = time.perf_counter()
            responses = list(assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind))
            timings.append(time.perf_counter() - start)
            if int(responses[-1][0].Status) != 0 or len(responses) < 2:
                raise RuntimeError("C-FIND found nothing")
    finally:
        assoc.release()
    return timings


Peer = Callable[[], AbstractContextManager[RunningServer]]


def _measure(name: str, peer: Peer, ae_title: str, one: list[Path], four: list[Path],
             megabytes: float, count: int, runs: int, *, find: bool = True
             ) -> dict[str, float]:
    rates: dict[str, list[float]] = {"1": [], "4": []}
    cpu: dict[str, list[float]] = {"1": [], "4": []}
    finds: list[float] = []
    for _ in range(runs):
        for label, directories in (("1", one), ("4", four)):
            with peer() as server:
                _wait_for_dimse(server.dicom_port, ae_title)
                start = server_cpu(server.process.pid)
                seconds = _send(server.dicom_port, ae_title, directories)
                cpu[label].append((server_cpu(server.process.pid) - start) / count * 1000)
                rates[label].append(count / seconds)
                if label == "1" and find:
                    finds.extend(_find_latency(server.dicom_port, ae_title))
    result = {label: median(rates[label]) for label in rates}
    result.update({f"cpu{label}": median(cpu[label]) for label in cpu})
    per_mb = megabytes / count
    for label in ("1", "4"):
        print(f"{name:<24} C-STORE {label} association(s): {result[label]:7.1f} inst/s "
              f"{result[label] * per_mb:7.1f} MB/s  server CPU {result['cpu' + label]:5.2f} ms"
              " an instance")
    if finds:
        result["find_ms"] = median(finds) * 1000
        print(f"{name:<24} C-FIND STUDY latency: median {median(finds) * 1000:.1f} ms, "
              f"p95 {p95(finds) * 1000:.1f} ms")
    return result


@contextlib.contextmanager
def _bare_scp(bells: bool) -> Iterator[RunningServer]:
    """:mod:`bench.bare_scp` in a subprocess: pynetdicom receiving and keeping nothing."""
    port = free_port()
    command = [sys.executable, "-m", "bench.bare_scp", "--port", str(port)]
    process = subprocess.Popen([*command, *(["--bells"] if bells else [])], cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    server = RunningServer("", process, REPO, port)
    try:
        yield server
    finally:
        server.stop()


def _durable_floor(megabytes_each: float, repeat: int = 50) -> dict[str, float]:
    """Milliseconds, medians on this disk, of what a durable encrypted store of one
    instance cannot skip: the sealed blob written and fsynced (its directory too), its
    SHA-256, and one small fsynced append (a database commit)."""
    data = os.urandom(int(megabytes_each * 1e6))
    timings: dict[str, list[float]] = {"blob write + fsync + dir fsync": [], "SHA-256": [],
                                       "commit fsync": []}
    with tempfile.TemporaryDirectory(prefix="dv-bench-floor-") as tmp:
        directory = os.open(tmp, os.O_RDONLY)
        log = os.open(Path(tmp) / "log", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            for index in range(repeat):
                start = time.perf_counter()
                with (Path(tmp) / f"{index}").open("wb") as blob:
                    blob.write(data)
                    blob.flush()
                    os.fsync(blob.fileno())
                os.fsync(directory)
                timings["blob write + fsync + dir fsync"].append(time.perf_counter() - start)
                start = time.perf_counter()
                hashlib.sha256(data).digest()
                timings["SHA-256"].append(time.perf_counter() - start)
                start = time.perf_counter()
                os.write(log, b"x" * 4096)
                os.fsync(log)
                timings["commit fsync"].append(time.perf_counter() - start)
        finally:
            os.close(directory)
            os.close(log)
    return {name: median(values) * 1000 for name, values in timings.items()}


def _floor(one: list[Path], four: list[Path], megabytes: float, count: int,
           runs: int) -> None:
    """What pynetdicom alone and the disk alone allow, next to Orthanc on the same files."""
    bare = {}
    for bells in (False, True):
        name = f"bare pynetdicom{' + bells' if bells else ''}"
        bare[bells] = _measure(name, functools.partial(_bare_scp, bells), "BARE", one, four,
                               megabytes, count, runs, find=False)
    orthanc = _measure("Orthanc 1.10", orthanc_peer, "ORTHANC", one, four, megabytes, count,
                       runs, find=False)
    floor = _durable_floor(megabytes / count)
    for name, ms in floor.items():
        print(f"durable store floor: {name:<32} {ms:6.2f} ms an instance")
    per_instance = 1000 / bare[True]["1"] + sum(floor.values())
    for label, target in (("1", 1.5), ("4", 2.0)):
        print(f"{label} association(s): a pynetdicom SCP that keeps nothing reaches "
              f"{bare[True][label] / orthanc[label]:.2f} x Orthanc (target {target})")
    print(f"1 association, that SCP plus the durable floor alone: at most "
          f"{1000 / per_instance:.0f} inst/s = {1000 / per_instance / orthanc['1']:.2f} x Orthanc"
          " (target 1.5)")


def _files(root: Path, instances: int) -> tuple[list[Path], list[Path], float, int]:
    """The benchmark's files: all in one directory, and dealt out over four."""
    data = make_dataset(instances)
    one = [root / "all"]
    four = [root / f"part{i}" for i in range(4)]
    for directory in (*one, *four):
        directory.mkdir()
    for index, blob in enumerate(data.files):
        (one[0] / f"{index:05d}.dcm").write_bytes(blob)
        (four[index % 4] / f"{index:05d}.dcm").write_bytes(blob)
    return one, four, data.megabytes, len(data.files)


def _round(tree: Path, instances: int) -> dict[str, float]:
    """One run on a fresh node from ``tree``'s src, in a subprocess importing it."""
    env = {**os.environ, "PYTHONPATH": f"{tree / 'src'}{os.pathsep}{REPO}"}
    done = subprocess.run([sys.executable, "-m", "bench.dimse", "--measure", "--skip-orthanc",
                           "--instances", str(instances)], env=env, cwd=REPO,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"round on {tree} failed: {done.stderr[-2000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _compare(before: Path, after: Path, rounds: int, instances: int) -> None:
    trees = {"before": before.resolve(), "after": after.resolve()}
    results: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    for number in range(rounds):
        for name, tree in trees.items():
            results[name].append(_round(tree, instances))
            print(f"  round {number + 1} {name}: {results[name][-1]}", flush=True)
    print()
    for name, runs in results.items():
        medians = {key: median([run[key] for run in runs]) for key in runs[0]}
        print(f"{name:7} inst/s 1 assoc {medians['1']:.1f}, 4 assoc {medians['4']:.1f}; "
              f"server CPU ms/instance 1 assoc {medians['cpu1']:.2f}, 4 assoc "
              f"{medians['cpu4']:.2f}; C-FIND median {medians['find_ms']:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=500)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--skip-orthanc", action="store_true")
    parser.add_argument("--before", type=Path,
                        help="A/B against the src/ of this tree (dicomvault only)")
    parser.add_argument("--after", type=Path, default=REPO, help="the other tree of the A/B")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the A/B")
    parser.add_argument("--floor", action="store_true",
                        help="what pynetdicom alone (bench.bare_scp) and the disk allow")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.before is not None:
        print_command()
        _compare(args.before, args.after, args.rounds, args.instances)
        return
    with tempfile.TemporaryDirectory(prefix="dv-bench-dimse-") as tmp:
        one, four, megabytes, count = _files(Path(tmp), args.instances)
        if not args.measure:
            print(f"{count} instances, {megabytes:.0f} MB; storescu with TCP_NODELAY=1")
        if args.floor:
            _floor(one, four, megabytes, count, args.runs)
            print_command()
            return
        ours = _measure("dicomvault (SQLite)", lambda: dicomvault_node(dimse=True),
                        "DICOMVAULT", one, four, megabytes, count, args.runs)
        if args.measure:
            print(json.dumps(ours))
            return
        if not args.skip_orthanc:
            theirs = _measure("Orthanc 1.10", orthanc_peer, "ORTHANC", one, four,
                              megabytes, count, args.runs)
            print(f"ratio dicomvault/Orthanc: 1 association {ours['1'] / theirs['1']:.2f} "
                  f"(target >= 1.5), 4 associations {ours['4'] / theirs['4']:.2f} "
                  f"(target >= 2)")
    print_command()


if __name__ == "__main__":
    main()
