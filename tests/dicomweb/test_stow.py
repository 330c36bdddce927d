"""STOW-RS: statuses and responses per PS3.18 10.5, and nothing half-stored on bad input."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import pydicom
import pytest
from pydicom.data import get_testdata_file
from tests.support.multipart import stow_body

from dicomvault.archive import Archive
from dicomvault.dicom.synthetic import generate_study_files

FAILED_SOP_SEQUENCE = "00081198"
REFERENCED_SOP_SEQUENCE = "00081199"
FAILURE_REASON = "00081197"
WARNING_REASON = "00081196"


def _file(name: str) -> bytes:
    return Path(str(get_testdata_file(name))).read_bytes()


def _post(http: httpx.Client, files: list[bytes], url: str = "/dicom-web/studies",
          **kwargs: str) -> httpx.Response:
    body, content_type = stow_body(files, **kwargs)
    return http.post(url, content=body, headers={"Content-Type": content_type,
                                                 "Accept": "application/dicom+json"})


def _state(archive: Archive) -> tuple[list[str], int]:
    """What the archive holds: blob names and instance rows."""
    import sqlalchemy as sa

    from dicomvault.index import instances

    with archive.engine.connect() as conn:
        rows = conn.execute(sa.select(sa.func.count()).select_from(instances)).scalar_one()
    staging = list((archive.settings.blob_dir / ".staging").iterdir())
    assert staging == []
    return sorted(archive.blobs.names()), rows


def test_store_a_study_answers_200_with_referenced_sops(http: httpx.Client) -> None:
    files = generate_study_files(series=2, per_series=3, rows=32, columns=32)
    response = _post(http, files)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/dicom+json")
    body = response.json()
    referenced = body[REFERENCED_SOP_SEQUENCE]["Value"]
    assert len(referenced) == 6
    study_uid = pydicom.dcmread(io.BytesIO(files[0])).StudyInstanceUID
    assert body["00081190"]["Value"][0].endswith(f"/dicom-web/studies/{study_uid}")
    assert all(item["00081190"]["Value"][0].startswith("http") for item in referenced)
    assert FAILED_SOP_SEQUENCE not in body


def test_mixed_good_and_bad_parts_answer_202_with_reasons(
    http: httpx.Client, archive: Archive
) -> None:
    good = _file("CT_small.dcm")
    response = _post(http, [good, b"this is not DICOM" * 10])
    assert response.status_code == 202
    body = response.json()
    assert len(body[REFERENCED_SOP_SEQUENCE]["Value"]) == 1
    [failed] = body[FAILED_SOP_SEQUENCE]["Value"]
    assert failed[FAILURE_REASON]["Value"] == [0xC000]
    assert len(list(archive.blobs.names())) == 1


def test_all_parts_failing_answers_409(http: httpx.Client, archive: Archive) -> None:
    before = _state(archive)
    response = _post(http, [b"garbage", _file("CT_small.dcm")[:3000]])
    assert response.status_code == 409
    assert len(response.json()[FAILED_SOP_SEQUENCE]["Value"]) == 2
    assert _state(archive) == before


def test_instance_of_another_study_is_refused_on_a_study_url(
    http: httpx.Client, archive: Archive
) -> None:
    response = _post(http, [_file("CT_small.dcm")], url="/dicom-web/studies/1.2.3.4.5")
    assert response.status_code == 409
    [failed] = response.json()[FAILED_SOP_SEQUENCE]["Value"]
    assert failed[FAILURE_REASON]["Value"] == [0xA900]
    assert list(archive.blobs.names()) == []


def test_duplicate_with_different_bytes_is_a_warning(http: httpx.Client) -> None:
    original = _file("CT_small.dcm")
    ds = pydicom.dcmread(io.BytesIO(original))
    ds.StudyDescription = "DIFFERENT"
    buffer = io.BytesIO()
    ds.save_as(buffer)
    assert _post(http, [original]).status_code == 200
    response = _post(http, [buffer.getvalue()])
    assert response.status_code == 202
    [item] = response.json()[REFERENCED_SOP_SEQUENCE]["Value"]
    assert item[WARNING_REASON]["Value"] == [0xB006]


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        ("application/json", 415),
        ("text/plain", 415),
        ('multipart/related; type="application/dicom+xml"; boundary=abc', 415),
        ('multipart/related; type="application/dicom"', 400),  # no boundary
    ],
)
def test_wrong_content_type_is_refused(
    http: httpx.Client, archive: Archive, content_type: str, status: int
) -> None:
    before = _state(archive)
    response = http.post("/dicom-web/studies", content=_file("CT_small.dcm"),
                         headers={"Content-Type": content_type})
    assert response.status_code == status
    assert response.json()["reason"]
    assert _state(archive) == before


def test_missing_content_type_is_415(http: httpx.Client) -> None:
    response = http.post("/dicom-web/studies", content=b"x", headers={"Content-Type": ""})
    assert response.status_code == 415


def test_broken_boundary_stores_nothing_even_after_good_parts(
    http: httpx.Client, archive: Archive
) -> None:
    before = _state(archive)
    body, content_type = stow_body([_file("CT_small.dcm"), _file("MR_small.dcm")])
    broken = body[: -len("--\r\n") - 40]  # cut inside the last part: no closing delimiter
    response = http.post("/dicom-web/studies", content=broken,
                         headers={"Content-Type": content_type})
    assert response.status_code == 400
    assert _state(archive) == before


def test_body_with_a_different_boundary_is_400(http: httpx.Client, archive: Archive) -> None:
    before = _state(archive)
    body, _ = stow_body([_file("CT_small.dcm")], boundary="actualboundary")
    response = http.post("/dicom-web/studies", content=body, headers={
        "Content-Type": 'multipart/related; type="application/dicom"; boundary=declared'})
    assert response.status_code == 400
    assert _state(archive) == before


def test_part_larger_than_the_limit_is_413_and_stores_nothing(
    http: httpx.Client, archive: Archive
) -> None:
    before = _state(archive)
    big = generate_study_files(series=1, per_series=1, rows=2048, columns=2100)[0]
    assert len(big) > archive.settings.max_part_bytes
    response = _post(http, [_file("CT_small.dcm"), big])
    assert response.status_code == 413
    assert "limit" in response.json()["reason"]
    assert _state(archive) == before


def test_truncated_instance_is_refused_and_leaves_nothing(
    http: httpx.Client, archive: Archive
) -> None:
    before = _state(archive)
    data = _file("CT_small.dcm")
    response = _post(http, [data[: len(data) - 100]])
    assert response.status_code == 409
    assert _state(archive) == before


def test_empty_multipart_is_400(http: httpx.Client) -> None:
    boundary = "b0undary"
    response = http.post("/dicom-web/studies", content=f"--{boundary}--\r\n".encode(),
                         headers={"Content-Type":
                                  f'multipart/related; type="application/dicom"; '
                                  f"boundary={boundary}"})
    assert response.status_code == 400


def test_errors_do_not_echo_patient_data(http: httpx.Client) -> None:
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.PatientName = "LEAKY^NAME"
    del ds.SeriesInstanceUID
    buffer = io.BytesIO()
    ds.save_as(buffer)
    response = _post(http, [buffer.getvalue()])
    assert response.status_code == 409
    assert "LEAKY" not in response.text
