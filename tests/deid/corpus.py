"""Test data for de-identification: real files, files built from them, and the table itself.

* :func:`real_datasets`: every file of pydicom's test data and of pydicom-data
  that pydicom reads (``get_testdata_files``), by name.
* :func:`with_private_blocks`: a real CT with private blocks at the top level
  and inside nested sequences, some on the safe-private list.
* :func:`referencing_sr` / :func:`referencing_seg` / the real ``rtstruct.dcm``:
  instances whose references (Referenced SOP Instance UID, Study/Series
  Instance UID in sequences, Frame of Reference UID) point at real CT/MR
  instances, to check the references still resolve after remapping.
* :func:`table_rows`: Table E.1-1 read straight from the package's TSV with
  ``csv``, independently of ``dicomvault.deid.table``, so the tests check the
  code against the data, not against itself.
"""

from __future__ import annotations

import copy
import csv
import functools
import warnings
from collections.abc import Iterator
from pathlib import Path

import pydicom
from pydicom.data import get_testdata_file, get_testdata_files
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

import dicomvault.deid

TABLE_TSV = Path(dicomvault.deid.__file__).parent / "data" / "confidentiality_profile.tsv"
SAFE_PRIVATE_TSV = Path(dicomvault.deid.__file__).parent / "data" / "safe_private.tsv"
KEY_A = bytes(range(32))
KEY_B = bytes(range(1, 33))


