"""Header validation on ingest: real files accepted, malformed and truncated ones refused."""

from __future__ import annotations

import io
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

from dicomvault.dicom.header import load_header, parse_incoming
from dicomvault.errors import (
    InvalidInputError,
    MissingAttributeError,
    NotDicomError,
    SOPClassMismatchError,
)

REAL_FILES = [
    "CT_small.dcm",  # explicit VR little endian, native pixels
    "MR_small_bigendian.dcm",  # explicit VR big endian
    "image_dfl.dcm",  # deflated
    "JPEG2000.dcm",  # encapsulated JPEG 2000
    "emri_small_RLE.dcm",  # encapsulated RLE, multi-frame
    "SC_rgb_jpeg_dcmtk.dcm",  # JPEG baseline, RGB
    "rtplan.dcm",  # no pixel data, implicit VR
]


def _bytes(name: str) -> bytes:
    return Path(str(get_testdata_file(name))).read_bytes()


def _parse(data: bytes):  # type: ignore[no-untyped-def]
    return parse_incoming(data, len(data), data[-16:])


@pytest.mark.parametrize("name", REAL_FILES)
def test_real_files_are_accepted_with_their_uids(name: str) -> None:
    data = _bytes(name)
    parsed = _parse(data)
    ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
    assert parsed.instance.SOPInstanceUID == ds.SOPInstanceUID
    assert parsed.study.StudyInstanceUID == ds.StudyInstanceUID
    assert parsed.series.SeriesInstanceUID == ds.SeriesInstanceUID
    assert parsed.instance.TransferSyntaxUID == ds.file_meta.TransferSyntaxUID
    header = load_header(parsed.header_bytes)
    assert header.SOPInstanceUID == ds.SOPInstanceUID
    assert "PixelData" not in header


@pytest.mark.parametrize("name", [n for n in REAL_FILES if n != "image_dfl.dcm"])
@pytest.mark.parametrize("keep", [0.5, 0.9, 0.999])
def test_truncated_files_are_refused(name: str, keep: float) -> None:
    """Cut anywhere, a file is refused: usually as truncated; a cut that falls exactly
    on an element boundary in the header leaves a shorter, well-formed file that
    lacks its identifying UIDs (JPEG2000.dcm at 50% is such a case)."""
    data = _bytes(name)
    cut = data[: int(len(data) * keep)]
    with pytest.raises(InvalidInputError, match=r"truncated|malformed|missing"):
        _parse(cut)


@pytest.mark.parametrize("name", [n for n in REAL_FILES if n != "image_dfl.dcm"])
def test_every_cut_inside_the_last_element_is_refused(name: str) -> None:
    data = _bytes(name)
    for cut in range(len(data) - 1, len(data) - 40, -3):
        with pytest.raises(NotDicomError):
            _parse(data[:cut])


def test_truncated_deflated_file_is_refused() -> None:
    data = _bytes("image_dfl.dcm")
    with pytest.raises(NotDicomError):
        _parse(data[: len(data) // 2])


def test_truncated_header_is_refused() -> None:
    data = _bytes("CT_small.dcm")
    with pytest.raises(NotDicomError):
        _parse(data[:1000])


@pytest.mark.parametrize(
    "body", [b"", b"hello world", b"\x00" * 132, b"%PDF-1.4 not dicom" * 20]
)
def test_non_dicom_bodies_are_refused(body: bytes) -> None:
    with pytest.raises(NotDicomError):
        _parse(body)


def _without(name: str, keyword: str) -> bytes:
    ds = pydicom.dcmread(get_testdata_file(name))
    delattr(ds, keyword)
    buffer = io.BytesIO()
    ds.save_as(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "keyword", ["SOPInstanceUID", "SOPClassUID", "StudyInstanceUID", "SeriesInstanceUID"]
)
def test_missing_identifying_uid_is_refused(keyword: str) -> None:
    with pytest.raises(MissingAttributeError, match=keyword):
        _parse(_without("CT_small.dcm", keyword))


def test_invalid_uid_is_refused() -> None:
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.SOPInstanceUID = "not.a.uid.x"
    ds.file_meta.MediaStorageSOPInstanceUID = "not.a.uid.x"
    buffer = io.BytesIO()
    ds.save_as(buffer)
    with pytest.raises(MissingAttributeError, match="not a valid UID"):
        _parse(buffer.getvalue())


def test_sop_class_that_contradicts_file_meta_is_refused() -> None:
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"  # MR Image Storage
    buffer = io.BytesIO()
    ds.save_as(buffer)
    with pytest.raises(SOPClassMismatchError):
        _parse(buffer.getvalue())


def test_error_messages_carry_no_patient_data() -> None:
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.PatientName = "SECRET^PATIENT"
    del ds.StudyInstanceUID
    buffer = io.BytesIO()
    ds.save_as(buffer)
    with pytest.raises(MissingAttributeError) as caught:
        _parse(buffer.getvalue())
    assert "SECRET" not in str(caught.value)
