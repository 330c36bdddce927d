"""QIDO-RS over HTTP: every level, matching, paging, RetrieveURL, errors."""

from __future__ import annotations

import io

import httpx
import pydicom
import pytest
from tests.support.multipart import stow_body

from dicomvault.dicom.synthetic import PatientSpec, StudySpec, generate_study_files

JSON = {"Accept": "application/dicom+json"}


def _value(item: dict[str, object], tag: str) -> object:
    element = item.get(tag)
    assert isinstance(element, dict)
    values = element.get("Value", [None])
    assert isinstance(values, list)
    return values[0]


@pytest.fixture
def populated(http: httpx.Client) -> list[pydicom.Dataset]:
    datasets = []
    specs = [
        StudySpec(patient=PatientSpec(PatientName="Doe^John", PatientID="P1"),
                  StudyDate="20230105", AccessionNumber="ACC1"),
        StudySpec(patient=PatientSpec(PatientName="Doe^Jane", PatientID="P2"),
                  StudyDate="20230610", AccessionNumber="ACC2"),
        StudySpec(patient=PatientSpec(PatientName="Smith^Adam", PatientID="P3"),
                  StudyDate="20240101", AccessionNumber="ACC3"),
    ]
    for seed, spec in enumerate(specs):
        files = generate_study_files(series=2, per_series=2, rows=16, columns=16, study=spec,
                                     seed=seed + 10)
        body, content_type = stow_body(files)
        assert http.post("/dicom-web/studies", content=body,
                         headers={"Content-Type": content_type}).status_code == 200
        datasets.append(pydicom.dcmread(io.BytesIO(files[0])))
    return datasets


def test_all_studies_with_computed_attributes(http: httpx.Client,
                                              populated: list[pydicom.Dataset]) -> None:
    response = http.get("/dicom-web/studies", headers=JSON)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/dicom+json")
    studies = response.json()
    assert len(studies) == 3
    for study in studies:
        assert _value(study, "00201206") == 2  # NumberOfStudyRelatedSeries
        assert _value(study, "00201208") == 4  # NumberOfStudyRelatedInstances
        assert "/dicom-web/studies/" in str(_value(study, "00081190"))


@pytest.mark.parametrize(
    ("query", "expected_ids"),
    [
        ("PatientID=P2", {"P2"}),
        ("PatientName=doe*", {"P1", "P2"}),
        ("PatientName=DOE^J?NE", {"P2"}),
        ("00100010=Smith*", {"P3"}),
        ("StudyDate=20230101-20231231", {"P1", "P2"}),
        ("StudyDate=20231201-", {"P3"}),
        ("AccessionNumber=ACC1", {"P1"}),
        ("ModalitiesInStudy=MR", {"P1", "P2", "P3"}),
        ("PatientName=nobody", set()),
    ],
)
def test_study_matching(http: httpx.Client, populated: list[pydicom.Dataset], query: str,
                        expected_ids: set[str]) -> None:
    response = http.get(f"/dicom-web/studies?{query}", headers=JSON)
    assert response.status_code == 200
    assert {_value(s, "00100020") for s in response.json()} == expected_ids


def test_uid_list_matching(http: httpx.Client, populated: list[pydicom.Dataset]) -> None:
    uids = ",".join(ds.StudyInstanceUID for ds in populated[:2])
    response = http.get(f"/dicom-web/studies?StudyInstanceUID={uids}", headers=JSON)
    assert len(response.json()) == 2


def test_series_and_instances_of_a_study(http: httpx.Client,
                                         populated: list[pydicom.Dataset]) -> None:
    study = populated[0].StudyInstanceUID
    series = http.get(f"/dicom-web/studies/{study}/series", headers=JSON).json()
    assert {_value(s, "00080060") for s in series} == {"CT", "MR"}
    assert all(_value(s, "00201209") == 2 for s in series)
    series_uid = populated[0].SeriesInstanceUID
    instances = http.get(f"/dicom-web/studies/{study}/series/{series_uid}/instances",
                         headers=JSON).json()
    assert len(instances) == 2
    url = str(_value(instances[0], "00081190"))
    assert url.endswith(f"/series/{series_uid}/instances/{_value(instances[0], '00080018')}")
    all_instances = http.get(f"/dicom-web/studies/{study}/instances", headers=JSON).json()
    assert len(all_instances) == 4


def test_top_level_series_and_instances_with_filters(
    http: httpx.Client, populated: list[pydicom.Dataset]
) -> None:
    assert len(http.get("/dicom-web/series?Modality=CT", headers=JSON).json()) == 3
    instances = http.get("/dicom-web/instances?PatientID=P3", headers=JSON).json()
    assert len(instances) == 4


def test_limit_and_offset_page_through_results(http: httpx.Client,
                                               populated: list[pydicom.Dataset]) -> None:
    seen = []
    for offset in range(3):
        page = http.get(f"/dicom-web/studies?limit=1&offset={offset}", headers=JSON).json()
        assert len(page) == 1
        seen.append(_value(page[0], "0020000D"))
    assert len(set(seen)) == 3
    assert http.get("/dicom-web/studies?limit=1&offset=3", headers=JSON).json() == []


def test_includefield_all_and_fuzzy_are_accepted(http: httpx.Client,
                                                 populated: list[pydicom.Dataset]) -> None:
    response = http.get("/dicom-web/studies?includefield=all&fuzzymatching=true"
                        "&PatientName=john", headers=JSON)
    assert response.status_code == 200
    assert {_value(s, "00100020") for s in response.json()} == {"P1"}


@pytest.mark.parametrize(
    "query",
    ["NotAKeyword=1", "limit=-1", "offset=x", "StudyDate=2023-01-01", "fuzzymatching=maybe"],
)
def test_bad_parameters_are_400_with_a_reason(http: httpx.Client, query: str) -> None:
    response = http.get(f"/dicom-web/studies?{query}", headers=JSON)
    assert response.status_code == 400
    assert response.json()["reason"]


def test_unacceptable_media_type_is_406(http: httpx.Client) -> None:
    response = http.get("/dicom-web/studies", headers={"Accept": "image/png"})
    assert response.status_code == 406
