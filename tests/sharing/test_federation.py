"""Federation over real HTTP (the grantor served on a socket, the grantee's real client):
what leaves is de-identified and remapped, and every refusal ends as the agreement says,
in both ledgers."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from io import BytesIO

import httpx
import pydicom
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydicom.uid import generate_uid
from tests.sharing.conftest import CTX, SharedStudy, institution_key, introduce, make_study, store
from tests.support.auth import ledger_events
from tests.support.live import serving

from dicomvault.archive import Archive
from dicomvault.errors import AgreementEndedError, AuthenticationError, NotFoundError
from dicomvault.index import Query, QueryLevel
from dicomvault.ledger import EventType
from dicomvault.sharing.agreement import ScopeKind, ShareScope
from dicomvault.sharing.client import FederationClient
from dicomvault.sharing.grantee import ShareReceiver
from dicomvault.sharing.grants import GrantRequest, ShareGrants
from dicomvault.sharing.institution import InstitutionKey
from dicomvault.sharing.registry import ShareRecord
from dicomvault.sharing.signing import sign_request


@pytest.fixture
def grantor_url(grantor: Archive) -> Iterator[str]:
    with serving(grantor) as url:
        yield url


@pytest.fixture
def receiver(grantor: Archive, grantee: Archive, grantor_url: str) -> ShareReceiver:
    introduce(grantee, grantor, "grantor-hospital", grantor_url)
    introduce(grantor, grantee, "partner-hospital")
    return ShareReceiver(grantee, institution_key(grantee))


def grant(grantor: Archive, scope: ShareScope, **changes: object) -> ShareRecord:
    values: dict[str, object] = {
        "grantee": _grantee_identity(grantor), "scope": scope, "purpose": "research cohort",
        "expires": datetime.now(UTC) + timedelta(days=1), "max_retrievals": 100,
        "deid_profile": ["retain-longitudinal-modified-dates"], **changes}
    return ShareGrants(grantor, institution_key(grantor)).create(
        CTX, GrantRequest(**values))  # type: ignore[arg-type]


def _grantee_identity(grantor: Archive) -> object:
    from dicomvault.sharing.partners import find_partner

    with grantor.engine.connect() as conn:
        return find_partner(conn, "partner-hospital").identity


def _imported(grantee: Archive) -> list[pydicom.Dataset]:
    rows = grantee.find(Query(level=QueryLevel.IMAGE), CTX)
    found = []
    for row in rows:
        [location] = grantee.locate(CTX, str(row.get("StudyInstanceUID")),
                                    str(row.get("SeriesInstanceUID")),
                                    str(row.get("SOPInstanceUID")))
        found.append(pydicom.dcmread(BytesIO(grantee.read_instance(location))))
    return found


def _details(archive: Archive, kind: EventType, share_id: str) -> list[dict[str, object]]:
    return [dict(e.details) for e in ledger_events(archive, kind)
            if e.details.get("share_id") == share_id]


def test_partner_retrieves_deidentified_remapped_data(
        grantor: Archive, grantee: Archive, receiver: ShareReceiver) -> None:
    study = store(grantor, make_study(patient_id="MRN-55501", patient_name="Doe^Jane"))
    other = store(grantor, make_study(patient_id="MRN-55502", patient_name="Roe^Rick"))
    record = grant(grantor, ShareScope(ScopeKind.PATIENT, (study.patient_id,)))
    share_id = record.agreement.share_id
    receiver.accept(CTX, "grantor-hospital", share_id)
    report = receiver.retrieve(CTX, share_id)
    assert report.ended is None and len(report.imported) == 2
    received = _imported(grantee)
    assert len(received) == 2  # the other patient's study stayed invisible
    originals = {study.study_uid, study.series_uid, *study.sop_uids, other.study_uid}
    for ds in received:
        assert ds.PatientName != study.patient_name and ds.PatientID != study.patient_id
        assert "Doe" not in str(ds.PatientName) and ds.PatientIdentityRemoved == "YES"
        assert not {ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID} & originals
    assert len({ds.PatientID for ds in received}) == 1  # one consistent pseudonym
    assert len({ds.StudyInstanceUID for ds in received}) == 1  # studies stay studies
    # Both ledgers: the grant (same hash), and each instance sent == each received.
    digest = record.agreement.sha256()
    [granted] = _details(grantor, EventType.SHARED, share_id)
    [accepted] = _details(grantee, EventType.SHARED, share_id)
    assert granted["agreement_sha256"] == accepted["agreement_sha256"] == digest
    assert (granted["role"], accepted["role"]) == ("grantor", "grantee")
    sent = {d["released_sha256"] for d in _details(grantor, EventType.SHARE_USED, share_id)
            if d.get("operation") == "retrieve"}
    got = {d["released_sha256"] for d in _details(grantee, EventType.SHARE_USED, share_id)
           if d.get("operation") == "retrieve"}
    assert len(sent) == 2 and sent == got


def test_a_new_study_matching_a_saved_query_becomes_visible(
        grantor: Archive, receiver: ShareReceiver) -> None:
    record = grant(grantor, ShareScope(ScopeKind.QUERY, query={
        "ModalitiesInStudy": "MR", "StudyDescription": "*BRAIN*"}))
    share_id = record.agreement.share_id
    store(grantor, make_study(patient_id="P-CT", patient_name="A^B", description="BRAIN CT"))
    receiver.accept(CTX, "grantor-hospital", share_id)
    assert receiver.search(CTX, share_id) == []
    store(grantor, make_study(patient_id="P-MR", patient_name="C^D",
                              description="MR BRAIN", base="MR_small.dcm"))
    [found] = receiver.search(CTX, share_id)
    assert found["00080061"]["Value"] == ["MR"]
    assert "00081030" not in found  # Study Description: X in PS3.15 Table E.1-1
    assert "P-MR" not in str(found) and "C^D" not in str(found)


def test_uid_guessing_is_not_found_and_recorded_by_both(
        grantor: Archive, receiver: ShareReceiver) -> None:
    shared = store(grantor, make_study(patient_id="P-1", patient_name="A^B"))
    hidden = store(grantor, make_study(patient_id="P-2", patient_name="C^D"))
    record = grant(grantor, ShareScope(ScopeKind.STUDY, (shared.study_uid,)))
    share_id = record.agreement.share_id
    receiver.accept(CTX, "grantor-hospital", share_id)
    for guess in ((hidden.study_uid, hidden.series_uid, hidden.sop_uids[0]),  # real UIDs
                  (shared.study_uid, shared.series_uid, shared.sop_uids[0]),  # unremapped
                  (generate_uid(), generate_uid(), generate_uid())):  # made up
        with pytest.raises(NotFoundError):
            receiver.retrieve_instance(CTX, share_id, *guess)
    refusals = [d for d in _details(grantor, EventType.SHARE_USED, share_id)
                if d.get("outcome") == "refused"]
    assert [d["reason"] for d in refusals] == ["not-found"] * 3
    assert [d["reason"] for d in _details(receiver.archive, EventType.SHARE_USED, share_id)
            if d.get("outcome") == "refused"] == ["not-found"] * 3


def test_use_limit_reached(grantor: Archive, receiver: ShareReceiver) -> None:
    study = store(grantor, make_study(patient_id="P-1", patient_name="A^B", count=3))
    record = grant(grantor, ShareScope(ScopeKind.STUDY, (study.study_uid,)), max_retrievals=2)
    share_id = record.agreement.share_id
    receiver.accept(CTX, "grantor-hospital", share_id)
    report = receiver.retrieve(CTX, share_id)
    assert len(report.imported) == 2 and report.ended == "exhausted"
    with pytest.raises(AgreementEndedError, match="maximum number of retrievals"):
        receiver.search(CTX, share_id)
    assert any(d.get("reason") == "exhausted"
               for d in _details(grantor, EventType.SHARE_USED, share_id))
    assert any(d.get("reason") == "exhausted"
               for d in _details(receiver.archive, EventType.SHARE_USED, share_id))


def test_revocation_mid_transfer(grantor: Archive, receiver: ShareReceiver) -> None:
    study = store(grantor, make_study(patient_id="P-1", patient_name="A^B", count=3))
    record = grant(grantor, ShareScope(ScopeKind.STUDY, (study.study_uid,)))
    share_id = record.agreement.share_id
    receiver.accept(CTX, "grantor-hospital", share_id)
    grants = ShareGrants(grantor, institution_key(grantor))

    def revoke_after_first(_: str) -> None:
        grants.revoke(CTX, share_id, "consent withdrawn")

    report = receiver.retrieve(CTX, share_id, on_instance=revoke_after_first)
    assert len(report.imported) == 1 and report.ended == "revoked"
    assert _details(grantor, EventType.SHARE_REVOKED, share_id)[0]["agreement_sha256"] == (
        record.agreement.sha256())
    assert _details(receiver.archive, EventType.SHARE_REVOKED, share_id)[0]["role"] == "grantee"
    [received] = receiver.list_received(CTX)
    assert (received["share_id"], received["ended"]) == (share_id, "revoked")
    assert any(d.get("reason") == "revoked"
               for d in _details(grantor, EventType.SHARE_USED, share_id))


def test_expiry(grantor: Archive, receiver: ShareReceiver) -> None:
    study = store(grantor, make_study(patient_id="P-1", patient_name="A^B"))
    record = grant(grantor, ShareScope(ScopeKind.STUDY, (study.study_uid,)),
                   expires=datetime.now(UTC) + timedelta(seconds=4))
    share_id = record.agreement.share_id
    receiver.accept(CTX, "grantor-hospital", share_id)
    _until_raises(lambda: receiver.search(CTX, share_id), AgreementEndedError)
    with pytest.raises(AgreementEndedError, match="expired"):
        receiver.retrieve_instance(CTX, share_id, "1.2", "1.2", "1.2")
    assert receiver.retrieve(CTX, share_id).ended == "expired"
    assert any(d.get("reason") == "expired"
               for d in _details(grantor, EventType.SHARE_USED, share_id))
    assert any(d.get("reason") == "expired"
               for d in _details(receiver.archive, EventType.SHARE_USED, share_id))


def _until_raises(action: Callable[[], object], error: type[Exception]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            action()
        except error:
            return
        time.sleep(0.2)
    raise AssertionError(f"{error.__name__} never came")


def test_mutual_authentication(grantor: Archive, grantee: Archive, grantor_url: str,
                               receiver: ShareReceiver) -> None:
    study = store(grantor, make_study(patient_id="P-1", patient_name="A^B"))
    share_id = grant(grantor, ShareScope(ScopeKind.STUDY, (study.study_uid,))).agreement.share_id
    stranger = InstitutionKey(Ed25519PrivateKey.generate())
    grantor_identity = institution_key(grantor).identity
    # A third institution, validly signing with its own key: not the grantee.
    with pytest.raises(AuthenticationError):
        FederationClient(stranger, grantor_identity, grantor_url, share_id).search()
    # The grantee, expecting another grantor key: the (genuine) answer is refused.
    with pytest.raises(AuthenticationError, match="not signed"):
        FederationClient(institution_key(grantee), stranger.identity, grantor_url,
                         share_id).search()
    # No signature at all, or a replayed one: 401, no bearer token helps.
    path = f"/federation/{share_id}/studies"
    assert httpx.get(grantor_url + path).status_code == 401
    headers = sign_request(institution_key(grantee), "GET", path, "")
    assert httpx.get(grantor_url + path, headers=headers).status_code == 200
    replay = httpx.get(grantor_url + path, headers=headers)
    assert replay.status_code == 401 and "replayed" in replay.json()["reason"]
    tampered = httpx.get(grantor_url + path + "?limit=1", headers=sign_request(
        institution_key(grantee), "GET", path, ""))
    assert tampered.status_code == 401


def test_partner_search_cannot_match_on_identifying_values(
        grantor: Archive, grantee: Archive, grantor_url: str,
        receiver: ShareReceiver) -> None:
    study: SharedStudy = store(grantor, make_study(patient_id="P-1", patient_name="A^B"))
    share_id = grant(grantor, ShareScope(ScopeKind.STUDY, (study.study_uid,))).agreement.share_id
    path = f"/federation/{share_id}/studies"
    response = httpx.get(grantor_url + path + "?PatientID=P-1", headers=sign_request(
        institution_key(grantee), "GET", path, "PatientID=P-1"))
    assert response.status_code == 400 and "PatientID" in response.json()["reason"]
