"""The auditor's views over HTTP: patient access by keyed Patient ID, users, failed logins,
exports; filters, paging, CSV and FHIR; an edited index is refused, never shown."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pydicom
import pytest
import sqlalchemy as sa
from fhirclient.models.bundle import Bundle
from tests.support.auth import bearer, token_for
from tests.support.live import serving

from dicomvault.access import Door, Principal, PrincipalKind, RequestContext, Role
from dicomvault.archive import Archive
from dicomvault.dicom.synthetic import PatientSpec, StudySpec, generate_study_files
from dicomvault.index import Query, QueryLevel
from dicomvault.index.database import write_transaction
from dicomvault.ledger import EventType
from dicomvault.ledger.schema import ledger_event_index


def _clinician(name: str, address: str) -> RequestContext:
    principal = Principal(name=name, kind=PrincipalKind.USER, roles=frozenset({Role.CLINICIAN}))
    return RequestContext(name, Door.DICOMWEB, address, principal=principal)


ALICE = _clinician("alice", "10.0.0.1")
BOB = _clinician("bob", "10.0.0.2")
TECH = RequestContext("tech", Door.CLI, "local")


@dataclass
class Scene:
    url: str
    archive: Archive
    study_a: str  # patient PAT-A's study
    study_b: str  # patient PAT-B's study

    def get(self, path: str, **params: object) -> httpx.Response:
        return httpx.get(f"{self.url}/api/audit{path}", params=params, timeout=60,
                         headers=self.auditor)

    @property
    def auditor(self) -> dict[str, str]:
        return bearer(token_for(self.archive, "auditor-1", {Role.AUDITOR}))

    def patient_hash(self, patient_id: str) -> str:
        return str(httpx.post(f"{self.url}/api/ledger/subject-hash", timeout=60,
                              headers=self.auditor,
                              json={"kind": "patient", "value": patient_id}).json()["hash"])


def _study(archive: Archive, patient_id: str, seed: int) -> str:
    files = generate_study_files(series=1, per_series=2, rows=16, columns=16, seed=seed,
                                 study=StudySpec(patient=PatientSpec(PatientID=patient_id)))
    for data in files:
        archive.store_bytes(data, TECH)
    return str(pydicom.dcmread(io.BytesIO(files[0])).StudyInstanceUID)


@pytest.fixture
def scene(archive: Archive) -> Iterator[Scene]:
    study_a, study_b = _study(archive, "PAT-A", 1), _study(archive, "PAT-B", 2)
    archive.locate(ALICE, study_a)  # 2 retrievals of PAT-A's instances by alice
    archive.locate(BOB, study_b)  # 2 of PAT-B's by bob
    archive.record_export(BOB, archive.locate(BOB, study_a, record_access=False), "file")
    archive.find(Query(level=QueryLevel.STUDY, filters={"PatientID": "PAT-A"}), BOB)
    for reason in ("bad password", "unknown user", "bad password"):
        archive.record_event(RequestContext("mallory", Door.UI, "203.0.113.9"),
                             EventType.LOGIN_FAILED, details={"method": "password",
                                                              "reason": reason})
    with serving(archive) as url:
        yield Scene(url, archive, study_a, study_b)


def test_who_accessed_a_patients_studies(scene: Scene) -> None:
    patient = scene.patient_hash("PAT-A")
    page = scene.get("/patient-access", patient=patient).json()
    seen = [(item["type"], item["actor"]) for item in page["items"]]
    assert page["total"] == len(seen) == 7
    assert seen.count(("instance_retrieved", "alice")) == 2
    assert seen.count(("exported", "bob")) == 2
    assert ("searched", "bob") in seen  # a search naming PAT-A is an access too
    assert seen.count(("instance_stored", "tech")) == 2
    assert not any(actor == "bob" and kind == "instance_retrieved" for kind, actor in seen)
    # Filters narrow it; the auditor's own use of the view is recorded against the patient.
    only_bob = scene.get("/patient-access", patient=patient, actor="bob",
                         type="exported,searched").json()
    assert only_bob["total"] == 3
    used = scene.get("/events", type="audit_log_used").json()["items"]  # not itself yet
    assert [item["details"] for item in used] == [
        {"view": "patient_access", "filters": "types,actor", "results": 3},
        {"view": "patient_access", "filters": "", "results": 7}]
    assert used[1]["subjects"] == [f"patient:{patient}"] and used[1]["door"] == "API"


def test_user_activity_failed_logins_and_exports(scene: Scene) -> None:
    bob = scene.get("/user-activity", actor="bob").json()
    assert {item["type"] for item in bob["items"]} == {"instance_retrieved", "exported",
                                                        "searched"}
    failed = scene.get("/failed-logins").json()
    assert failed["total"] == 3 and {i["client"] for i in failed["items"]} == {"203.0.113.9"}
    assert scene.get("/failed-logins", actor="nobody").json()["total"] == 0
    exports = scene.get("/exports").json()
    assert exports["total"] == 2 and {i["actor"] for i in exports["items"]} == {"bob"}
    assert scene.get("/user-activity").status_code == 400  # actor is required


def test_paging_is_stable_and_newest_first(scene: Scene) -> None:
    everything = scene.get("/events", door="DICOMweb", limit=1000).json()
    indexes = [item["index"] for item in everything["items"]]
    assert indexes == sorted(indexes, reverse=True) and everything["total"] == len(indexes)
    pages = [scene.get("/events", door="DICOMweb", offset=offset, limit=3).json()
             for offset in range(0, len(indexes), 3)]
    assert [item["index"] for page in pages for item in page["items"]] == indexes
    assert scene.get("/events", limit=0).status_code == 400
    assert scene.get("/events", limit=5000).status_code == 400
    assert scene.get("/events", type="instance_burned").status_code == 400
    assert scene.get("/events", since="yesterday").status_code == 400
    assert scene.get("/events", since="2000-01-01", until="2000-12-31").json()["total"] == 0


def test_csv_and_fhir_exports(scene: Scene) -> None:
    response = scene.get("/failed-logins", format="csv")
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["index", "time", "type", "actor", "door", "client", "subjects", "details"]
    assert len(rows) == 4 and {row[2] for row in rows[1:]} == {"login_failed"}
    accepted = httpx.get(f"{scene.url}/api/audit/exports",
                         headers={"Accept": "text/csv", **scene.auditor},
                         timeout=60)
    assert accepted.headers["content-type"].startswith("text/csv")
    fhir = scene.get("/failed-logins", format="fhir")
    assert fhir.headers["content-type"].startswith("application/fhir+json")
    bundle = Bundle(fhir.json(), strict=True)
    assert [entry.resource.outcome for entry in bundle.entry] == ["4", "4", "4"]
    assert scene.get("/events", format="pdf").status_code == 400


def test_an_edited_index_row_is_refused_not_shown(scene: Scene) -> None:
    with write_transaction(scene.archive.engine) as conn:
        conn.execute(sa.update(ledger_event_index)
                     .where(ledger_event_index.c.actor == "bob").values(actor="alice"))
    response = scene.get("/user-activity", actor="alice")
    assert response.status_code == 500
    assert "does not match" in response.text
