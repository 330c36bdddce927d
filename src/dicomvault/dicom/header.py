"""Reading and validating the header of an incoming DICOM Part 10 file.

Ingest step 1 of ARCHITECTURE.md: read the header (stopping before pixel
data), check the identifying UIDs and the SOP class, and check that the file
is complete, so that a malformed or truncated file is refused before anything
is stored. Errors name the problem, never a patient attribute's value.
"""

from __future__ import annotations

import functools
import io
import struct
import zlib
from dataclasses import dataclass
from typing import Any

import pydicom
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.tag import BaseTag
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian

from dicomvault.dicom.structure import check_structure
from dicomvault.errors import (
    MissingAttributeError,
    NotDicomError,
    SOPClassMismatchError,
)
from dicomvault.index.records import (
    InstanceAttributes,
    PatientAttributes,
    SeriesAttributes,
    StudyAttributes,
)


def quiet_pydicom() -> None:
    """Stop pydicom from logging element values (it warns with the value: PHI in logs).

    pydicom's validation mode is process-global; dicomvault validates what it
    needs itself, so reading and writing validation are set to IGNORE once.
    """
    pydicom.config.settings.reading_validation_mode = pydicom.config.IGNORE
    pydicom.config.settings.writing_validation_mode = pydicom.config.IGNORE


quiet_pydicom()


@dataclass(frozen=True, slots=True)
class ParsedHeader:
    """What ingest needs from a header: index attributes and the header cache."""

    patient: PatientAttributes
    study: StudyAttributes
    series: SeriesAttributes
    instance: InstanceAttributes
    header_bytes: bytes  # Part 10 bytes up to (excluding) pixel data, zlib-compressed
    pixel_offset: int | None  # where the pixel data element starts, if any


#: VRs whose single, plain-ASCII value pydicom converts to the decoded text less its
#: trailing NULs and spaces (PS3.5 6.2): CS/DA/TM by ``multi_string``, LO/SH by
#: ``convert_text``, PN by ``convert_PN`` (one component group), UI by ``convert_UI``.
_PLAIN_TEXT_VRS = frozenset({"CS", "DA", "LO", "PN", "SH", "TM", "UI"})
#: Longest IS value read directly: below 2**53 pydicom's float-based IS is exact too.
_MAX_DIRECT_IS_CHARS = 15
_INTEGER_VRS = frozenset({"IS", "US"})
_ESC = 0x1B


@functools.cache
def _tag_and_vr(keyword: str) -> tuple[BaseTag, str]:
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise KeyError(keyword)
    return BaseTag(tag), dictionary_VR(tag)  # a BaseTag: pydicom takes it as it is


def _element(ds: Dataset, keyword: str) -> tuple[Any, str]:
    """(the element as stored in ``ds``: raw, converted or ``None``; its dictionary VR)."""
    tag, dictionary_vr = _tag_and_vr(keyword)
    return ds.get_item(tag, keep_deferred=True), dictionary_vr


def _raw_value(elem: Any, dictionary_vr: str, vrs: frozenset[str]) -> bytes | None:
    """The undecoded value of ``elem`` if pydicom has not converted it yet and its VR
    (explicit, or the dictionary's for implicit VR) is the dictionary's and one of
    ``vrs``; else ``None`` (pydicom decodes it).

    Ingest reads some 40 attributes of every header; letting pydicom convert each
    (keyword lookup, character set, hooks, value classes) cost about 0.6 ms an
    instance, more than reading the header. The plain cases are decoded here;
    everything else (non-ASCII, escapes, multiple values, other VRs) goes through
    pydicom as before, with the same result (tests/dicom/test_header_fast.py).
    """
    if not isinstance(elem, RawDataElement) or elem.value is None:
        return None
    if (elem.VR or dictionary_vr) != dictionary_vr or dictionary_vr not in vrs:
        return None
    value: bytes = elem.value
    return value


