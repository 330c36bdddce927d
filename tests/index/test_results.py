"""Result rows as data sets and DICOM JSON, built from real DICOM files."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pydicom
import pytest
from hypothesis import given, reject, settings
from hypothesis import strategies as st
from pydicom.data import get_testdata_file
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset
from sqlalchemy.engine import Engine
from tests.index.factories import make_records, record_from_dataset

from dicomvault.index import Query, QueryLevel, insert_instances, run_query, to_dataset
from dicomvault.index.results import DicomJsonWriter, ResultRow, to_dicom_json

FILES = ("CT_small.dcm", "MR_small.dcm", "SC_rgb.dcm")


def read(name: str) -> Dataset:
    path = get_testdata_file(name)
    assert isinstance(path, str), name
    return pydicom.dcmread(path, stop_before_pixels=True)


@pytest.fixture
def archive(engine: Engine) -> Iterator[Engine]:
    with engine.begin() as conn:
        insert_instances(conn, [record_from_dataset(read(name)) for name in FILES])
    yield engine


def one(engine: Engine, query: Query) -> ResultRow:
    with engine.connect() as conn:
        (row,) = run_query(conn, query)
    return row


@pytest.mark.parametrize("name", FILES)
def test_study_results_carry_the_files_values_with_dictionary_vrs(
    archive: Engine, name: str
) -> None:
    source = read(name)
    row = one(archive, Query.from_qido_params(QueryLevel.STUDY, [("PatientID", source.PatientID)]))
    dataset = to_dataset(row)
    for keyword in (
        "PatientName",
        "PatientID",
        "StudyDate",
        "StudyTime",
        "StudyInstanceUID",
        "ReferringPhysicianName",
        "AccessionNumber",
        "StudyID",
        "PatientBirthDate",
        "PatientSex",
    ):
        assert str(dataset[keyword].value or "") == str(source.get(keyword, "") or ""), keyword
    assert dataset.ModalitiesInStudy == source.Modality
    assert dataset.NumberOfStudyRelatedSeries == 1
    assert dataset.NumberOfStudyRelatedInstances == 1
    assert dataset.InstanceAvailability == "ONLINE"
    for element in dataset:
        assert dictionary_VR(element.tag) == element.VR
    assert "RetrieveURL" not in dataset  # the door adds it


def test_dicom_json_follows_ps3_18_annex_f(archive: Engine) -> None:
    row = one(archive, Query.from_qido_params(QueryLevel.STUDY, [("PatientID", "1CT1")]))
    json = to_dicom_json(row)
    assert json["00100010"] == {"vr": "PN", "Value": [{"Alphabetic": "CompressedSamples^CT1"}]}
    assert json["00080061"] == {"vr": "CS", "Value": ["CT"]}
    assert json["00201206"] == {"vr": "IS", "Value": [1]}
    assert json["00080056"] == {"vr": "CS", "Value": ["ONLINE"]}
    assert json["00080050"] == {"vr": "SH"}  # empty: present, zero length, no Value
    assert json["00080005"] == {"vr": "CS", "Value": ["ISO_IR 100"]}
    for tag, attribute in json.items():
        assert attribute["vr"] == dictionary_VR(int(tag, 16))


def test_unicode_names_survive_the_round_trip(archive: Engine) -> None:
    row = one(archive, Query.from_qido_params(QueryLevel.STUDY, [("PatientID", "ID1")]))
    assert to_dicom_json(row)["00080090"]["Value"] == [{"Alphabetic": "Moriarty^James"}]


def test_default_attributes_of_each_level(engine: Engine) -> None:
    records = make_records(
        seed=50, patients=1, studies_per_patient=1, series_per_study=2, instances_per_series=2
    )
    study = records[0].study.StudyInstanceUID
    with engine.begin() as conn:
        insert_instances(conn, records)
        scoped = run_query(conn, Query(QueryLevel.SERIES, study_uid=study))[0]
        unscoped = run_query(conn, Query(QueryLevel.SERIES))[0]
        instance = run_query(
            conn,
            Query(
                QueryLevel.IMAGE, study_uid=study, series_uid=records[0].series.SeriesInstanceUID
            ),
        )[0]
        everything = run_query(conn, Query(QueryLevel.STUDY, include_all=True))[0]
    series_json = to_dataset(scoped)
    assert series_json.Modality == records[0].series.Modality
    assert series_json.NumberOfSeriesRelatedInstances == 2
    (item,) = series_json.RequestAttributesSequence
    assert item.ScheduledProcedureStepID == records[0].series.ScheduledProcedureStepID
    assert "PatientName" not in series_json  # scoped to a study: no study attributes
    assert to_dataset(unscoped).PatientName == records[0].patient.PatientName
    image = to_dataset(instance)
    assert (image.SOPClassUID, image.Rows, image.NumberOfFrames) == (
        records[0].instance.SOPClassUID,
        records[0].instance.Rows,
        1,
    )
    assert image.StudyInstanceUID == study and "Modality" not in image
    full = to_dataset(everything)
    assert full.StudyDescription == records[0].study.StudyDescription
    assert full.InstitutionName == records[0].study.InstitutionName
    assert "IssuerOfPatientID" in full and full.IssuerOfPatientID == ""  # held, and empty


def test_empty_request_attributes_give_an_empty_sequence(archive: Engine) -> None:
    row = one(archive, Query.from_qido_params(QueryLevel.SERIES, [("PatientID", "1CT1")]))
    assert to_dicom_json(row)["00400275"] == {"vr": "SQ", "Value": []}


def test_c_find_returns_exactly_the_identifier_keys(archive: Engine) -> None:
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.PatientID = "4MR1"
    identifier.PatientName = ""
    identifier.PatientAge = ""
    identifier.ModalitiesInStudy = ""
    row = one(archive, Query.from_identifier(QueryLevel.STUDY, identifier))
    dataset = to_dataset(row)
    assert set(dataset.dir()) == {
        "PatientID",
        "PatientName",
        "PatientAge",
        "ModalitiesInStudy",
        "StudyInstanceUID",
        "SpecificCharacterSet",
    }
    assert dataset.PatientName == "CompressedSamples^MR1"
    assert dataset.PatientAge == ""  # not held by the index: zero length, never invented
    assert dataset.ModalitiesInStudy == "MR"


@pytest.mark.parametrize("level", list(QueryLevel))
def test_dicom_json_is_exactly_what_pydicom_writes_for_the_data_set(
    engine: Engine, level: QueryLevel
) -> None:
    """The direct JSON path must agree with pydicom's own rendering of to_dataset()."""
    records = [record_from_dataset(read(name)) for name in FILES] + make_records(7)
    with engine.begin() as conn:
        insert_instances(conn, records)
    query = Query.from_qido_params(level, [("includefield", "all")])
    with engine.connect() as conn:
        rows = run_query(conn, query)
    assert len(rows) >= 3
    for row in rows:
        assert to_dicom_json(row) == to_dataset(row).to_json_dict(), row.values


