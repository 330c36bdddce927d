"""Ingest decodes plain header values itself (speed); the result must be pydicom's.

:func:`dicomvault.dicom.header._text` and ``_integer`` read a still-raw
element's bytes directly when the value is single, plain ASCII and of a VR
whose conversion is just "strip the padding"; anything else goes through
pydicom. Each test reads the same bytes twice: once raw (the direct path)
and once with every element converted by pydicom first (so the direct path
cannot apply), and the answers must be equal.
"""

from __future__ import annotations

import io
import struct
import warnings
from pathlib import Path

import pydicom
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydicom.data import get_testdata_files
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filewriter import write_file_meta_info
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from dicomvault.dicom.header import _direct_integer, _direct_text, _element, _integer, _text

#: Every attribute ingest reads with _text / _integer (dicom/header.py parse_incoming).
TEXT_KEYWORDS = (
    "PatientID", "IssuerOfPatientID", "PatientName", "PatientBirthDate", "PatientSex",
    "StudyInstanceUID", "StudyDate", "StudyTime", "AccessionNumber", "StudyID",
    "StudyDescription", "ReferringPhysicianName", "InstitutionName",
    "InstitutionalDepartmentName", "TimezoneOffsetFromUTC", "SpecificCharacterSet",
    "SeriesInstanceUID", "Modality", "SeriesDescription", "BodyPartExamined",
    "PerformedProcedureStepStartDate", "PerformedProcedureStepStartTime",
    "SOPInstanceUID", "SOPClassUID",
)
INTEGER_KEYWORDS = ("SeriesNumber", "InstanceNumber", "Rows", "Columns", "BitsAllocated",
                    "NumberOfFrames")


class PydicomReadError(Exception):
    """pydicom itself fails on these bytes: there is nothing to compare with."""


def _read_twice(data: bytes) -> tuple[Dataset, Dataset]:
    """(raw, converted): the same header, untouched and with every element decoded."""
    try:
        return _read_and_convert(data)
    except Exception as exc:  # e.g. pydicom's own IndexError on PN "^" in IR 87
        raise PydicomReadError from exc


def _read_and_convert(data: bytes) -> tuple[Dataset, Dataset]:
    raw = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True, force=True)
    converted = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True, force=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about odd values; so be it
        for _ in converted:  # iterating converts each element (no longer raw)
            pass
    return raw, converted


def _assert_same(data: bytes) -> None:
    raw, converted = _read_twice(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the raw side falls back to pydicom for odd values
        for keyword in TEXT_KEYWORDS:
            assert _text(raw, keyword) == _text(converted, keyword), keyword
        for keyword in INTEGER_KEYWORDS:
            assert _integer(raw, keyword) == _integer(converted, keyword), keyword


def _test_files() -> list[Path]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns that it cannot download extras
        return [Path(p) for p in get_testdata_files("*") if p.endswith(".dcm")]


@pytest.mark.parametrize("path", _test_files(), ids=lambda p: p.name)
def test_pydicom_test_files_read_the_same(path: Path) -> None:
    try:
        _assert_same(path.read_bytes())
    except PydicomReadError:
        pytest.skip("pydicom cannot read this file (so ingest refuses it)")


def test_the_direct_path_is_taken_for_plain_values() -> None:
    """The test above compares something: plain values are decoded without pydicom."""
    ds = _dataset({"PatientID": ("LO", b"ID 42  "), "Rows": ("US", b"\x00\x02"),
                   "SeriesNumber": ("IS", b" 7 ")}, ExplicitVRLittleEndian)
    raw, _ = _read_twice(ds)
    assert _direct_text(*_element(raw, "PatientID")) == "ID 42"
    assert _direct_integer(*_element(raw, "Rows")) == (True, 512)
    assert _direct_integer(*_element(raw, "SeriesNumber")) == (True, 7)
    # Multiple values, non-ASCII bytes and escapes are left to pydicom.
    ds = _dataset({"PatientID": ("LO", b"A\\B "), "PatientName": ("PN", b"M\xfcller"),
                   "StudyDescription": ("LO", b"\x1b$B")}, ExplicitVRLittleEndian)
    raw, _ = _read_twice(ds)
    assert _direct_text(*_element(raw, "PatientID")) is None
    assert _direct_text(*_element(raw, "PatientName")) is None
    assert _direct_text(*_element(raw, "StudyDescription")) is None


def _dataset(values: dict[str, tuple[str, bytes]], syntax: str) -> bytes:
    """A Part 10 file whose elements hold exactly ``values`` (keyword: (VR, raw bytes)),
    encoded by hand so that no writer pads or converts them."""
    meta = FileMetaDataset()
    meta.TransferSyntaxUID = syntax
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    meta.MediaStorageSOPInstanceUID = "1.2.3.4"
    buffer = io.BytesIO()
    buffer.write(b"\0" * 128 + b"DICM")
    write_file_meta_info(buffer, meta, enforce_standard=True)
    order = ">" if syntax == ExplicitVRBigEndian else "<"
    implicit = syntax == ImplicitVRLittleEndian
    for keyword, (vr, given_value) in sorted(values.items(),
                                             key=lambda kv: tag_for_keyword(kv[0])):
        tag = tag_for_keyword(keyword)
        value = given_value
        if order == ">" and vr == "US":
            value = b"".join(value[i:i + 2][::-1] for i in range(0, len(value), 2))
        head = struct.pack(order + "HH", tag >> 16, tag & 0xFFFF)
        if implicit:
            head += struct.pack("<I", len(value))
        else:
            head += vr.encode() + struct.pack(order + "H", len(value))
        buffer.write(head + value)
    return buffer.getvalue()


_PIECES = st.sampled_from([b"", b" ", b"\x00", b"\\", b"^", b"=", b"\x1b", b"\xe9", b"+",
                           b"-", b"0", b"12", b".", b"e", b"ABC", b"x y", b"\t", b"_"])
_VALUE = st.lists(_PIECES, max_size=6).map(b"".join)
_TEXT_CASES = [("PatientID", "LO"), ("PatientName", "PN"), ("StudyDate", "DA"),
               ("StudyTime", "TM"), ("AccessionNumber", "SH"), ("Modality", "CS"),
               ("StudyInstanceUID", "UI")]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(_VALUE, min_size=len(_TEXT_CASES), max_size=len(_TEXT_CASES)),
       number=_VALUE, rows=st.binary(min_size=0, max_size=4),
       charset=st.sampled_from([b"", b"ISO_IR 100", b"ISO_IR 192", b"ISO 2022 IR 87"]),
       syntax=st.sampled_from([ExplicitVRLittleEndian, ImplicitVRLittleEndian,
                               ExplicitVRBigEndian]))
def test_arbitrary_values_read_the_same(texts: list[bytes], number: bytes, rows: bytes,
                                        charset: bytes, syntax: str) -> None:
    values = {keyword: (vr, text) for (keyword, vr), text in zip(_TEXT_CASES, texts,
                                                                  strict=True)}
    values["SpecificCharacterSet"] = ("CS", charset)
    values["InstanceNumber"] = ("IS", number)
    values["Rows"] = ("US", rows if len(rows) % 2 == 0 else rows + b"\0")
    try:
        _assert_same(_dataset(values, syntax))
    except PydicomReadError:
        assume(False)
