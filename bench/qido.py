"""QIDO-RS at 100,000 instances: latency and server CPU per search shape, A/B.

``bench/ingest.py --index-only`` fills a fresh index every run (about a minute
for 100,000 instances). This keeps the filled node (``--keep DIR``), so the
same index can be searched again and again, and measures each search shape's
median latency and the server's CPU per search (``/proc/<pid>/stat``, all
threads: the measure that swings least on a shared machine). With
``--before TREE`` it alternates rounds between TREE's ``src`` and this one's,
each on its own copy of the kept node (the trees may differ in migrations;
delete the copies, ``DIR-before`` and ``DIR-after``, after changing them).

    python -m bench.qido --keep /tmp/qido-node --rounds 3
    mkdir /tmp/before && git archive main src | tar -x -C /tmp/before
    python -m bench.qido --keep /tmp/qido-node --before /tmp/before --rounds 3
    python -m bench.qido --keep /tmp/qido-pg --postgres --before /tmp/before

Linux only (reads ``/proc``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench.common import (
    POSTGRES_URL,
    REPO,
    dicomvault_node,
    fresh_postgres_schema,
    print_command,
    server_cpu,
)
from bench.index_fill import INDEX_ONLY_ENV, fill_index

_SIZE = 100_000
_FIRST = ".filled.json"  # what fill_index returned: a patient ID and a study UID


def _shapes(patient_id: str, study_uid: str) -> dict[str, str]:
    """The five searches of ``bench/ingest.py --index-only``, by name."""
    return {
        "PatientID exact": f"/studies?PatientID={patient_id}",
        "PatientName prefix": "/studies?PatientName=DOE*&limit=100",
        "StudyDate range + modality":
            "/studies?StudyDate=20230101-20230331&ModalitiesInStudy=CT&limit=100",
        "series of a study": f"/studies/{study_uid}/series",
        "instances of a study": f"/studies/{study_uid}/instances",
    }


def _schema(node: Path) -> str:
    """The PostgreSQL schema of a kept node."""
    return "bench_qido_" + node.name.replace("-", "_")


def _database_url(node: Path, postgres: bool) -> str | None:
    return f"{POSTGRES_URL}?options=-csearch_path%3D{_schema(node)}" if postgres else None


def prepare(node: Path, postgres: bool, size: int) -> None:
    """Fill ``node`` (a kept data directory) once."""
    if (node / _FIRST).exists():
        return
    node.mkdir(parents=True, exist_ok=True)
    url = fresh_postgres_schema(_schema(node)) if postgres else None
    with dicomvault_node(url, data_dir=node, extra_env=INDEX_ONLY_ENV) as server:
        first = fill_index(server.data_dir, url, size)
    (node / _FIRST).write_text(json.dumps(first))


def measure(node: Path, postgres: bool, repeat: int) -> dict[str, dict[str, float]]:
    """One round on the tree this process imports (``PYTHONPATH``)."""
    patient_id, study_uid = json.loads((node / _FIRST).read_text())
    figures: dict[str, dict[str, float]] = {}
    accept = {"Accept": "application/dicom+json"}
    with dicomvault_node(_database_url(node, postgres), data_dir=node,
                         extra_env=INDEX_ONLY_ENV) as server, \
            httpx.Client(timeout=60, headers=server.headers) as client:
        pid = server.process.pid
        for name, path in _shapes(patient_id, study_uid).items():
            url = server.base_url + path
            for _ in range(5):
                client.get(url, headers=accept).raise_for_status()
            times = []
            cpu = server_cpu(pid)
            for _ in range(repeat):
                start = time.perf_counter()
                response = client.get(url, headers=accept)
                times.append(time.perf_counter() - start)
                response.raise_for_status()
            figures[name] = {"median_ms": statistics.median(times) * 1000,
                             "cpu_ms": (server_cpu(pid) - cpu) / repeat * 1000,
                             "results": len(response.json())}
    return figures


def _round(tree: Path, node: Path, postgres: bool, repeat: int) -> dict[str, dict[str, float]]:
    env = {**os.environ, "PYTHONPATH": f"{tree / 'src'}{os.pathsep}{REPO}"}
    command = [sys.executable, "-m", "bench.qido", "--measure", "--keep", str(node),
               "--repeat", str(repeat)] + (["--postgres"] if postgres else [])
    done = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"round on {tree} failed: {done.stderr[-2000:]}")
    result: dict[str, dict[str, float]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _node_for(node: Path, postgres: bool, size: int, suffix: str) -> Path:
    """A filled node for one tree: a copy of the kept SQLite node, or on PostgreSQL a
    schema of its own filled the same way (the fill is deterministic)."""
    copy = node.with_name(node.name + suffix)
    if postgres:
        prepare(copy, postgres, size)
    elif not copy.exists():
        prepare(node, postgres, size)
        shutil.copytree(node, copy)
    return copy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, required=True,
                        help="the node's data directory, filled on first use and kept")
    parser.add_argument("--postgres", action="store_true",
                        help="index on PostgreSQL (a schema named after --keep's last part)")
    parser.add_argument("--size", type=int, default=_SIZE)
    parser.add_argument("--before", type=Path, help="a tree holding the src/ to compare with")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=100, help="searches per shape per round")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.keep, args.postgres, args.repeat)))
        return
    print_command()
    trees = {"after": (REPO, _node_for(args.keep, args.postgres, args.size, "-after"))}
    if args.before:
        trees = {"before": (args.before, _node_for(args.keep, args.postgres, args.size,
                                                   "-before")), **trees}
    rounds: dict[str, list[dict[str, dict[str, float]]]] = {label: [] for label in trees}
    for number in range(args.rounds):
        for label, (tree, node) in trees.items():
            rounds[label].append(_round(tree, node, args.postgres, args.repeat))
            print(f"  round {number + 1} {label}: " + ", ".join(
                f"{name} {f['median_ms']:.2f} ms / {f['cpu_ms']:.2f} cpu"
                for name, f in rounds[label][-1].items()), flush=True)
    print(f"\nmedians of {args.rounds} rounds of {args.repeat} searches per shape "
          f"({'PostgreSQL' if args.postgres else 'SQLite'}):")
    print(f"{'search':28} {'results':>7} " + " ".join(
        f"{label + ' ms':>10} {label + ' cpu':>11}" for label in trees))
    for name in rounds["after"][0]:
        cells = []
        for label in trees:
            cells.append(f"{statistics.median(r[name]['median_ms'] for r in rounds[label]):10.2f}")
            cells.append(f"{statistics.median(r[name]['cpu_ms'] for r in rounds[label]):11.2f}")
        print(f"{name:28} {int(rounds['after'][0][name]['results']):7d} " + " ".join(cells))


if __name__ == "__main__":
    main()