def _direct_text(elem: Any, dictionary_vr: str) -> str | None:
    """``_text`` of a single plain-ASCII value, decoded here (``None``: ask pydicom)."""
    value = _raw_value(elem, dictionary_vr, _PLAIN_TEXT_VRS)
    if value is None or not value.isascii() or b"\\" in value or _ESC in value:
        return None
    if b"=" in value and dictionary_vr == "PN":
        return None  # component groups: PersonName drops empty ones ("=" reads as "")
    return value.decode("ascii").rstrip("\0 ").strip()


def _direct_integer(elem: Any, dictionary_vr: str) -> tuple[bool, int | None]:
    """(decoded here, value) of ``_integer`` for a plain IS or a 2-byte US value."""
    value = _raw_value(elem, dictionary_vr, _INTEGER_VRS)
    if value is None:
        return False, None
    if dictionary_vr == "US":
        if len(value) != 2:
            return False, None
        return True, int.from_bytes(value, "little" if elem.is_little_endian else "big")
    if not value.isascii() or b"\\" in value:
        return False, None
    text = value.decode("ascii").rstrip(" \0").strip()
    if not text:
        return True, None
    digits = text[1:] if text[:1] in ("+", "-") else text
    if len(text) > _MAX_DIRECT_IS_CHARS or not digits.isdigit():
        return False, None
    return True, int(text)


def _text(ds: Dataset, keyword: str) -> str:
    elem, dictionary_vr = _element(ds, keyword)
    if elem is None:
        return ""
    direct = _direct_text(elem, dictionary_vr)
    if direct is not None:
        return direct
    value = ds.get(keyword)
    if value is None or value == "":
        return ""
    if isinstance(value, pydicom.multival.MultiValue):
        return "\\".join(str(item) for item in value)
    return str(value).strip()


def _integer(ds: Dataset, keyword: str) -> int | None:
    elem, dictionary_vr = _element(ds, keyword)
    if elem is None:
        return None
    decoded, direct = _direct_integer(elem, dictionary_vr)
    if decoded:
        return direct
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _required_uid(ds: Dataset, keyword: str) -> str:
    value = _text(ds, keyword)
    if not value:
        raise MissingAttributeError(f"{keyword} is missing")
    if not UID(value).is_valid:
        raise MissingAttributeError(f"{keyword} is not a valid UID")
    return value


def read_header(data: bytes) -> tuple[Dataset, int | None]:
    """Parse a Part 10 file's header (file meta required, pixel data skipped).

    Returns the data set and the offset at which the pixel data element starts
    (``None`` when the file has none within ``data``).
    """
    stream = io.BytesIO(data)
    try:
        ds = pydicom.dcmread(stream, stop_before_pixels=True, force=False)
    except InvalidDicomError as exc:
        raise NotDicomError(
            "body is not a DICOM PS3.10 file (no preamble and DICM prefix)"
        ) from exc
    except (EOFError, ValueError, KeyError, TypeError, struct.error, OSError, zlib.error) as exc:
        raise NotDicomError("DICOM header is malformed or truncated") from exc
    offset = stream.tell()
    return ds, (offset if offset < len(data) else None)


