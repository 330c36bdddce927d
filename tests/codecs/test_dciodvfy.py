"""What we transcode and store passes dciodvfy (Debian dicom3tools): no error the source file
did not already have. Readers we did not write, run by full path.

Two gaps of the Debian build (dicom3tools 2022-06), stated rather than hidden:
it predates the HTJ2K transfer syntaxes (2023), and it cannot read deflated
files (it fails on pydicom's reference ``image_dfl.dcm`` too). Deflated output
is therefore inflated by dcmtk's ``dcmconv`` (another reader we did not write)
and then validated; HTJ2K output is checked by decoding it with pydicom and
pylibjpeg-openjpeg (test_lossless_round_trips) and by its codestream markers
(test_transcode).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from tests.codecs.images import real_file, synthetic
from tests.support.services import require

from dicomvault.codecs import CompressedCopy, compress_original, transcode
from dicomvault.codecs.syntaxes import (
    DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
    EXPLICIT_VR_LITTLE_ENDIAN,
    IMPLICIT_VR_LITTLE_ENDIAN,
    JPEG_2000_LOSSLESS,
    JPEG_LS_LOSSLESS,
    RLE_LOSSLESS,
)

DCIODVFY = "/usr/bin/dciodvfy"
DCMCONV = "/usr/bin/dcmconv"
SOURCES = ["CT_small.dcm", "MR_small_implicit.dcm", "US1_UNCR.dcm", "emri_small.dcm",
           "eCT_Supplemental.dcm", "MR_small_jpeg_ls_lossless.dcm"]
TARGETS = [EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN,
           DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, RLE_LOSSLESS, JPEG_LS_LOSSLESS, JPEG_2000_LOSSLESS]


def _errors(path: Path) -> set[str]:
    result = subprocess.run([DCIODVFY, str(path)], capture_output=True, text=True, timeout=120,
                            check=False)
    lines = (result.stdout + result.stderr).splitlines()
    found = {line for line in lines if line.startswith("Error")}
    assert "Error - Dicom dataset read failed" not in found, "\n".join(lines)
    return found


def _validated(data: bytes, tmp_path: Path, name: str, *, deflated: bool = False) -> set[str]:
    path = tmp_path / name
    path.write_bytes(data)
    if deflated:
        inflated = tmp_path / f"inflated-{name}"
        subprocess.run([DCMCONV, "+te", str(path), str(inflated)], check=True, timeout=120,
                       capture_output=True)
        path = inflated
    return _errors(path)


@pytest.fixture(autouse=True)
def _tools() -> None:
    require(Path(DCIODVFY).exists() and Path(DCMCONV).exists(),
            "dicom3tools and dcmtk are needed (scripts/test installs them)")


@pytest.mark.interop
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", SOURCES)
def test_transcoded_files_pass_dciodvfy(name: str, target: str, tmp_path: Path) -> None:
    source = real_file(name)
    before = _validated(source, tmp_path, "source.dcm")
    after = _validated(transcode(source, target), tmp_path, "served.dcm",
                       deflated=target == DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN)
    assert after <= before


@pytest.mark.interop
@pytest.mark.parametrize("target", [RLE_LOSSLESS, JPEG_LS_LOSSLESS, JPEG_2000_LOSSLESS])
def test_stored_compressed_copies_pass_dciodvfy(target: str, tmp_path: Path) -> None:
    for index, data in enumerate([real_file("CT_small.dcm"),
                                  synthetic(bits_stored=12, signed=True, frames=2),
                                  synthetic(bits_stored=8, samples=3, photometric="RGB",
                                            planar=1)]):
        copy = compress_original(data, target)
        assert isinstance(copy, CompressedCopy)
        before = _validated(data, tmp_path, f"source{index}.dcm")
        assert _validated(copy.data, tmp_path, f"copy{index}.dcm") <= before
