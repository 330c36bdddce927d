"""References inside SR, SEG and RTSTRUCT still resolve after UID remapping."""

from __future__ import annotations

import io

import pydicom
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from tests.deid.corpus import KEY_A, real_dataset, referencing_seg, referencing_sr, walk

from dicomvault.deid import Deidentifier, DeidOption, DeidProfile
from dicomvault.dicom.synthetic import generate_study_files


def _targets() -> list[Dataset]:
    return [pydicom.dcmread(io.BytesIO(data))
            for data in generate_study_files(series=2, per_series=2, rows=16, columns=16, seed=3)]


def _released(deidentifier: Deidentifier, dataset: Dataset) -> Dataset:
    out = deidentifier.deidentify(dataset).dataset
    assert out is not None
    return out


def _uids(dataset: Dataset, keyword: str) -> set[str]:
    return {str(e.value) for _, e in walk(dataset) if e.keyword == keyword}


def test_sr_references_point_at_the_remapped_instances() -> None:
    targets = _targets()
    sr = referencing_sr(targets)
    deidentifier = Deidentifier(KEY_A, DeidProfile())
    out_targets = [_released(deidentifier, ds) for ds in targets]
    out_sr = _released(deidentifier, sr)

    new_instances = {str(ds.SOPInstanceUID) for ds in out_targets}
    cited = _uids(out_sr, "ReferencedSOPInstanceUID")
    assert cited == new_instances  # every citation resolves, in evidence and in content items
    assert _uids(out_sr, "SeriesInstanceUID") == (
        {str(ds.SeriesInstanceUID) for ds in out_targets} | {str(out_sr.SeriesInstanceUID)})
    assert _uids(out_sr, "StudyInstanceUID") == {str(out_targets[0].StudyInstanceUID)}
    # the SR stays in the study and with the patient of its images
    assert out_sr.StudyInstanceUID == out_targets[0].StudyInstanceUID
    assert out_sr.PatientID == out_targets[0].PatientID
    # class UIDs are not instance UIDs: kept
    assert _uids(out_sr, "ReferencedSOPClassUID") == {str(ds.SOPClassUID) for ds in targets}


def test_sr_text_and_names_in_content_items_do_not_survive() -> None:
    targets = _targets()
    out_sr = _released(Deidentifier(KEY_A, DeidProfile()), referencing_sr(targets))
    text = [e.value for _, e in walk(out_sr) if e.keyword == "TextValue"]
    names = [str(e.value) for _, e in walk(out_sr) if e.keyword == "PersonName"]
    assert text == ["ANONYMOUS"]
    assert names == ["ANONYMOUS^"]


def test_seg_references_and_frame_of_reference_follow_the_source() -> None:
    source = _targets()[0]
    seg = referencing_seg(source)
    deidentifier = Deidentifier(KEY_A, DeidProfile())
    out_source = _released(deidentifier, source)
    out_seg = _released(deidentifier, seg)
    new_frame = out_source.FrameOfReferenceUID
    assert out_seg.FrameOfReferenceUID == new_frame != source.FrameOfReferenceUID
    assert out_seg.StudyInstanceUID == out_source.StudyInstanceUID
    series = out_seg.ReferencedSeriesSequence[0]
    assert series.SeriesInstanceUID == out_source.SeriesInstanceUID
    referenced = series.ReferencedInstanceSequence[0]
    assert referenced.ReferencedSOPInstanceUID == out_source.SOPInstanceUID
    derivation = out_seg.PerFrameFunctionalGroupsSequence[0].DerivationImageSequence[0]
    assert derivation.SourceImageSequence[0].ReferencedSOPInstanceUID == out_source.SOPInstanceUID


def test_real_rtstruct_uids_are_remapped_in_place_everywhere() -> None:
    """rtstruct.dcm (pydicom): every instance UID at every depth is the keyed replacement."""
    original = real_dataset("rtstruct.dcm")
    deidentifier = Deidentifier(KEY_A, DeidProfile())
    out = _released(deidentifier, original)
    before = {(path, e.keyword): str(e.value) for path, e in walk(original) if e.VR == "UI"}
    after = {(path, e.keyword): str(e.value) for path, e in walk(out) if e.VR == "UI"}
    checked = 0
    for place, value in before.items():
        if place[1].endswith("ClassUID") or value.startswith("1.2.840.10008."):
            assert after[place] == value
            continue
        assert after[place] == deidentifier.remap_uid(value) != value, place
        checked += 1
    assert checked >= 10  # frame of reference, study, series, contour image references
    # a reference and its target agree after remapping
    frame = out.ReferencedFrameOfReferenceSequence[0].FrameOfReferenceUID
    assert {str(item.ReferencedFrameOfReferenceUID)
            for item in out.StructureSetROISequence} == {str(frame)}


def _subject_item(code: str, meaning: str) -> Dataset:
    item = Dataset()
    item.RelationshipType, item.ValueType = "HAS OBS CONTEXT", "NUM" if code == "121033" else "CODE"
    concept = Dataset()
    concept.CodeValue, concept.CodingSchemeDesignator, concept.CodeMeaning = code, "DCM", meaning
    item.ConceptNameCodeSequence = Sequence([concept])
    if code == "121033":
        measured = Dataset()
        measured.NumericValue = "47"
        item.MeasuredValueSequence = Sequence([measured])
    else:
        value = Dataset()
        value.CodeValue, value.CodingSchemeDesignator, value.CodeMeaning = "F", "DCM", "Female"
        item.ConceptCodeSequence = Sequence([value])
    return item


def test_sr_subject_age_and_sex_go_unless_characteristics_are_retained() -> None:
    sr = referencing_sr(_targets())
    sr.ContentSequence.append(_subject_item("121033", "Subject Age"))
    sr.ContentSequence.append(_subject_item("121032", "Subject Sex"))
    basic = _released(Deidentifier(KEY_A, DeidProfile()), sr)
    concepts = [item.ConceptNameCodeSequence[0].CodeValue for item in basic.ContentSequence]
    assert "121033" not in concepts and "121032" not in concepts
    assert len(basic.ContentSequence) == len(sr.ContentSequence) - 2
    retained = _released(Deidentifier(KEY_A, DeidProfile(
        frozenset({DeidOption.RETAIN_PATIENT_CHARACTERISTICS}))), sr)
    assert len(retained.ContentSequence) == len(sr.ContentSequence)
