"""Each PS3.15 E.3 option changes exactly what its column of Table E.1-1 says."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset
from tests.deid.corpus import KEY_A, real_dataset, table_rows

from dicomvault.deid import Deidentifier, DeidOption, DeidProfile
from dicomvault.deid.table import Action, standard_table
from dicomvault.errors import DeidentificationError


def _run(*options: DeidOption, dataset: Dataset | None = None) -> Dataset:
    ds = dataset if dataset is not None else real_dataset("CT_small.dcm")
    out = Deidentifier(KEY_A, DeidProfile(frozenset(options))).deidentify(ds).dataset
    assert out is not None
    return out


def _codes(ds: Dataset) -> list[str]:
    return [str(item.CodeValue) for item in ds.DeidentificationMethodCodeSequence]


def test_basic_profile_alone() -> None:
    original = real_dataset("CT_small.dcm")
    out = _run()
    assert _codes(out) == ["113100"]
    assert out.LongitudinalTemporalInformationModified == "REMOVED"
    assert out.StudyDate == "" and out.StudyInstanceUID != original.StudyInstanceUID
    assert "PatientAge" not in out and "PatientWeight" not in out and out.PatientSex == ""
    assert "StudyDescription" not in out
    assert out.StationName == "ANONYMOUS"


def test_retain_uids() -> None:
    original = real_dataset("CT_small.dcm")
    out = _run(DeidOption.RETAIN_UIDS)
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID",
                    "FrameOfReferenceUID"):
        assert out.get(keyword) == original.get(keyword)
    assert _codes(out) == ["113100", "113110"]


def test_retain_full_dates() -> None:
    original = real_dataset("CT_small.dcm")
    out = _run(DeidOption.RETAIN_LONGITUDINAL_FULL_DATES)
    for keyword in ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate", "StudyTime"):
        assert out.get(keyword) == original.get(keyword)
    assert out.PatientBirthDate == ""  # not a longitudinal date: the option does not cover it
    assert out.LongitudinalTemporalInformationModified == "UNMODIFIED"
    assert _codes(out) == ["113100", "113106"]


def test_retain_modified_dates() -> None:
    original = real_dataset("CT_small.dcm")
    out = _run(DeidOption.RETAIN_LONGITUDINAL_MODIFIED_DATES)
    assert out.StudyDate not in ("", original.StudyDate)
    assert out.StudyTime == original.StudyTime  # whole-day shift
    assert out.LongitudinalTemporalInformationModified == "MODIFIED"
    assert _codes(out) == ["113100", "113107"]


def test_retain_patient_characteristics() -> None:
    original = real_dataset("CT_small.dcm")
    out = _run(DeidOption.RETAIN_PATIENT_CHARACTERISTICS)
    for keyword in ("PatientSex", "PatientAge", "PatientWeight"):
        assert out.get(keyword) == original.get(keyword), keyword
    assert out.PatientBirthDate == ""
    assert _codes(out) == ["113100", "113108"]


def test_retain_device_identity() -> None:
    ds = real_dataset("CT_small.dcm")
    ds.DeviceSerialNumber = "SN-4711"
    ds.StationName = "CTSCAN01"
    ds.GantryID = "G7"
    out = _run(DeidOption.RETAIN_DEVICE_IDENTITY, dataset=ds)
    assert (out.DeviceSerialNumber, out.StationName, out.GantryID) == ("SN-4711", "CTSCAN01", "G7")
    basic = _run(dataset=ds)
    assert basic.DeviceSerialNumber == "ANONYMOUS" and "GantryID" not in basic
    assert _codes(out) == ["113100", "113109"]


def test_clean_descriptors_keeps_descriptions_without_the_identities_they_name() -> None:
    ds = real_dataset("CT_small.dcm")
    family = str(ds.PatientName).split("^")[0]
    ds.StudyDescription = f"CT CHEST for {family} {ds.PatientID}"
    ds.SeriesDescription = "AXIAL 5MM"
    out = _run(DeidOption.CLEAN_DESCRIPTORS, dataset=ds)
    assert out.SeriesDescription == "AXIAL 5MM"
    assert out.StudyDescription.startswith("CT CHEST for")
    assert family not in out.StudyDescription and str(ds.PatientID) not in out.StudyDescription
    assert _codes(out) == ["113100", "113105"]


def test_several_options_list_every_code_in_order() -> None:
    out = _run(DeidOption.RETAIN_UIDS, DeidOption.CLEAN_DESCRIPTORS,
               DeidOption.RETAIN_LONGITUDINAL_MODIFIED_DATES)
    assert _codes(out) == ["113100", "113105", "113107", "113110"]
    assert list(out.DeidentificationMethod)[1:] == [
        "clean-descriptors", "retain-longitudinal-modified-dates", "retain-uids"]


def test_profile_names_round_trip_and_unknown_names_are_refused() -> None:
    profile = DeidProfile.from_names(["retain-uids", " Clean-Descriptors "], allow_burned_in=True)
    assert profile.names() == ["clean-descriptors", "retain-uids"]
    assert profile.allow_burned_in
    assert DeidProfile.from_names(profile.names()) == DeidProfile(profile.options)
    with pytest.raises(DeidentificationError, match="retain-everything"):
        DeidProfile.from_names(["retain-everything"])


def test_full_and_modified_dates_exclude_each_other() -> None:
    with pytest.raises(DeidentificationError):
        DeidProfile.from_names(["retain-longitudinal-full-dates",
                                "retain-longitudinal-modified-dates"])


def test_the_shipped_table_is_the_whole_table() -> None:
    rows = table_rows()
    assert len(rows) == 460
    assert len(standard_table().rules) == len(rows)
    assert {row["basic_profile"] for row in rows} == {
        "D", "Z", "X", "U", "Z/D", "X/Z", "X/D", "X/Z/D", "X/Z/U*"}


@pytest.mark.parametrize("option", list(DeidOption))
def test_each_option_column_overrides_the_basic_profile(option: DeidOption) -> None:
    """For every row the option's column speaks about, the resolved action is that column's code."""
    column = {
        DeidOption.RETAIN_SAFE_PRIVATE: "rtn_safe_private", DeidOption.RETAIN_UIDS: "rtn_uids",
        DeidOption.RETAIN_DEVICE_IDENTITY: "rtn_device_id",
        DeidOption.RETAIN_PATIENT_CHARACTERISTICS: "rtn_patient_chars",
        DeidOption.RETAIN_LONGITUDINAL_FULL_DATES: "rtn_long_full_dates",
        DeidOption.RETAIN_LONGITUDINAL_MODIFIED_DATES: "rtn_long_modified_dates",
        DeidOption.CLEAN_DESCRIPTORS: "clean_descriptors",
    }[option]
    profile = DeidProfile(frozenset({option}))
    spoken = [row for row in table_rows() if row[column]]
    assert spoken
    by_tag = {rule.tag: rule for rule in standard_table().rules}
    for row in spoken:
        assert by_tag[row["tag"]].action(profile) == Action(row[column]), row["name"]
