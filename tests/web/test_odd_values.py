"""QIDO-RS answers (not 500) for the odd values archives receive: a backslash in a
single-valued PN (``DAVIS^\\``, a regression the web UI hit), several PN component
groups, empty trailing components, empty values in multi-valued strings."""

from __future__ import annotations

import io

import httpx
import pydicom
import pytest
from tests.support.auth import admin_headers

from dicomvault.access import Door, system_context
from dicomvault.archive import Archive
from dicomvault.dicom.synthetic import PatientSpec, StudySpec, generate_series

ODD_NAMES = ["DAVIS^\\", "A\\B", "X^Y=Z=W", "DAVIS^JOHN^^^", "^^^^"]


@pytest.fixture
def odd_archive(archive: Archive) -> Archive:
    for number, name in enumerate(ODD_NAMES):
        study = StudySpec(patient=PatientSpec(PatientID=f"ODD{number}"))
        for ds in generate_series(count=1, rows=16, columns=16, study=study, seed=number):
            ds.PatientName = name
            ds.OtherPatientIDs = "A\\B\\"
            buffer = io.BytesIO()
            pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
            archive.store_bytes(buffer.getvalue(), system_context(Door.CLI))
    return archive


@pytest.mark.parametrize("level", ["studies", "series", "instances"])
def test_qido_returns_odd_person_names(odd_archive: Archive, server: str, level: str) -> None:
    with httpx.Client(base_url=server, headers=admin_headers(odd_archive)) as client:
        answer = client.get(f"/dicom-web/{level}", params={"includefield": "00101000"})
    assert answer.status_code == 200
    names = {item["00100010"]["Value"][0]["Alphabetic"]
             for item in answer.json() if "Value" in item["00100010"]}
    assert {"DAVIS^\\", "A\\B", "X^Y", "DAVIS^JOHN^^^"} <= names
    groups = [item["00100010"]["Value"][0] for item in answer.json()
              if item["00100010"].get("Value", [{}])[0].get("Alphabetic") == "X^Y"]
    assert groups == [{"Alphabetic": "X^Y", "Ideographic": "Z", "Phonetic": "W"}]


def test_qido_matches_a_name_with_a_trailing_backslash(odd_archive: Archive, server: str) -> None:
    with httpx.Client(base_url=server, headers=admin_headers(odd_archive)) as client:
        answer = client.get("/dicom-web/studies", params={"PatientName": "DAVIS*"})
    assert answer.status_code == 200
    assert sorted(item["00100020"]["Value"][0] for item in answer.json()) == ["ODD0", "ODD3"]
