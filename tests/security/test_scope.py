"""Per-study scope and break-the-glass, through DICOMweb and the Archive (SQLite, PostgreSQL)."""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa
from tests.security.studies import study_files, uids
from tests.support.auth import bearer, ensure_user, ledger_events, token_for
from tests.support.multipart import stow_body

from dicomvault.access import Door, Permission, Principal, PrincipalKind, RequestContext, Role
from dicomvault.access.schema import break_glass_log
from dicomvault.archive import Archive
from dicomvault.errors import PermissionDeniedError
from dicomvault.index import Query, QueryLevel, StudyScope
from dicomvault.ledger import EventType

NORTH = StudyScope.of(institutions=["North Hospital"])
PHI = ("DOE", "PHI-12345")


@pytest.fixture
def placed(archive: Archive) -> dict[str, list[bytes]]:
    """Three studies: North/radiology (Dr Grey), North/cardiology (Dr Blue), South."""
    files = {
        "north-radiology": study_files(1, institution="North Hospital", department="Radiology",
                                       referring="GREY^MEREDITH"),
        "north-cardiology": study_files(2, institution="NORTH HOSPITAL",
                                        department="Cardiology", referring="BLUE^ADAM"),
        "south": study_files(3, institution="South Clinic", referring="GREY^MEREDITH"),
    }
    ctx = RequestContext(actor="loader", door=Door.CLI)
    for group in files.values():
        for data in group:
            archive.store_bytes(data, ctx)
    return files


def _ctx(scope: StudyScope, *roles: Role, reason: str | None = None) -> RequestContext:
    principal = Principal("someone", PrincipalKind.USER, frozenset(roles), scope)
    return RequestContext("someone", Door.DICOMWEB, "test", principal, reason)


def _found(archive: Archive, ctx: RequestContext, level: QueryLevel = QueryLevel.STUDY) -> set[str]:
    return {str(row.get("StudyInstanceUID")) for row in archive.find(Query(level=level), ctx)}


def test_search_returns_only_studies_in_scope(archive: Archive,
                                              placed: dict[str, list[bytes]]) -> None:
    uid = {name: uids(group[0])[0] for name, group in placed.items()}
    every = set(uid.values())
    assert _found(archive, _ctx(StudyScope(), Role.CLINICIAN)) == every
    north = {uid["north-radiology"], uid["north-cardiology"]}
    assert _found(archive, _ctx(NORTH, Role.CLINICIAN)) == north  # case-insensitive
    assert _found(archive, _ctx(NORTH, Role.CLINICIAN), QueryLevel.IMAGE) == north
    assert _found(archive, _ctx(StudyScope.of(departments=["radiology"]), Role.CLINICIAN)) == {
        uid["north-radiology"]}
    grey = StudyScope.of(referring_physicians=["Grey^Meredith"])
    assert _found(archive, _ctx(grey, Role.CLINICIAN)) == {uid["north-radiology"], uid["south"]}
    both = StudyScope.of(institutions=["South Clinic"], referring_physicians=["GREY^MEREDITH"])
    assert _found(archive, _ctx(both, Role.RESEARCHER)) == {uid["south"]}
    patients = archive.find(Query(level=QueryLevel.PATIENT),
                            _ctx(StudyScope.of(institutions=["Nowhere"]), Role.CLINICIAN))
    assert patients == []
    assert archive.count(Query(level=QueryLevel.STUDY), _ctx(NORTH, Role.CLINICIAN)) == 2


def test_retrieve_out_of_scope_is_refused_unless_the_glass_is_broken(
        archive: Archive, anonymous: httpx.Client, placed: dict[str, list[bytes]]) -> None:
    south = uids(placed["south"][0])[0]
    north = uids(placed["north-radiology"][0])[0]
    doctor = bearer(token_for(archive, "dr-north", {Role.CLINICIAN}, scope=NORTH))
    researcher = bearer(token_for(archive, "res-north", {Role.RESEARCHER}, scope=NORTH))
    accept = {"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'}

    assert anonymous.get(f"/dicom-web/studies/{north}", headers={**doctor, **accept}) \
        .status_code == 200
    listed = anonymous.get("/dicom-web/studies", headers=doctor).json()
    north_too = uids(placed["north-cardiology"][0])[0]
    assert {s["0020000D"]["Value"][0] for s in listed} == {north, north_too}
    refused = anonymous.get(f"/dicom-web/studies/{south}/metadata", headers=doctor)
    assert refused.status_code == 403
    assert not any(phi in refused.text for phi in PHI) and south not in refused.text

    glass = {"X-Break-Glass-Reason": "unconscious patient in ER, records needed"}
    opened = anonymous.get(f"/dicom-web/studies/{south}", headers={**doctor, **accept, **glass})
    assert opened.status_code == 200
    assert anonymous.get(f"/dicom-web/studies/{south}",
                         headers={**researcher, **accept, **glass}).status_code == 403
    assert anonymous.get(f"/dicom-web/studies/{south}", headers={
        **doctor, **accept, "X-Break-Glass-Reason": "x" * 501}).status_code == 400

    [event] = ledger_events(archive, EventType.BREAK_GLASS)
    assert event.actor == "dr-north" and event.details["operation"] == "retrieve"
    assert event.details["break_glass"] is True
    assert "ER" not in event.to_json().decode()  # the reason itself stays out of the ledger
    with archive.engine.connect() as conn:
        [row] = conn.execute(sa.select(break_glass_log)).all()
    assert row.reason.startswith("unconscious patient") and row.actor == "dr-north"


def test_break_glass_search_is_flagged(archive: Archive,
                                       placed: dict[str, list[bytes]]) -> None:
    ctx = _ctx(NORTH, Role.CLINICIAN, reason="mass casualty incident")
    assert len(_found(archive, ctx)) == 3
    assert [e.details["operation"] for e in ledger_events(archive, EventType.BREAK_GLASS)] == [
        "search"]


def test_store_outside_scope_is_refused(archive: Archive, anonymous: httpx.Client) -> None:
    tech = bearer(token_for(archive, "tech-north", {Role.TECHNOLOGIST}, scope=NORTH))
    body, content_type = stow_body(study_files(4, institution="South Clinic"))
    response = anonymous.post("/dicom-web/studies", content=body,
                              headers={**tech, "Content-Type": content_type})
    assert response.status_code == 409
    reasons = {item["00081197"]["Value"][0] for item in response.json()["00081198"]["Value"]}
    assert reasons == {0x0124}  # Refused: not authorized
    body, content_type = stow_body(study_files(5, institution="North Hospital"))
    assert anonymous.post("/dicom-web/studies", content=body, headers={
        **tech, "Content-Type": content_type}).status_code == 200


def test_delete_needs_the_permission_and_the_scope(archive: Archive,
                                                   placed: dict[str, list[bytes]]) -> None:
    south = uids(placed["south"][0])[0]
    with pytest.raises(PermissionDeniedError):
        archive.delete(_ctx(StudyScope(), Role.CLINICIAN), south)
    ensure_user(archive, "unused", {Role.ADMIN})
    scoped_admin = _ctx(NORTH, Role.ADMIN)
    with pytest.raises(PermissionDeniedError):
        archive.delete(scoped_admin, south)
    assert archive.authorize(_ctx(StudyScope(), Role.ADMIN), Permission.DELETE).name == "someone"
    assert archive.delete(_ctx(StudyScope(), Role.ADMIN), south) == 2
