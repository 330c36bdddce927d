"""STOW-RS ingest, interleaved A/B of two source trees: server CPU per instance, inst/s.

The STOW-RS workload of ``bench/ingest.py`` (synthetic 512x512 16-bit CT
instances of 0.5 MB, requests of 50, sent one after the other) on a fresh
SQLite node per round and tree: one warm-up request of 50 instances, then
``--instances`` (500) in requests of 50. Reported per round: the server's
CPU (``/proc/<pid>/stat``, all threads) over the measured requests divided
by the number of instances, the instances per second (wall, client side) and
the load average. Rounds alternate the trees; medians over rounds at the end.

    mkdir /tmp/before && git archive main src | tar -x -C /tmp/before
    python -m bench.stow --before /tmp/before --after . --rounds 3

Only the trees' ``src`` differ: the workload and node setup come from this
checkout. Linux only (reads ``/proc``).

``--side-by-side`` instead stores the same instances, round by round, on a
fresh dicomvault node (SQLite), a fresh Orthanc 1.10 and ``bench/bare_http.py``
(our HTTP stack reading each body and keeping nothing: what no STOW-RS door on
this stack can beat), one after the other in each round so the machine's load
swings fall on all three; it prints each round and the medians with ratios to
Orthanc.

    python -m bench.stow --side-by-side --rounds 5
"""

from __future__ import annotations

import os

from bench.bare_http import side_by_side_servers
from bench.common import (
    dicomvault_node,
    print_command,
    run_ab,
    server_cpu,
    side_by_side_rounds,
)
from bench.ingest import BATCH, make_dataset, stow_all


def measure(instances: int = 500) -> dict[str, float]:
    """One round on the tree this process imports (``PYTHONPATH``)."""
    data = make_dataset(instances + BATCH)
    warm_up, files = data.files[:BATCH], data.files[BATCH:]
    with dicomvault_node() as server:
        stow_all(server, warm_up)
        start = server_cpu(server.process.pid)
        elapsed = stow_all(server, files)
        cpu = server_cpu(server.process.pid) - start
    return {
        "inst_per_s": len(files) / elapsed,
        "server_cpu_ms_per_instance": cpu / len(files) * 1000,
        "wall_ms_per_instance": elapsed / len(files) * 1000,
        "load": os.getloadavg()[0],
    }


def side_by_side(rounds: int, instances: int = 500) -> None:
    """Each round, the same instances on a fresh server of each kind; see the docstring."""
    print_command()
    files = make_dataset(instances).files
    starters = side_by_side_servers()

    def store_on_fresh(name: str) -> float:
        with starters[name]() as server:
            return len(files) / stow_all(server, files)

    side_by_side_rounds(list(starters), rounds, "inst/s", store_on_fresh)


def main() -> None:
    run_ab(__doc__.splitlines()[0], "bench.stow", measure, rounds=3, side_by_side=side_by_side)


if __name__ == "__main__":
    main()
