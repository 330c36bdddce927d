"""De-identification throughput: instances and header attributes per second.

Runs the Basic Profile (and, separately, every option that changes values)
over a 200-slice 512x512 synthetic CT series (``dicomvault.dicom.synthetic``)
and over every readable pydicom / pydicom-data test file, in memory: parse
not included, de-identification and Part 10 encoding of the result included.
Figures are medians of ``--runs`` runs.

    PYTHONPATH=src python -m bench.deid
    PYTHONPATH=src python -m bench.deid --runs 1 --slices 50
"""

from __future__ import annotations

import argparse
import io
import time
import warnings
from collections.abc import Sequence

import pydicom
from pydicom.data import get_testdata_files
from pydicom.dataset import Dataset

from bench.common import median, print_command
from dicomvault.deid import Deidentifier, DeidOption, DeidProfile, part10_bytes
from dicomvault.dicom.synthetic import generate_series, to_part10

KEY = bytes(range(32))
PROFILES = {
    "basic": DeidProfile(allow_burned_in=True),
    "modified dates + clean descriptors + safe private": DeidProfile(frozenset({
        DeidOption.RETAIN_LONGITUDINAL_MODIFIED_DATES, DeidOption.CLEAN_DESCRIPTORS,
        DeidOption.RETAIN_SAFE_PRIVATE}), allow_burned_in=True),
}


def _real_files() -> list[Dataset]:
    found = []
    for path in sorted(get_testdata_files()):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                ds = pydicom.dcmread(path)
            except Exception:
                continue
        if "SOPInstanceUID" in ds and "SOPClassUID" in ds:
            found.append(ds)
    return found


def _run(datasets: Sequence[Dataset], profile: DeidProfile) -> tuple[float, int]:
    """Seconds to de-identify and encode ``datasets``; attributes seen."""
    deidentifier = Deidentifier(KEY, profile)
    attributes = 0
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for ds in datasets:
            outcome = deidentifier.deidentify(ds)
            assert outcome.dataset is not None
            part10_bytes(outcome.dataset)
            attributes += len(outcome.report)
    return time.perf_counter() - start, attributes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--slices", type=int, default=200)
    args = parser.parse_args()
    series = [pydicom.dcmread(io.BytesIO(to_part10(ds)))
              for ds in generate_series(count=args.slices, modality="CT", rows=512,
                                        columns=512, seed=1)]
    corpora = {f"CT series ({args.slices} x 512x512)": series,
               "pydicom test files": _real_files()}
    print(f"{'data':<32} {'profile':<52} {'instances/s':>12} {'changes/s':>12}")
    for label, datasets in corpora.items():
        for name, profile in PROFILES.items():
            runs = [_run(datasets, profile) for _ in range(args.runs)]
            seconds = median([seconds for seconds, _ in runs])
            changes = runs[0][1]
            print(f"{label:<32} {name:<52} {len(datasets) / seconds:>12.1f} "
                  f"{changes / seconds:>12.0f}")
    print_command()


if __name__ == "__main__":
    main()
