"""STOW-RS ingest, QIDO-RS latency and WADO-RS throughput, side by side with Orthanc.

What it measures (issue "archive core", section "How fast"):

* STOW-RS of 500 synthetic 512x512 16-bit CT instances (~0.5 MB each) in
  requests of 50, on a fresh node each run: instances/s and MB/s, for
  dicomvault on SQLite, dicomvault on PostgreSQL and Orthanc 1.10 (SQLite,
  no compression, TCP_NODELAY=1), all on the same files in one run.
* QIDO-RS study and series search latency (median, p95) on that data.
* WADO-RS retrieve of one 50-instance series (multipart): MB/s.
* ``--floor``: also, in the same run on the same data, an HTTP server on our
  stack (uvicorn, httptools, uvloop) that does no archive work
  (``bench/bare_http.py``): what no door on this stack can beat here.
* QIDO-RS latency at 100,000 instances (``--index-size``), on SQLite and
  PostgreSQL: the index is filled directly through the index writer (what
  is measured is the search, not the ingest), then searched over HTTP.

Every figure is the median of ``--runs`` runs (the machine is noisy).

    python -m bench.ingest                      # everything
    python -m bench.ingest --runs 3 --skip-orthanc --index-size 0
    python -m bench.ingest --runs 3 --index-size 0 --skip-postgres --floor
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass

import httpx
import pydicom

from bench.bare_http import bare_http_node
from bench.common import (
    RunningServer,
    dicomvault_node,
    fresh_postgres_schema,
    median,
    orthanc_peer,
    p95,
    print_command,
    stow_body,
)
from bench.index_fill import INDEX_ONLY_ENV, fill_index
from dicomvault.dicom.synthetic import PatientSpec, StudySpec, generate_series, to_part10

BATCH = 50


@dataclass
class Dataset500:
    files: list[bytes]
    study_uids: list[str]
    series_of_first_study: str
    patient_id: str

    @property
    def megabytes(self) -> float:
        return sum(len(f) for f in self.files) / 1e6


def make_dataset(instances: int = 500) -> Dataset500:
    files: list[bytes] = []
    study_uids: list[str] = []
    first_series = ""
    per_series = 50
    for index in range(instances // per_series):
        study_no = index // 2
        spec = StudySpec(patient=PatientSpec(PatientID=f"BENCH{study_no:03d}",
                                             PatientName=f"BENCH^PATIENT{study_no}"),
                         AccessionNumber=f"A{study_no:05d}")
        if index % 2 == 0:
            study_uid = f"1.2.826.0.1.3680043.10.1291.9.{study_no + 1}"
            study_uids.append(study_uid)
        series_files = [to_part10(ds) for ds in generate_series(
            count=per_series, study=spec, study_uid=study_uid, series_number=index % 2 + 1,
            seed=1000 + index)]
        if index == 0:
            first_series = pydicom.dcmread(io.BytesIO(series_files[0])).SeriesInstanceUID
        files.extend(series_files)
    return Dataset500(files, study_uids, first_series, "BENCH000")


def stow_all(server: RunningServer, files: Sequence[bytes]) -> float:
    with httpx.Client(timeout=300, headers=server.headers) as client:
        start = time.perf_counter()
        for offset in range(0, len(files), BATCH):
            body, content_type = stow_body(files[offset : offset + BATCH])
            response = client.post(f"{server.base_url}/studies", content=body,
                                   headers={"Content-Type": content_type,
                                            "Accept": "application/dicom+json"})
            if response.status_code != 200:
                raise RuntimeError(f"STOW answered {response.status_code}: {response.text[:300]}")
        return time.perf_counter() - start


def latencies(server: RunningServer, paths: Sequence[str], repeat: int = 30) -> list[float]:
    times: list[float] = []
    with httpx.Client(timeout=60, headers=server.headers) as client:
        for path in paths:
            client.get(server.base_url + path, headers={"Accept": "application/dicom+json"})
        for _ in range(repeat):
            for path in paths:
                start = time.perf_counter()
                response = client.get(server.base_url + path,
                                      headers={"Accept": "application/dicom+json"})
                times.append(time.perf_counter() - start)
                if response.status_code != 200:
                    raise RuntimeError(f"QIDO {path} answered {response.status_code}")
    return times


def wado_series(server: RunningServer, data: Dataset500, repeat: int = 5) -> float:
    url = (f"{server.base_url}/studies/{data.study_uids[0]}/series/"
           f"{data.series_of_first_study}")
    accept = 'multipart/related; type="application/dicom"; transfer-syntax=*'
    rates: list[float] = []
    with httpx.Client(timeout=300, headers=server.headers) as client:
        for _ in range(repeat):
            start = time.perf_counter()
            size = 0
            with client.stream("GET", url, headers={"Accept": accept}) as response:
                if response.status_code != 200:
                    raise RuntimeError(f"WADO answered {response.status_code}")
                for chunk in response.iter_bytes():
                    size += len(chunk)
            rates.append(size / 1e6 / (time.perf_counter() - start))
    return median(rates)


@dataclass
class TargetFigures:
    name: str
    ingest_rates: list[float]
    mbps: list[float]
    study_qido: list[float]
    series_qido: list[float]
    wado_mbps: list[float]


def measure(name: str, start: Callable[[], AbstractContextManager[RunningServer]],
            data: Dataset500, runs: int) -> TargetFigures:
    figures = TargetFigures(name, [], [], [], [], [])
    for run in range(runs):
        with start() as server:
            elapsed = stow_all(server, data.files)
            figures.ingest_rates.append(len(data.files) / elapsed)
            figures.mbps.append(data.megabytes / elapsed)
            figures.study_qido += latencies(server, [f"/studies?PatientID={data.patient_id}",
                                                     "/studies?PatientName=BENCH*&limit=100"])
            figures.series_qido += latencies(server, [f"/studies/{data.study_uids[0]}/series"])
            figures.wado_mbps.append(wado_series(server, data))
        print(f"  {name} run {run + 1}: {figures.ingest_rates[-1]:.1f} instances/s", flush=True)
    return figures


def report(figures: list[TargetFigures]) -> None:
    print()
    print(f"{'target':22} {'STOW inst/s':>12} {'STOW MB/s':>10} {'QIDO study ms':>16} "
          f"{'QIDO series ms':>16} {'WADO MB/s':>10}")
    for f in figures:
        print(f"{f.name:22} {median(f.ingest_rates):12.1f} {median(f.mbps):10.1f} "
              f"{median(f.study_qido) * 1000:7.2f} (p95 {p95(f.study_qido) * 1000:5.1f}) "
              f"{median(f.series_qido) * 1000:7.2f} (p95 {p95(f.series_qido) * 1000:5.1f}) "
              f"{median(f.wado_mbps):10.1f}")
    by_name = {f.name: f for f in figures}
    peer = by_name.get("orthanc")
    if peer:
        for f in figures:
            if f is peer:
                continue
            stow_ratio = median(f.ingest_rates) / median(peer.ingest_rates)
            print(f"ratio {f.name}/orthanc: STOW x{stow_ratio:.2f}, "
                  f"WADO x{median(f.wado_mbps) / median(peer.wado_mbps):.2f}, "
                  f"QIDO study x{median(peer.study_qido) / median(f.study_qido):.2f} faster")


def large_index_latency(database_url: str | None, size: int, label: str) -> None:
    with dicomvault_node(database_url, extra_env=INDEX_ONLY_ENV) as server:
        started = time.perf_counter()
        patient_id, study_uid = fill_index(server.data_dir, database_url, size)
        print(f"  {label}: filled index with {size} instances in "
              f"{time.perf_counter() - started:.0f} s", flush=True)
        queries = {
            "PatientID exact": [f"/studies?PatientID={patient_id}"],
            "PatientName prefix": ["/studies?PatientName=DOE*&limit=100"],
            "StudyDate range + modality": [
                "/studies?StudyDate=20230101-20230331&ModalitiesInStudy=CT&limit=100"],
            "series of a study": [f"/studies/{study_uid}/series"],
            "instances of a study": [f"/studies/{study_uid}/instances"],
        }
        for name, paths in queries.items():
            times = latencies(server, paths, repeat=50)
            print(f"  {label} @ {size}: {name:28} median {statistics.median(times) * 1000:6.2f} ms"
                  f"  p95 {p95(times) * 1000:6.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--instances", type=int, default=500)
    parser.add_argument("--skip-orthanc", action="store_true")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--floor", action="store_true",
                        help="also measure an HTTP server that does no work (bench.bare_http)")
    parser.add_argument("--index-size", type=int, default=100_000)
    parser.add_argument("--index-only", action="store_true",
                        help="only the QIDO-RS latency at --index-size instances")
    args = parser.parse_args()
    print_command()
    if args.index_only:
        _large_index(args)
        return
    data = make_dataset(args.instances)
    print(f"data: {len(data.files)} CT instances, {data.megabytes:.1f} MB, STOW batches of {BATCH}")
    figures = [measure("dicomvault-sqlite", dicomvault_node, data, args.runs)]
    if not args.skip_postgres:
        figures.append(measure("dicomvault-postgresql",
                               lambda: dicomvault_node(fresh_postgres_schema("bench_ingest")),
                               data, args.runs))
    if args.floor:
        figures.append(measure("bare-uvicorn", bare_http_node, data, args.runs))
    if not args.skip_orthanc:
        figures.append(measure("orthanc", orthanc_peer, data, args.runs))
    report(figures)
    if args.index_size:
        print()
        _large_index(args)


def _large_index(args: argparse.Namespace) -> None:
    large_index_latency(None, args.index_size, "sqlite")
    if not args.skip_postgres:
        large_index_latency(fresh_postgres_schema("bench_index"), args.index_size, "postgresql")


if __name__ == "__main__":
    main()
