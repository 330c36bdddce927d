"""RFC 9421-style signatures of federation requests and answers."""

from __future__ import annotations

import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dicomvault.errors import AuthenticationError
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
