"""WADO-RS series retrieve, interleaved A/B of two source trees: server CPU, MB/s, first byte.

The retrieve of ``bench/ingest.py`` (one 50-instance series of 0.5 MB CT
instances, ``multipart/related``, ``transfer-syntax=*``) repeated on a node
that holds only that series, so a round takes seconds and many rounds fit
between the other engineers' load swings. Per round and tree: a fresh node,
the series stored over STOW-RS, two warm-up reads, then 20 reads;
the server's CPU (``/proc/<pid>/stat``, all threads) over all of them
divided by their number, and the medians of MB/s and of the time to the
first body byte. Rounds alternate the trees; medians over rounds at the end.

    mkdir /tmp/before && git archive main src | tar -x -C /tmp/before
    python -m bench.wado --before /tmp/before --after . --rounds 5

Only the trees' ``src`` differ: the workload and node setup come from this
checkout. Linux only (reads ``/proc``).

``--side-by-side`` instead serves the same series from three servers running
at once: dicomvault (SQLite), Orthanc 1.10 and ``bench/bare_http.py`` (our
HTTP stack sending the parts from memory, with no lookup, read, decryption or
ledger event: what no WADO-RS door on this stack can beat). Each round reads
the series ten times from each in turn, so the machine's load swings
fall on all three; it prints each round's MB/s and the medians with ratios
to Orthanc.

    python -m bench.wado --side-by-side --rounds 5
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time
from pathlib import Path

import httpx

from bench.bare_http import side_by_side_servers
from bench.common import (
    RunningServer,
    dicomvault_node,
    print_command,
    run_ab,
    server_cpu,
    side_by_side_rounds,
    stow_body,
)
from dicomvault.dicom.synthetic import PatientSpec, StudySpec, generate_series, to_part10

STUDY_UID = "1.2.826.0.1.3680043.10.1291.9.1"
ACCEPT = 'multipart/related; type="application/dicom"; transfer-syntax=*'


def _store_series(server: RunningServer, count: int) -> str:
    """Store one series of ``count`` CT instances; returns its retrieve URL."""
    spec = StudySpec(patient=PatientSpec(PatientID="BENCH000", PatientName="BENCH^PATIENT0"),
                     AccessionNumber="A00000")
    datasets = list(generate_series(count=count, study=spec, study_uid=STUDY_UID, series_number=1,
                               seed=1000))
    body, content_type = stow_body([to_part10(ds) for ds in datasets])
    response = httpx.post(f"{server.base_url}/studies", content=body, timeout=300,
                          headers={**server.headers, "Content-Type": content_type,
                                   "Accept": "application/dicom+json"})
    if response.status_code != 200:
        raise RuntimeError(f"STOW answered {response.status_code}: {response.text[:300]}")
    series_uid = datasets[0].SeriesInstanceUID
    return f"{server.base_url}/studies/{STUDY_UID}/series/{series_uid}"


def _read(client: httpx.Client, url: str) -> tuple[int, float, float]:
    """One retrieve: (bytes, seconds to the first body byte, seconds in all)."""
    start = time.perf_counter()
    size = 0
    first = 0.0
    with client.stream("GET", url, headers={"Accept": ACCEPT}) as response:
        if response.status_code != 200:
            raise RuntimeError(f"WADO answered {response.status_code}")
        for chunk in response.iter_raw():
            if not size:
                first = time.perf_counter() - start
            size += len(chunk)
    return size, first, time.perf_counter() - start


def _minor_faults(pid: int) -> int:
    """Minor page faults of a process so far: fresh memory the kernel had to map."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[7])


def measure(reads: int = 20, instances: int = 50) -> dict[str, float]:
    """One round on the tree this process imports (``PYTHONPATH``)."""
    with dicomvault_node() as server:
        url = _store_series(server, instances)
        pid = server.process.pid
        with httpx.Client(timeout=300, headers=server.headers) as client:
            for _ in range(2):
                _read(client, url)
            start, faults = server_cpu(pid), _minor_faults(pid)
            runs = [_read(client, url) for _ in range(reads)]
            cpu, faults = server_cpu(pid) - start, _minor_faults(pid) - faults
    return {
        "wado_mb_per_s": statistics.median(size / 1e6 / total for size, _, total in runs),
        "first_byte_ms": statistics.median(first for _, first, _ in runs) * 1000,
        "server_cpu_ms_per_series": cpu / reads * 1000,
        "server_page_faults_per_series": faults / reads,
        "load": os.getloadavg()[0],
    }


def side_by_side(rounds: int, reads: int = 10, instances: int = 50) -> None:
    """Rounds of ``reads`` reads from each server in turn; see the module docstring."""
    print_command()
    with contextlib.ExitStack() as stack:
        servers = {name: stack.enter_context(start())
                   for name, start in side_by_side_servers().items()}
        urls = {name: _store_series(server, instances) for name, server in servers.items()}

        def read_series(name: str) -> float:
            with httpx.Client(timeout=300, headers=servers[name].headers) as client:
                _read(client, urls[name])
                runs = [_read(client, urls[name]) for _ in range(reads)]
            return statistics.median(size / 1e6 / total for size, _, total in runs)

        side_by_side_rounds(list(servers), rounds, "MB/s", read_series)


def main() -> None:
    run_ab(__doc__.splitlines()[0], "bench.wado", measure, rounds=5, side_by_side=side_by_side)


if __name__ == "__main__":
    main()
