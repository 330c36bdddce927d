"""Real DICOM files in every transfer syntax the DIMSE door accepts (pydicom's test files)."""

from __future__ import annotations

import io
from pathlib import Path

import pydicom
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from dicomvault.codecs import syntaxes
from dicomvault.codecs.transcode import transcode

#: pydicom test files by the transfer syntax they are in.
REAL_FILES: dict[str, str] = {
    syntaxes.EXPLICIT_VR_LITTLE_ENDIAN: "CT_small.dcm",
    syntaxes.IMPLICIT_VR_LITTLE_ENDIAN: "MR_small_implicit.dcm",
    syntaxes.EXPLICIT_VR_BIG_ENDIAN: "MR_small_bigendian.dcm",
    syntaxes.DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN: "image_dfl.dcm",
    syntaxes.JPEG_BASELINE: "SC_rgb_jpeg_dcmtk.dcm",
    syntaxes.JPEG_EXTENDED: "JPEG-lossy.dcm",
    syntaxes.JPEG_LOSSLESS_SV1: "JPEG-LL.dcm",
    syntaxes.JPEG_LS_LOSSLESS: "MR_small_jpeg_ls_lossless.dcm",
    syntaxes.RLE_LOSSLESS: "MR_small_RLE.dcm",
    syntaxes.JPEG_2000_LOSSLESS: "emri_small_jpeg_2k_lossless.dcm",
    syntaxes.JPEG_2000: "JPEG2000.dcm",
}


def real_file(name: str) -> bytes:
    path = get_testdata_file(name)
    assert path is not None, f"pydicom test file {name} is missing"
    return Path(str(path)).read_bytes()


def files_by_syntax() -> dict[str, bytes]:
    """One real file per accepted syntax; HTJ2K made losslessly from CT_small by our codecs."""
    files: dict[str, bytes] = {}
    seen: set[str] = set()
    for ts, name in REAL_FILES.items():
        data = real_file(name)
        uid = str(pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True).SOPInstanceUID)
        # pydicom's MR_small_* files are one instance in several syntaxes: same UID.
        files[ts] = data if uid not in seen else _with_new_uid(data)
        seen.add(uid)
    files[syntaxes.HTJ2K_LOSSLESS] = _with_new_uid(transcode(
        files[syntaxes.EXPLICIT_VR_LITTLE_ENDIAN], syntaxes.HTJ2K_LOSSLESS))
    return files


def _with_new_uid(data: bytes) -> bytes:
    ds = pydicom.dcmread(io.BytesIO(data))
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def dataset_bytes(part10: bytes) -> bytes:
    """The encoded data set of a Part 10 file (everything after the File Meta group)."""
    stream = io.BytesIO(part10)
    pydicom.filereader.read_preamble(stream, force=False)
    pydicom.filereader._read_file_meta_info(stream)
    return part10[stream.tell():]
