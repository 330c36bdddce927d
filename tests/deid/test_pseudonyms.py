"""Keyed consistency: same key, same pseudonyms and UIDs; another key, unrelated ones."""

from __future__ import annotations

import io
import re

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import UID
from tests.deid.corpus import KEY_A, KEY_B, real_dataset, walk

from dicomvault.deid import Deidentifier, DeidOption, DeidProfile
from dicomvault.dicom.synthetic import generate_study_files
from dicomvault.errors import DeidentificationError

UID_KEYWORDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID")


def _study() -> list[Dataset]:
    """A synthetic two-series study of one patient (CT then MR, shared frame of reference)."""
    return [pydicom.dcmread(io.BytesIO(data))
            for data in generate_study_files(series=2, per_series=3, rows=16, columns=16, seed=8)]


def _deidentify(key: bytes, datasets: list[Dataset], **kwargs: object) -> list[Dataset]:
    deidentifier = Deidentifier(key, DeidProfile(), **kwargs)  # type: ignore[arg-type]
    out = [deidentifier.deidentify(ds).dataset for ds in datasets]
    assert all(item is not None for item in out)
    return out  # type: ignore[return-value]


def test_a_study_stays_a_study_and_series_stay_series() -> None:
    study = _study()
    out = _deidentify(KEY_A, study)
    assert len({str(ds.PatientID) for ds in out}) == 1
    assert {str(ds.PatientName) for ds in out} == {f"{out[0].PatientID}^"}
    assert len({ds.StudyInstanceUID for ds in out}) == 1
    for keyword in ("SeriesInstanceUID", "FrameOfReferenceUID", "SOPInstanceUID"):
        before = [str(ds.get(keyword)) for ds in study]
        after = [str(ds.get(keyword)) for ds in out]
        # a bijection on the values present: equal stays equal, distinct stays distinct
        assert len(set(zip(before, after, strict=True))) == len(set(before)) == len(set(after))
        assert not set(before) & set(after)


def test_same_key_same_result_across_runs_and_objects() -> None:
    study = _study()
    first, second = _deidentify(KEY_A, study), _deidentify(KEY_A, study)
    for a, b in zip(first, second, strict=True):
        for keyword in (*UID_KEYWORDS, "PatientID"):
            assert a.get(keyword) == b.get(keyword)


def test_different_keys_share_no_pseudonym_or_uid() -> None:
    study = _study()
    a_out, b_out = _deidentify(KEY_A, study), _deidentify(KEY_B, study)
    assert a_out[0].PatientID != b_out[0].PatientID
    uids_a = {str(e.value) for ds in a_out for _, e in walk(ds) if e.VR == "UI"}
    uids_b = {str(e.value) for ds in b_out for _, e in walk(ds) if e.VR == "UI"}
    shared = {uid for uid in uids_a & uids_b if not uid.startswith("1.2.840.10008.")}
    assert not shared


def test_different_patients_get_different_pseudonyms() -> None:
    ct, mr = real_dataset("CT_small.dcm"), real_dataset("MR_small.dcm")
    assert ct.PatientID != mr.PatientID
    out_ct, out_mr = _deidentify(KEY_A, [ct, mr])
    assert out_ct.PatientID != out_mr.PatientID
    assert str(out_ct.PatientID) not in (str(ct.PatientID), str(ct.PatientName))


@pytest.mark.parametrize("root", ["2.25", "1.2.826.0.1.3680043.10.1291.99"])
def test_new_uids_are_valid_and_under_the_root(root: str) -> None:
    out = _deidentify(KEY_A, _study(), uid_root=root)
    for ds in out:
        for keyword in UID_KEYWORDS:
            value = UID(str(ds.get(keyword)))
            assert value.is_valid, value
            assert value.startswith(root + ".")
            assert len(value) <= 64
    if root == "2.25":  # a UUID as an integer: below 2**128
        assert all(int(str(ds.SOPInstanceUID).split(".")[2]) < 2**128 for ds in out)


@pytest.mark.parametrize("root", ["", "1.02.3", "1..2", "x.1", "1." + "2" * 45])
def test_bad_uid_roots_are_refused(root: str) -> None:
    with pytest.raises(DeidentificationError):
        Deidentifier(KEY_A, DeidProfile(), uid_root=root)


def test_short_keys_are_refused() -> None:
    with pytest.raises(DeidentificationError):
        Deidentifier(b"short", DeidProfile())


def test_modified_dates_shift_a_patient_consistently() -> None:
    """One patient, two studies on different days: both move by the same whole days."""
    early, late = real_dataset("CT_small.dcm"), real_dataset("CT_small.dcm")
    early.StudyDate, late.StudyDate = "20200101", "20200315"
    late.StudyInstanceUID = "1.2.3.4.5"
    profile = DeidProfile(frozenset({DeidOption.RETAIN_LONGITUDINAL_MODIFIED_DATES}))
    deidentifier = Deidentifier(KEY_A, profile)
    out_early = deidentifier.deidentify(early).dataset
    out_late = deidentifier.deidentify(late).dataset
    assert out_early is not None and out_late is not None
    assert re.fullmatch(r"\d{8}", str(out_early.StudyDate))
    assert out_early.StudyDate != "20200101"
    days = [(pydicom.valuerep.DA(str(ds.StudyDate)) - pydicom.valuerep.DA(original)).days
            for ds, original in ((out_early, "20200101"), (out_late, "20200315"))]
    assert days[0] == days[1] < 0
    other_key = Deidentifier(KEY_B, profile).deidentify(early).dataset
    assert other_key is not None and other_key.StudyDate != out_early.StudyDate
