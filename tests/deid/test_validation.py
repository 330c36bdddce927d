"""De-identified files still validate: dciodvfy (dicom3tools) and dcmdump (dcmtk) read them.

The comparison is with the original file: a real test file may already carry
IOD errors of its own; de-identification must not add any. UIDs in messages
are normalised (they differ by design).
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from tests.deid.corpus import KEY_A, read, referencing_sr
from tests.support.services import require

from dicomvault.deid import Deidentifier, DeidOption, DeidProfile, part10_bytes
from dicomvault.dicom import frame_image

FILES = ["CT_small.dcm", "MR_small.dcm", "rtstruct.dcm", "test-SR.dcm", "JPEG2000.dcm",
         "emri_small.dcm", "eCT_Supplemental.dcm", "rtplan.dcm", "rtdose.dcm"]
PROFILES = {
    "basic": DeidProfile(allow_burned_in=True),
    "all-options": DeidProfile(frozenset(DeidOption) - {
        DeidOption.RETAIN_LONGITUDINAL_FULL_DATES}, allow_burned_in=True),
}


def _errors(path: Path) -> set[str]:
    result = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True,
                            timeout=120, check=False)
    lines = (result.stdout + result.stderr).splitlines()
    return {re.sub(r"\d+(\.\d+)+", "<uid>", line) for line in lines if line.startswith("Error")}


def _deidentified(tmp_path: Path, name: str, profile: DeidProfile) -> tuple[Path, Path]:
    original = Path(str(get_testdata_file(name)))
    out = Deidentifier(KEY_A, profile).deidentify(read(original)).dataset
    assert out is not None
    target = tmp_path / f"{name}.deid.dcm"
    target.write_bytes(part10_bytes(out))
    return original, target


@pytest.mark.interop
@pytest.mark.parametrize("profile", list(PROFILES))
@pytest.mark.parametrize("name", FILES)
def test_dciodvfy_finds_no_new_error(tmp_path: Path, name: str, profile: str) -> None:
    require(shutil.which("dciodvfy") is not None, "dciodvfy (Debian dicom3tools) is not installed")
    original, deidentified = _deidentified(tmp_path, name, PROFILES[profile])
    new = _errors(deidentified) - _errors(original)
    assert not new, f"de-identification introduced: {sorted(new)}"


@pytest.mark.interop
@pytest.mark.parametrize("name", FILES)
def test_dcmdump_parses_the_output(tmp_path: Path, name: str) -> None:
    require(shutil.which("dcmdump") is not None, "dcmdump (Debian dcmtk) is not installed")
    _, deidentified = _deidentified(tmp_path, name, PROFILES["basic"])
    result = subprocess.run(["dcmdump", "-q", "+E", str(deidentified)], capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "(0012,0062) CS [YES]" in result.stdout  # Patient Identity Removed
    assert "113100" in result.stdout


@pytest.mark.interop
def test_a_generated_sr_validates_no_worse_after_deidentification(tmp_path: Path) -> None:
    require(shutil.which("dciodvfy") is not None, "dciodvfy (Debian dicom3tools) is not installed")
    sr = referencing_sr([read(str(get_testdata_file("CT_small.dcm")))])
    before = tmp_path / "sr.dcm"
    before.write_bytes(part10_bytes(sr))
    out = Deidentifier(KEY_A, DeidProfile()).deidentify(sr).dataset
    assert out is not None
    after = tmp_path / "sr.deid.dcm"
    after.write_bytes(part10_bytes(out))
    assert not _errors(after) - _errors(before)


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small.dcm", "US1_UNCR.dcm",
                                  "JPEG2000.dcm", "emri_small.dcm"])
def test_output_still_displays_as_the_original(name: str) -> None:
    """The archive's own renderer (WADO-RS rendered) draws the same picture before and after."""
    original = read(str(get_testdata_file(name)))
    out = Deidentifier(KEY_A, DeidProfile(allow_burned_in=True)).deidentify(original).dataset
    assert out is not None
    again = pydicom.dcmread(io.BytesIO(part10_bytes(out)))
    before, after = frame_image(original), frame_image(again)
    assert before.size == after.size
    np.testing.assert_array_equal(np.asarray(before), np.asarray(after))
