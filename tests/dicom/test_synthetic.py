"""The synthetic series are valid DICOM by an independent validator (dicom3tools)."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest

from dicomvault.dicom.synthetic import generate_series, generate_study_files, to_part10

DCIODVFY = "/usr/bin/dciodvfy"


def _need_dciodvfy() -> None:
    if not Path(DCIODVFY).exists():
        if os.environ.get("CI") == "true":
            pytest.fail("dicom3tools (dciodvfy) must be installed under CI")
        pytest.skip("dicom3tools not installed (apt-get install dicom3tools)")


@pytest.mark.parametrize("modality", ["CT", "MR"])
def test_generated_instances_pass_dciodvfy(modality: str, tmp_path: Path) -> None:
    _need_dciodvfy()
    path = tmp_path / "x.dcm"
    path.write_bytes(to_part10(next(generate_series(count=1, rows=64, columns=64,
                                                    modality=modality))))
    result = subprocess.run([DCIODVFY, str(path)], capture_output=True, text=True, check=False)
    errors = [line for line in (result.stdout + result.stderr).splitlines()
              if line.startswith("Error")]
    assert errors == []
    assert shutil.which(DCIODVFY)


def test_series_is_deterministic_and_consistent() -> None:
    first = [to_part10(ds) for ds in generate_series(count=3, rows=32, columns=32, seed=7)]
    again = [to_part10(ds) for ds in generate_series(count=3, rows=32, columns=32, seed=7)]
    assert first == again
    datasets = [pydicom.dcmread(io.BytesIO(f)) for f in first]
    assert len({ds.SeriesInstanceUID for ds in datasets}) == 1
    assert len({ds.SOPInstanceUID for ds in datasets}) == 3
    assert [ds.InstanceNumber for ds in datasets] == [1, 2, 3]


def test_ct_pixels_look_like_anatomy_not_constants() -> None:
    ds = next(generate_series(count=1, rows=128, columns=128))
    pixels = ds.pixel_array
    assert pixels.min() <= -900  # air
    assert pixels.max() >= 1000  # bone
    assert len(np.unique(pixels)) > 250  # noise on every tissue: realistic entropy


def test_study_has_several_series_of_different_modalities() -> None:
    files = generate_study_files(series=2, per_series=2, rows=32, columns=32)
    datasets = [pydicom.dcmread(io.BytesIO(f)) for f in files]
    assert len({ds.StudyInstanceUID for ds in datasets}) == 1
    assert {ds.Modality for ds in datasets} == {"CT", "MR"}