def parse_incoming(prefix: bytes, total_size: int, tail: bytes) -> ParsedHeader:
    """Validate an incoming file and extract what the index needs.

    ``prefix`` is the start of the file (the whole file when it fits the
    ingest buffer), ``total_size`` its length and ``tail`` its last bytes.
    """
    ds, offset = read_header(prefix)
    meta = ds.file_meta
    transfer_syntax = _text(meta, "TransferSyntaxUID")
    if not transfer_syntax or not UID(transfer_syntax).is_valid:
        raise MissingAttributeError("file meta TransferSyntaxUID is missing or invalid")
    deflated = transfer_syntax == DeflatedExplicitVRLittleEndian
    if deflated:
        offset = None  # the whole data set was inflated and read: zlib saw its end
    else:
        check_structure(prefix, total_size, tail, transfer_syntax)
    sop_class = _required_uid(ds, "SOPClassUID")
    sop_instance = _required_uid(ds, "SOPInstanceUID")
    study_uid = _required_uid(ds, "StudyInstanceUID")
    series_uid = _required_uid(ds, "SeriesInstanceUID")
    media_class = _text(meta, "MediaStorageSOPClassUID")
    if media_class and media_class != sop_class:
        raise SOPClassMismatchError("MediaStorageSOPClassUID does not match SOPClassUID")
    # A MediaStorageSOPInstanceUID that differs from SOPInstanceUID is common in real
    # files (pydicom's own rtplan.dcm has one); the data set's own UID is authoritative.

    if offset is not None:
        header_part10 = prefix[:offset]
    elif deflated or len(prefix) < total_size:
        header_part10 = _reencode_header(ds)
    else:
        header_part10 = prefix

    return ParsedHeader(
        patient=PatientAttributes(
            PatientID=_text(ds, "PatientID"),
            IssuerOfPatientID=_text(ds, "IssuerOfPatientID"),
            PatientName=_text(ds, "PatientName"),
            PatientBirthDate=_text(ds, "PatientBirthDate"),
            PatientSex=_text(ds, "PatientSex"),
        ),
        study=StudyAttributes(
            StudyInstanceUID=study_uid,
            StudyDate=_text(ds, "StudyDate"),
            StudyTime=_text(ds, "StudyTime"),
            AccessionNumber=_text(ds, "AccessionNumber"),
            StudyID=_text(ds, "StudyID"),
            StudyDescription=_text(ds, "StudyDescription"),
            ReferringPhysicianName=_text(ds, "ReferringPhysicianName"),
            InstitutionName=_text(ds, "InstitutionName"),
            InstitutionalDepartmentName=_text(ds, "InstitutionalDepartmentName"),
            TimezoneOffsetFromUTC=_text(ds, "TimezoneOffsetFromUTC"),
            SpecificCharacterSet=_text(ds, "SpecificCharacterSet"),
        ),
        series=SeriesAttributes(
            SeriesInstanceUID=series_uid,
            Modality=_text(ds, "Modality"),
            SeriesNumber=_integer(ds, "SeriesNumber"),
            SeriesDescription=_text(ds, "SeriesDescription"),
            BodyPartExamined=_text(ds, "BodyPartExamined"),
            PerformedProcedureStepStartDate=_text(ds, "PerformedProcedureStepStartDate"),
            PerformedProcedureStepStartTime=_text(ds, "PerformedProcedureStepStartTime"),
            ScheduledProcedureStepID=_request_attribute(ds, "ScheduledProcedureStepID"),
            RequestedProcedureID=_request_attribute(ds, "RequestedProcedureID"),
        ),
        instance=InstanceAttributes(
            SOPInstanceUID=sop_instance,
            SOPClassUID=sop_class,
            TransferSyntaxUID=transfer_syntax,
            InstanceNumber=_integer(ds, "InstanceNumber"),
            Rows=_integer(ds, "Rows"),
            Columns=_integer(ds, "Columns"),
            BitsAllocated=_integer(ds, "BitsAllocated"),
            NumberOfFrames=_integer(ds, "NumberOfFrames"),
        ),
        header_bytes=zlib.compress(header_part10, 1),
        pixel_offset=offset,
    )


def _request_attribute(ds: Dataset, keyword: str) -> str:
    """First value of ``keyword`` in RequestAttributesSequence (QIDO series key)."""
    sequence = ds.get("RequestAttributesSequence")
    if not sequence:
        return ""
    return _text(sequence[0], keyword)


def _reencode_header(ds: Dataset) -> bytes:
    """Header without pixel data, re-encoded explicit VR LE (deflated or huge files)."""
    copy = Dataset(ds)
    copy.file_meta = pydicom.dataset.FileMetaDataset(ds.file_meta)
    copy.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, copy, enforce_file_format=False)
    return buffer.getvalue()


def load_header(header_bytes: bytes) -> Dataset:
    """Read back the cached header written by :func:`parse_incoming`."""
    return pydicom.dcmread(io.BytesIO(zlib.decompress(header_bytes)), force=True)
