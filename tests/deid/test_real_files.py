"""The Basic Profile over every real test file: nothing it removes survives, output still works.

Each of pydicom's and pydicom-data's readable files (about 230: CT, MR, CR,
US, NM, RT, SR, DICOMDIRs, odd encodings) goes through the de-identifier;
the output is checked against Table E.1-1 read straight from the TSV, at
every depth, then written, re-read, and its pixels decoded and compared with
the input's.
"""

from __future__ import annotations

import copy
import io
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from tests.deid.corpus import KEY_A, read, real_dataset, real_file_paths, table_row_for, walk

from dicomvault.deid import Deidentifier, DeidOutcome, DeidProfile, part10_bytes

#: What the de-identifier may leave in a D/Z/U-coded attribute that also happened to be the input.
DUMMY_STRINGS = {"ANONYMOUS", "ANONYMOUS^", "19000101", "000000", "19000101000000", "0", "000Y"}
PATIENT_NAME, PATIENT_ID = 0x00100010, 0x00100020
#: X in the table but Type 2 in an IOD: emptied instead of removed (docs/deid.md).
TYPE2_KEPT_EMPTY = {0x300A00B2}


def _original_values(dataset: Dataset) -> dict[int, set[str]]:
    values: dict[int, set[str]] = {}
    for _, element in walk(dataset):
        if element.VR != "SQ" and not element.is_empty:
            values.setdefault(int(element.tag), set()).add(str(element.value))
    return values


def assert_profile_applied(original: Dataset, outcome: DeidOutcome) -> None:
    """Basic Profile, no options: the table's verdict holds for every attribute at any depth."""
    out = outcome.dataset
    assert out is not None
    originals = _original_values(original)
    pseudonym = str(out.PatientID)
    for path, element in walk(out):
        tag = int(element.tag)
        where = f"{path}{element.keyword or element.tag}"
        assert not element.tag.is_private, f"private attribute {where} survived"
        if element.VR == "PN" and not element.is_empty:
            assert str(element.value) in {"ANONYMOUS^", f"{pseudonym}^"}, f"person name in {where}"
        row = table_row_for(tag)
        if row is None:
            continue
        basic = row["basic_profile"]
        if basic == "X" and tag in TYPE2_KEPT_EMPTY:
            assert element.is_empty, f"{row['name']} {where} should be empty"
            continue
        assert basic != "X", f"{row['name']} {where} should have been removed"
        if element.VR == "SQ" or element.is_empty:
            continue
        value = str(element.value)
        if tag in (PATIENT_NAME, PATIENT_ID) and not path:
            assert value.rstrip("^") == pseudonym
            continue
        assert basic != "Z", f"{row['name']} {where} should be empty"
        assert value not in originals.get(tag, set()) or value in DUMMY_STRINGS, (
            f"{row['name']} {where} kept its original value (action {basic})")


def _identifying_strings(original: Dataset) -> list[str]:
    found = []
    for keyword in ("PatientName", "PatientID", "OtherPatientIDs", "AccessionNumber"):
        value = str(original.get(keyword, "") or "").strip()
        if len(value) >= 5 and value.upper() not in DUMMY_STRINGS:
            found.append(value)
    return found


def _header_bytes(dataset: Dataset) -> bytes:
    header = copy.deepcopy(dataset)
    for keyword in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"):
        if keyword in header:
            delattr(header, keyword)
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, header, enforce_file_format=False)
    return buffer.getvalue()


def _pixels(dataset: Dataset) -> np.ndarray | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return dataset.pixel_array
    except Exception:
        return None


@pytest.mark.parametrize("path", real_file_paths(), ids=lambda p: Path(p).name)
def test_real_file_is_deidentified_and_still_valid(path: str) -> None:
    original = read(path)
    snapshot = copy.deepcopy(original)
    deidentifier = Deidentifier(KEY_A, DeidProfile(allow_burned_in=True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom complains about the odd files' own values
        outcome = deidentifier.deidentify(original)
    assert original == snapshot, "the input data set was modified"
    assert outcome.held_back_reason is None
    assert_profile_applied(original, outcome)
    out = outcome.dataset
    assert out is not None
    assert out.PatientIdentityRemoved == "YES"
    assert out.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
    header = _header_bytes(out)
    for text in _identifying_strings(original):
        assert text.encode() not in header, "an identifying value survives somewhere in the header"
    if "SOPClassUID" not in original or "SOPInstanceUID" not in original:
        return  # DICOMDIRs and fragments: no Part 10 instance to write
    data = part10_bytes(out)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = pydicom.dcmread(io.BytesIO(data))
    assert again.SOPInstanceUID == out.SOPInstanceUID != original.SOPInstanceUID
    assert again.file_meta.MediaStorageSOPInstanceUID == out.SOPInstanceUID
    assert again.preamble == b"\x00" * 128
    before = _pixels(original)
    if before is not None:
        after = _pixels(again)
        assert after is not None, "pixel data no longer decodes"
        np.testing.assert_array_equal(after, before)


@pytest.mark.parametrize("leak", ["removed", "emptied", "kept-value", "private", "nested-name"])
def test_the_checker_catches_each_kind_of_leak(leak: str) -> None:
    """The check above fails when the profile is not applied (it is not vacuous)."""
    original = real_dataset("CT_small.dcm")
    outcome = Deidentifier(KEY_A, DeidProfile()).deidentify(original)
    out = outcome.dataset
    assert out is not None
    assert_profile_applied(original, outcome)
    if leak == "removed":
        out.OtherPatientIDs = "SOMEONE-ELSE"
    elif leak == "emptied":
        out.AccessionNumber = "A12345"
    elif leak == "kept-value":
        out.InstitutionName = original.InstitutionName
    elif leak == "private":
        out.add_new(0x00291010, "LO", "x")
    else:
        item = Dataset()
        item.PatientName = "DOE^JANE"
        out.ReferencedStudySequence = [item]
    with pytest.raises(AssertionError):
        assert_profile_applied(original, outcome)
