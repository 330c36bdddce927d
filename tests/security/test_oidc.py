"""External OpenID Connect: tokens of a local issuer the test runs, validated by its JWKS
(found through its discovery document), roles mapped from a claim."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from tests.support.auth import bearer
from tests.support.live import free_port, serving
from tests.support.nodes import open_test_node

from dicomvault.archive import Archive

AUDIENCE = "dicomvault-pacs"


class _Issuer:
    """A minimal OpenID provider: discovery document and JWKS (ES256), on 127.0.0.1."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        jwk = json.loads(ECAlgorithm.to_jwk(self.key.public_key()))
        jwk.update(kid="test-key-1", use="sig", alg="ES256")
        documents = {
            "/.well-known/openid-configuration": {"issuer": self.url,
                                                  "jwks_uri": self.url + "/jwks"},
            "/jwks": {"keys": [jwk]},
        }

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                document = documents.get(self.path)
                body = json.dumps(document).encode()
                self.send_response(200 if document else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def token(self, key: Any = None, **changes: Any) -> str:
        now = datetime.now(UTC)
        claims = {"iss": self.url, "aud": AUDIENCE, "sub": "u-123", "iat": now,
                  "exp": now + timedelta(minutes=5), "preferred_username": "grey",
                  "realm_access": {"roles": ["radiologists", "staff"]}}
        claims.update(changes)
        return jwt.encode({k: v for k, v in claims.items() if v is not None},
                          key or self.key, algorithm="ES256", headers={"kid": "test-key-1"})


@pytest.fixture
def issuer() -> Iterator[_Issuer]:
    idp = _Issuer()
    idp.thread.start()
    try:
        yield idp
    finally:
        idp.server.shutdown()
        idp.server.server_close()


@pytest.fixture
def oidc_node(issuer: _Issuer, tmp_path: Path) -> Iterator[str]:
    archive: Archive
    with open_test_node(tmp_path / "node", f"sqlite:///{tmp_path / 'i.sqlite3'}",
                        oidc_issuer=issuer.url, oidc_audience=AUDIENCE,
                        oidc_roles_claim="realm_access.roles",
                        oidc_role_map={"radiologists": ["clinician"]}) as archive, \
            serving(archive) as url:
        yield url


def test_issuer_tokens_are_accepted_with_mapped_roles(issuer: _Issuer, oidc_node: str) -> None:
    me = httpx.get(oidc_node + "/api/auth/me", headers=bearer(issuer.token()))
    assert me.status_code == 200
    assert me.json()["name"] == "oidc:grey" and me.json()["roles"] == ["clinician"]
    assert httpx.get(oidc_node + "/dicom-web/studies",
                     headers=bearer(issuer.token())).status_code == 200
    unmapped = issuer.token(realm_access={"roles": ["staff"]})
    assert httpx.get(oidc_node + "/dicom-web/studies", headers=bearer(unmapped)).status_code \
        == 403


def test_bad_issuer_tokens_are_refused(issuer: _Issuer, oidc_node: str) -> None:
    now = datetime.now(UTC)
    bad = {
        "other key": issuer.token(key=ec.generate_private_key(ec.SECP256R1())),
        "wrong audience": issuer.token(aud="another-app"),
        "expired": issuer.token(exp=now - timedelta(minutes=5), iat=now - timedelta(hours=1)),
        "no expiry": issuer.token(exp=None),
    }
    for name, token in bad.items():
        response = httpx.get(oidc_node + "/api/auth/me", headers=bearer(token))
        assert response.status_code == 401, name
