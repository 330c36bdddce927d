"""RFC 9421-style signatures of federation requests and answers; agreement documents."""

from __future__ import annotations

import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from dicomvault.errors import AuthenticationError
from dicomvault.sharing.agreement import ScopeKind, ShareAgreement, ShareDoor, ShareScope
from dicomvault.sharing.institution import InstitutionKey
from dicomvault.sharing.signing import (
    WINDOW_SECONDS,
    sign_request,
    sign_response,
    verify_request,
    verify_response,
)

PARTNER = InstitutionKey(Ed25519PrivateKey.generate())
GRANTOR = InstitutionKey(Ed25519PrivateKey.generate())
PATH = "/federation/sh-0123456789abcdef01234567/studies"


def _lower(headers: dict[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def test_a_signed_request_verifies_once_and_only_as_sent() -> None:
    headers = _lower(sign_request(PARTNER, "GET", PATH, "limit=5"))
    signed = verify_request(PARTNER.identity, headers, method="GET", path=PATH, query="limit=5")
    assert signed.institution_id == PARTNER.institution_id and len(signed.nonce) == 32
    for changed in ({"method": "POST"}, {"path": PATH + "x"}, {"query": "limit=6"}):
        request = {"method": "GET", "path": PATH, "query": "limit=5", **changed}
        with pytest.raises(AuthenticationError):
            verify_request(PARTNER.identity, headers, **request)
    with pytest.raises(AuthenticationError, match="grantee"):
        verify_request(GRANTOR.identity, headers, method="GET", path=PATH, query="limit=5")
    with pytest.raises(AuthenticationError, match="Content-Digest"):
        verify_request(PARTNER.identity, headers, method="GET", path=PATH, query="limit=5",
                       body=b"x")


def test_the_date_window() -> None:
    headers = _lower(sign_request(PARTNER, "GET", PATH, ""))
    later = time.time() + WINDOW_SECONDS + 5
    with pytest.raises(AuthenticationError, match="window"):
        verify_request(PARTNER.identity, headers, method="GET", path=PATH, query="", now=later)


def test_an_answer_is_bound_to_its_request() -> None:
    headers = _lower(sign_response(GRANTOR, 200, b"[]", "ab" * 16))
    verify_response(GRANTOR.identity, headers, 200, b"[]", "ab" * 16)
    for status, body, nonce in ((410, b"[]", "ab" * 16), (200, b"[{}]", "ab" * 16),
                                (200, b"[]", "cd" * 16)):
        with pytest.raises(AuthenticationError):
            verify_response(GRANTOR.identity, headers, status, body, nonce)
    with pytest.raises(AuthenticationError):
        verify_response(PARTNER.identity, headers, 200, b"[]", "ab" * 16)


@given(purpose=st.text(min_size=1, max_size=200).filter(str.strip),
       values=st.lists(st.text(alphabet="0123456789.", min_size=1, max_size=64), min_size=1,
                       max_size=5),
       limit=st.integers(min_value=1, max_value=2**31))
def test_agreement_documents_round_trip_canonically(purpose: str, values: list[str],
                                                    limit: int) -> None:
    scope = ShareScope(ScopeKind.STUDY, tuple(values))
    agreement = ShareAgreement(
        share_id="sh-0123456789abcdef01234567", grantor=GRANTOR.institution_id,
        grantor_key=GRANTOR.identity.text, grantor_url="https://a.example",
        grantee=PARTNER.institution_id, grantee_key=PARTNER.identity.text,
        scope_kind=scope.kind, scope_commitment=scope.commitment(b"salt"), purpose=purpose,
        created="2026-11-24T00:00:00Z", expires="2026-12-24T00:00:00Z", max_retrievals=limit,
        deid_profile=("clean-descriptors",), allow_burned_in=False, doors=(ShareDoor.WADO,))
    document = agreement.canonical()
    assert ShareAgreement.from_canonical(document) == agreement
    assert ShareAgreement.from_canonical(document).sha256() == agreement.sha256()