def _dumps(value: object) -> str:
    """What starlette's JSONResponse wrote for the same content."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


@pytest.mark.parametrize("level", list(QueryLevel))
@pytest.mark.parametrize("params", [[], [("includefield", "all")]])
def test_json_writer_writes_the_array_of_to_dicom_json(
    engine: Engine, level: QueryLevel, params: list[tuple[str, str]]
) -> None:
    """Real files (non-ASCII names, several values, empty ones) and made-up records: the
    text is exactly the JSON of to_dicom_json, with the door's extra element last."""
    records = [record_from_dataset(read(name)) for name in FILES] + make_records(7)
    with engine.begin() as conn:
        insert_instances(conn, records)
    with engine.connect() as conn:
        rows = run_query(conn, Query.from_qido_params(level, params))
    assert len(rows) >= 3
    writer = DicomJsonWriter()
    expected = []
    for number, row in enumerate(rows):
        url = f"http://host/dicom-web/studies/ü{number}\"\\"  # escaped like any JSON string
        writer.add(row, {"00081190": ("UR", url)})
        expected.append({**to_dicom_json(row), "00081190": {"vr": "UR", "Value": [url]}})
    assert writer.text() == _dumps(expected)
    assert len(writer) == len(rows)
    assert DicomJsonWriter().text() == "[]"


_VALUES = st.one_of(st.none(), st.integers(-(2**31), 2**31 - 1),
                    st.sampled_from(["", "1", "DOE^JOHN", "Doe^J=ドエ", "CT\\MR", "20230101",
                                     "1.2.3", "a\"b", "ü"]))
_KEYWORDS = ("PatientName", "ReferringPhysicianName", "StudyDate", "ModalitiesInStudy",
             "NumberOfStudyRelatedSeries", "StudyInstanceUID", "SeriesNumber",
             "ScheduledProcedureStepID", "RequestedProcedureID")


@settings(deadline=None)  # a loaded CI machine, not the code, sets the time
@given(st.lists(st.fixed_dictionaries(dict.fromkeys(_KEYWORDS, _VALUES)), min_size=1,
                max_size=6),
       st.lists(st.sampled_from((*_KEYWORDS, "RequestAttributesSequence")), unique=True))
def test_json_writer_never_mixes_up_values_it_has_seen(
    rows: list[dict[str, str | int | None]], returned: list[str]
) -> None:
    """Elements are remembered per response: equal values share text, others never do
    (1 and "1", None and "", two rows' RequestAttributesSequence leaves)."""
    results = [ResultRow(QueryLevel.SERIES, values, tuple(returned)) for values in rows]
    try:
        expected = [to_dicom_json(result) for result in results]
    except ValueError:  # a value its VR cannot hold ("DOE^JOHN" as IS): not a stored row
        reject()
    writer = DicomJsonWriter()
    for result in results:
        writer.add(result)
    assert json.loads(writer.text()) == expected
