"""Interleaved A/B of two source trees: server CPU per STOW, QIDO and WADO operation.

On a shared, noisy machine throughput swings with everyone else's load; the
server's own CPU time per operation (``/proc/<pid>/stat``, all its threads)
swings much less, and alternating the two trees round by round spreads the
load over both. Each round starts a fresh node from each tree in turn (the
workload of ``bench/ingest.py``: 500 CT instances in STOW-RS requests of 50,
200 QIDO-RS study searches, 8 reads of a 50-instance series) and prints
medians at the end.

    mkdir /tmp/before && git archive main src | tar -x -C /tmp/before
    python -m bench.compare --before /tmp/before --after . --rounds 3

Only the trees' ``src`` differ: the workload and the node setup (a service
account's token made with each tree's own CLI) come from this checkout.

Linux only (reads ``/proc``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from bench.common import REPO, dicomvault_node, print_command, server_cpu
from bench.ingest import latencies, make_dataset, stow_all, wado_series


def measure() -> dict[str, float]:
    """One round on the tree this process imports (``PYTHONPATH``)."""
    data = make_dataset(500)
    with dicomvault_node() as server:
        pid = server.process.pid
        start = server_cpu(pid)
        elapsed = stow_all(server, data.files)
        stored = server_cpu(pid)
        times = latencies(server, [f"/studies?PatientID={data.patient_id}",
                                   "/studies?PatientName=BENCH*&limit=100"], repeat=100)
        searched = server_cpu(pid)
        rate = wado_series(server, data, repeat=8)
        retrieved = server_cpu(pid)
    return {
        "stow_instances_per_s": len(data.files) / elapsed,
        "stow_cpu_ms_per_instance": (stored - start) / len(data.files) * 1000,
        "qido_median_ms": statistics.median(times) * 1000,
        "qido_cpu_ms_per_search": (searched - stored) / len(times) * 1000,
        "wado_mb_per_s": rate,
        "wado_cpu_ms_per_series": (retrieved - searched) / 8 * 1000,
    }


def _round(tree: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": f"{tree / 'src'}{os.pathsep}{REPO}"}
    done = subprocess.run([sys.executable, "-m", "bench.compare", "--measure"], env=env,
                          cwd=REPO, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"round on {tree} failed: {done.stderr[-2000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="a tree holding the src/ to compare with")
    parser.add_argument("--after", type=Path, default=REPO)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure()))
        return
    if args.before is None:
        parser.error("--before DIR is required (a tree with src/ and bench/)")
    print_command()
    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    results: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    for number in range(args.rounds):
        for name, tree in trees.items():
            results[name].append(_round(tree))
            print(f"  round {number + 1} {name}: {results[name][-1]}", flush=True)
    print()
    for name, rounds in results.items():
        medians = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
        print(f"{name:7} " + "  ".join(f"{key} {value:.2f}" for key, value in medians.items()))


if __name__ == "__main__":
    main()