def read(path: str | Path) -> Dataset:
    """Read a test file; pydicom's warnings about the odd ones do not fail the test.

    Files without the Part 10 header (``rtstruct.dcm`` and others) are read
    with ``force`` when what comes out is a composite instance (has a SOP
    Class UID); anything else raises.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return pydicom.dcmread(str(path))
        except InvalidDicomError:
            dataset = pydicom.dcmread(str(path), force=True)
            if "SOPClassUID" not in dataset:
                raise
            return dataset


def real_dataset(name: str) -> Dataset:
    return read(str(get_testdata_file(name)))


@functools.cache
def real_file_paths() -> list[str]:
    """Every pydicom / pydicom-data test file pydicom can read as a data set."""
    readable = []
    for path in sorted(get_testdata_files()):
        try:
            read(path)
        except Exception:
            continue
        readable.append(path)
    return readable


def walk(dataset: Dataset, path: str = "") -> Iterator[tuple[str, DataElement]]:
    """Every element at every depth (sequence items included), with where it is."""
    for element in dataset:
        yield path, element
        if element.VR == "SQ" and element.value is not None:
            for index, item in enumerate(element.value):
                yield from walk(item, f"{path}{element.keyword or element.tag}[{index}].")


@functools.cache
def table_rows() -> list[dict[str, str]]:
    with TABLE_TSV.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def table_row_for(tag: int) -> dict[str, str] | None:
    """The TSV row governing ``tag`` (exact match, or the curve/overlay wildcards)."""
    text = f"{tag >> 16:04X}{tag & 0xFFFF:04X}"
    for row in table_rows():
        digits = row["tag"].strip("()").replace(",", "")
        if len(digits) != 8:
            continue
        if all(p in "X" or p == c for p, c in zip(digits.upper(), text, strict=True)):
            if "X" in digits.upper() and (tag >> 16) & 1:
                continue
            return row
    return None


def _private_block(dataset: Dataset, group: int, creator: str,
                   values: dict[int, tuple[str, object]], slot: int = 0x10) -> None:
    dataset.add_new((group << 16) | slot, "LO", creator)
    for offset, (vr, value) in values.items():
        dataset.add_new((group << 16) | (slot << 8) | offset, vr, value)


def with_private_blocks() -> Dataset:
    """CT_small with many private attributes, some nested, two on the safe list."""
    ds = real_dataset("CT_small.dcm")
    _private_block(ds, 0x0019, "SIEMENS MR HEADER", {
        0x0C: ("IS", "1000"),                       # B value: safe
        0x0E: ("FD", [0.0, 0.70710678, 0.70710678]),  # diffusion gradient direction: safe
        0x08: ("CS", "IMAGE NUM 4"),                # not on the list
    }, slot=0x11)
    _private_block(ds, 0x0029, "ACME PHI STORE", {
        0x01: ("LO", "DOE^JOHN"),
        0x02: ("LO", "1234567-MRN"),
        0x03: ("DA", "19611231"),
    })
    _private_block(ds, 0x2001, "Philips Imaging DD 001", {
        0x03: ("FL", 800.0),                        # Diffusion B-Factor: safe
        0x10: ("LO", "CARDIOLOGY ST MARY"),
    })
    nested = Dataset()
    nested.PatientName = "NESTED^PATIENT"
    _private_block(nested, 0x0033, "ACME NESTED", {0x01: ("LO", "NESTED-SECRET-ID")})
    inner = Dataset()
    _private_block(inner, 0x0035, "ACME DEEPER", {0x02: ("UT", "deep secret note")})
    nested.add_new(0x00331002, "SQ", Sequence([inner]))
    nested.ReferencedSOPClassUID = ds.SOPClassUID
    nested.ReferencedSOPInstanceUID = generate_uid()
    ds.ReferencedImageSequence = Sequence([nested])  # X/Z/U*: kept, items walked
    return ds


def _file_meta(ds: Dataset) -> None:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta


def _patient_and_study(target: Dataset, source: Dataset) -> None:
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex",
                    "StudyInstanceUID", "StudyDate", "StudyTime", "AccessionNumber",
                    "ReferringPhysicianName", "StudyID"):
        if keyword in source:
            setattr(target, keyword, copy.deepcopy(source.get(keyword)))


def _sop_reference(target: Dataset) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = target.SOPClassUID
    item.ReferencedSOPInstanceUID = target.SOPInstanceUID
    return item


def referencing_sr(targets: list[Dataset]) -> Dataset:
    """A Comprehensive SR in the targets' study citing each target image.

    References sit in Current Requested Procedure Evidence Sequence (study >
    series > instance) and in IMAGE content items of the Content Sequence,
    next to a TEXT item naming the patient and a PNAME item.
    """
    first = targets[0]
    sr = Dataset()
    sr.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.33"
    sr.SOPInstanceUID = generate_uid()
    sr.SeriesInstanceUID = generate_uid()
    sr.Modality = "SR"
    sr.SeriesNumber = 99
    sr.InstanceNumber = 1
    sr.ContentDate = "20200105"
    sr.ContentTime = "101010"
    sr.Manufacturer = "dicomvault tests"
    _patient_and_study(sr, first)
    sr.ValueType = "CONTAINER"
    sr.ContinuityOfContent = "SEPARATE"
    sr.CompletionFlag = "COMPLETE"
    sr.VerificationFlag = "UNVERIFIED"
    concept = Dataset()
    concept.CodeValue, concept.CodingSchemeDesignator, concept.CodeMeaning = (
        "18748-4", "LN", "Diagnostic Imaging Report")
    sr.ConceptNameCodeSequence = Sequence([concept])
    evidence: dict[str, dict[str, list[Dataset]]] = {}
    for target in targets:
        evidence.setdefault(str(target.StudyInstanceUID), {}).setdefault(
            str(target.SeriesInstanceUID), []).append(target)
    study_items = []
    for study_uid, series in evidence.items():
        study_item = Dataset()
        study_item.StudyInstanceUID = study_uid
        series_items = []
        for series_uid, instances in series.items():
            series_item = Dataset()
            series_item.SeriesInstanceUID = series_uid
            series_item.ReferencedSOPSequence = Sequence([_sop_reference(i) for i in instances])
            series_items.append(series_item)
        study_item.ReferencedSeriesSequence = Sequence(series_items)
        study_items.append(study_item)
    sr.CurrentRequestedProcedureEvidenceSequence = Sequence(study_items)
    content = []
    text = Dataset()
    text.RelationshipType, text.ValueType = "CONTAINS", "TEXT"
    text.ConceptNameCodeSequence = Sequence([concept])
    text.TextValue = f"Findings for {first.PatientName} ({first.PatientID}): no change."
    content.append(text)
    observer = Dataset()
    observer.RelationshipType, observer.ValueType = "HAS OBS CONTEXT", "PNAME"
    observer.ConceptNameCodeSequence = Sequence([concept])
    observer.PersonName = "READER^ROBERT"
    content.append(observer)
    for target in targets:
        image = Dataset()
        image.RelationshipType, image.ValueType = "CONTAINS", "IMAGE"
        image.ConceptNameCodeSequence = Sequence([concept])
        image.ReferencedSOPSequence = Sequence([_sop_reference(target)])
        content.append(image)
    sr.ContentSequence = Sequence(content)
    _file_meta(sr)
    return sr


def referencing_seg(source: Dataset) -> Dataset:
    """A one-frame binary SEG of ``source`` (same study and frame of reference)."""
    seg = Dataset()
    seg.SOPClassUID = "1.2.840.10008.5.1.4.1.1.66.4"
    seg.SOPInstanceUID = generate_uid()
    seg.SeriesInstanceUID = generate_uid()
    seg.Modality = "SEG"
    seg.SeriesNumber = 98
    seg.InstanceNumber = 1
    seg.ContentDate, seg.ContentTime = "20200105", "101010"
    seg.Manufacturer = "dicomvault tests"
    _patient_and_study(seg, source)
    seg.FrameOfReferenceUID = source.FrameOfReferenceUID
    series = Dataset()
    series.SeriesInstanceUID = source.SeriesInstanceUID
    series.ReferencedInstanceSequence = Sequence([_sop_reference(source)])
    seg.ReferencedSeriesSequence = Sequence([series])
    derivation = Dataset()
    derivation.SourceImageSequence = Sequence([_sop_reference(source)])
    frame = Dataset()
    frame.DerivationImageSequence = Sequence([derivation])
    seg.PerFrameFunctionalGroupsSequence = Sequence([frame])
    seg.SegmentSequence = Sequence([Dataset()])
    seg.SegmentSequence[0].SegmentNumber = 1
    seg.SegmentSequence[0].SegmentLabel = "lesion"
    seg.Rows, seg.Columns = 8, 8
    seg.SamplesPerPixel, seg.PhotometricInterpretation = 1, "MONOCHROME2"
    seg.BitsAllocated = seg.BitsStored = 1
    seg.HighBit, seg.PixelRepresentation = 0, 0
    seg.NumberOfFrames = 1
    seg.PixelData = bytes([0b10101010] * 8)
    _file_meta(seg)
    return seg
