"""Agreements: the document, its hash and signature, creation, revocation, the use counter."""

from __future__ import annotations

import hashlib
import stat
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tests.sharing.conftest import CTX, institution_key, make_study, store
from tests.support.auth import ledger_events

from dicomvault.access import Door, Principal, PrincipalKind, RequestContext, Role
from dicomvault.archive import Archive
from dicomvault.errors import (
    AgreementEndedError,
    ConfigurationError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from dicomvault.index import write_transaction
from dicomvault.ledger import EventType
from dicomvault.ledger.canonical import canonical_json
from dicomvault.sharing import registry
from dicomvault.sharing.agreement import ScopeKind, ShareAgreement, ShareScope
from dicomvault.sharing.grants import GrantRequest, ShareGrants, pseudonym_key
from dicomvault.sharing.institution import InstitutionKey, PublicIdentity
from dicomvault.sharing.scope import studies_in_scope

PARTNER = InstitutionKey(Ed25519PrivateKey.generate())


def _request(scope: ShareScope | None = None, **changes: object) -> GrantRequest:
    base = GrantRequest(grantee=PARTNER.identity,
                        scope=scope or ShareScope(ScopeKind.STUDY, ("1.2.3.4",)),
                        purpose="second opinion",
                        expires=datetime.now(UTC) + timedelta(days=7), max_retrievals=5,
                        deid_profile=["retain-longitudinal-modified-dates"])
    return replace(base, **changes)  # type: ignore[arg-type]


def _grants(archive: Archive) -> ShareGrants:
    return ShareGrants(archive, institution_key(archive))


def test_grant_is_signed_hashed_and_in_the_ledger_without_phi(grantor: Archive) -> None:
    study = store(grantor, make_study(patient_id="PAT-7781", patient_name="Doe^Jane"))
    record = _grants(grantor).create(CTX, _request(ShareScope(ScopeKind.PATIENT,
                                                              (study.patient_id,))))
    agreement = record.agreement
    # The document both sides hold: canonical JSON, its SHA-256 the ledger's agreement_sha256.
    assert record.document == canonical_json(agreement.to_dict())
    assert ShareAgreement.from_canonical(record.document) == agreement
    assert institution_key(grantor).identity.verify(record.signature, record.document)
    assert b"PAT-7781" not in record.document  # the scope is only a salted commitment
    assert agreement.scope_commitment == record.scope.commitment(record.scope_salt)
    [event] = ledger_events(grantor, EventType.SHARED)
    assert event.details["agreement_sha256"] == hashlib.sha256(record.document).hexdigest()
    assert event.details["role"] == "grantor" and event.details["grantee"] == PARTNER.institution_id
    assert "second opinion" not in repr(event.to_dict())  # the purpose is hashed
    assert agreement.grantee == PARTNER.identity.institution_id
    assert agreement.deid_profile == ("retain-longitudinal-modified-dates",)


def test_each_agreement_has_its_own_wrapped_pseudonym_key(grantor: Archive) -> None:
    scope = ShareScope(ScopeKind.STUDY, ("1.2.3.4",))
    first, second = (_grants(grantor).create(CTX, _request(scope)) for _ in range(2))
    assert first.agreement.share_id != second.agreement.share_id
    assert len(pseudonym_key(grantor, first)) == 32
    assert pseudonym_key(grantor, first) != pseudonym_key(grantor, second)
    assert pseudonym_key(grantor, first) not in first.wrapped_key


def test_revocation_is_recorded_once_with_the_agreement_hash(grantor: Archive) -> None:
    grants = _grants(grantor)
    record = grants.create(CTX, _request(ShareScope(ScopeKind.STUDY, ("1.2.3.4",))))
    revoked = grants.revoke(CTX, record.agreement.share_id, "patient withdrew consent")
    assert revoked.status() is registry.ShareStatus.REVOKED
    grants.revoke(CTX, record.agreement.share_id)  # idempotent: no second event
    [event] = ledger_events(grantor, EventType.SHARE_REVOKED)
    assert event.details["agreement_sha256"] == record.agreement.sha256()
    assert "consent" not in repr(event.to_dict())
    with pytest.raises(NotFoundError):
        grants.revoke(CTX, "sh-000000000000000000000000")


@pytest.mark.parametrize(("changes", "message"), [
    ({"deid_profile": ["retain-everything"]}, "unknown de-identification option"),
    ({"expires": datetime.now(UTC) - timedelta(minutes=1)}, "future"),
    ({"max_retrievals": 0}, "max_retrievals"),
    ({"doors": ["dimse"]}, "doors"),
    ({"scope": ShareScope(ScopeKind.QUERY, query={"NoSuchKeyword": "x"})}, "unknown attribute"),
])
def test_invalid_agreements_are_refused(grantor: Archive, changes: dict[str, object],
                                        message: str) -> None:
    request = _request(**changes)
    with pytest.raises(InvalidInputError, match=message):
        _grants(grantor).create(CTX, request)
    assert ledger_events(grantor, EventType.SHARED) == []


def test_no_sharing_with_oneself_and_no_wildcard_scopes(grantor: Archive) -> None:
    me = institution_key(grantor).identity
    with pytest.raises(InvalidInputError, match="itself"):
        _grants(grantor).create(CTX, _request(ShareScope(ScopeKind.STUDY, ("1.2",)), grantee=me))
    with pytest.raises(InvalidInputError, match="wildcards"):
        ShareScope(ScopeKind.PATIENT, ("DOE*",))


def test_only_the_share_permission_grants(grantor: Archive) -> None:
    researcher = RequestContext(actor="r", door=Door.API, principal=Principal(
        name="r", kind=PrincipalKind.USER, roles=frozenset({Role.RESEARCHER})))
    with pytest.raises(PermissionDeniedError):
        _grants(grantor).create(researcher, _request(ShareScope(ScopeKind.STUDY, ("1.2",))))
    with pytest.raises(PermissionDeniedError):
        _grants(grantor).list(researcher)


def test_saved_query_scope_follows_the_archive(grantor: Archive) -> None:
    brain = ShareScope(ScopeKind.QUERY, query={"ModalitiesInStudy": "MR",
                                               "StudyDescription": "*BRAIN*"})
    store(grantor, make_study(patient_id="P1", patient_name="A^B", description="CHEST",
                              base="MR_small.dcm"))
    ct = store(grantor, make_study(patient_id="P2", patient_name="C^D", description="BRAIN CT"))
    with grantor.engine.connect() as conn:
        assert studies_in_scope(conn, brain) == set()
    later = store(grantor, make_study(patient_id="P3", patient_name="E^F",
                                      description="MR BRAIN W/O", base="MR_small.dcm"))
    with grantor.engine.connect() as conn:
        assert studies_in_scope(conn, brain) == {later.study_uid}
        assert studies_in_scope(conn, ShareScope(ScopeKind.SERIES, (ct.series_uid,))) == {
            ct.study_uid}
        assert studies_in_scope(conn, ShareScope(ScopeKind.PATIENT, ("P2", "P3"))) == {
            ct.study_uid, later.study_uid}


def test_the_use_limit_holds_and_says_why(grantor: Archive) -> None:
    record = _grants(grantor).create(CTX, _request(ShareScope(ScopeKind.STUDY, ("1.2",)),
                                                   max_retrievals=2))
    for _ in range(2):
        with write_transaction(grantor.engine) as conn:
            registry.consume_retrieval(conn, record)
    with pytest.raises(AgreementEndedError) as ended, write_transaction(grantor.engine) as conn:
        registry.consume_retrieval(conn, record)
    assert ended.value.reason == "exhausted" and ended.value.http_status == 410
    with grantor.engine.connect() as conn:
        assert registry.get_agreement(conn, record.agreement.share_id).status() is (
            registry.ShareStatus.EXHAUSTED)


def test_public_identity_round_trip() -> None:
    identity = PARTNER.identity
    assert PublicIdentity.parse(identity.text) == identity
    assert identity.institution_id == hashlib.sha256(identity.public_key).hexdigest()
    with pytest.raises(InvalidInputError):
        PublicIdentity.parse("not base64!")


def test_institution_key_file_is_private_and_stable(tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    first = InstitutionKey.load_or_create(keys_dir)
    path = InstitutionKey.path_in(keys_dir)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert InstitutionKey.load_or_create(keys_dir).institution_id == first.institution_id
    assert first.institution_id[:16] in repr(first) and "PrivateKey" not in repr(first)
    path.chmod(0o644)
    with pytest.raises(ConfigurationError, match="readable by others"):
        InstitutionKey.load(keys_dir)
