"""Login, refresh, logout, lock-out, API tokens; forged and broken tokens refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tests.support.auth import (
    TEST_PASSWORD,
    admin_headers,
    bearer,
    ensure_user,
    ledger_events,
    token_for,
)

from dicomvault.access import Door, Role, system_context
from dicomvault.archive import Archive
from dicomvault.ledger import EventType

CLI = system_context(Door.CLI, actor="tests")
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _login(client: httpx.Client, user: str, password: str) -> httpx.Response:
    return client.post("/api/auth/login", json={"username": user, "password": password})


def test_login_me_refresh_logout(archive: Archive, anonymous: httpx.Client) -> None:
    ensure_user(archive, "dr-who", {Role.CLINICIAN})
    response = _login(anonymous, "dr-who", TEST_PASSWORD)
    assert response.status_code == 200
    session = response.json()
    assert session["token_type"] == "Bearer" and session["expires_in"] == 600
    assert session["user"] == {"name": "dr-who", "roles": ["clinician"]}
    me = anonymous.get("/api/auth/me", headers=bearer(session["access_token"])).json()
    assert me["name"] == "dr-who" and "retrieve" in me["permissions"]
    assert "store" not in me["permissions"] and me["scope"]["institutions"] == []

    renewed = anonymous.post("/api/auth/refresh",
                             json={"refresh_token": session["refresh_token"]})
    assert renewed.status_code == 200
    again = anonymous.post("/api/auth/refresh", json={"refresh_token": session["refresh_token"]})
    assert again.status_code == 401  # a refresh token is single use
    new_refresh = renewed.json()["refresh_token"]
    assert anonymous.post("/api/auth/logout", json={"refresh_token": new_refresh}).status_code \
        == 204
    assert anonymous.post("/api/auth/refresh", json={"refresh_token": new_refresh}).status_code \
        == 401
    kinds = [e.details.get("method") for e in ledger_events(archive, EventType.LOGIN_SUCCEEDED)]
    assert kinds == ["password", "refresh"]


def test_bad_password_is_401_and_audited_then_lock_out_429(
        archive: Archive, anonymous: httpx.Client) -> None:
    ensure_user(archive, "tech", {Role.TECHNOLOGIST})
    for _ in range(archive.settings.login_max_failures):
        refused = _login(anonymous, "tech", "wrong password!")
        assert refused.status_code == 401
        assert set(refused.json()) == {"error", "reason"}
        assert "tech" not in refused.json()["reason"]
    locked = _login(anonymous, "tech", TEST_PASSWORD)  # even the right password now
    assert locked.status_code == 429
    assert _login(anonymous, "nobody", TEST_PASSWORD).status_code == 401
    reasons = [e.details["reason"] for e in ledger_events(archive, EventType.LOGIN_FAILED)]
    assert reasons == ["bad_credentials"] * archive.settings.login_max_failures + [
        "locked_out", "bad_credentials"]
    assert all(e.door == "API" for e in ledger_events(archive, EventType.LOGIN_FAILED))


def test_an_address_spraying_user_names_is_rate_limited(
        archive: Archive, anonymous: httpx.Client) -> None:
    limit = archive.settings.login_rate_limit
    statuses = [_login(anonymous, f"guess{i}", "x" * 12).status_code for i in range(limit + 1)]
    assert statuses == [401] * limit + [429]


def _ours(archive: Archive) -> Ed25519PrivateKey:
    assert archive.access is not None
    return archive.access.authenticator.tokens._key


def _claims(archive: Archive, **changes: object) -> dict[str, object]:
    now = datetime.now(UTC)
    claims: dict[str, object] = {
        "iss": archive.settings.ledger_origin, "aud": archive.settings.token_audience,
        "sub": "test-admin", "iat": now, "nbf": now, "exp": now + timedelta(minutes=5),
        "jti": "x"}
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _tampered_claims(good: str) -> str:
    """The payload changed (another subject), the signature kept."""
    head, body, signature = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["sub"] = "someone-else"
    return f"{head}.{_b64(json.dumps(claims).encode())}.{signature}"


def _hmac_with_public_key(key: Ed25519PrivateKey, good: str) -> str:
    """The algorithm-confusion attack: HS256 keyed with the verifier's public key."""
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    header = _b64(json.dumps({"alg": "HS256", "typ": "at+jwt"}).encode())
    body = good.split(".")[1]
    mac = hmac.new(public_pem, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_b64(mac)}"


def _forgeries(archive: Archive) -> dict[str, str]:
    key = _ours(archive)
    header = {"typ": "at+jwt"}

    def signed(signer: Ed25519PrivateKey = key, **changes: object) -> str:
        return jwt.encode(_claims(archive, **changes), signer, algorithm="EdDSA",
                          headers=header)

    good = signed()
    head, body, signature = good.split(".")
    unsigned_header = _b64(json.dumps({"alg": "none", "typ": "at+jwt"}).encode())
    now = datetime.now(UTC)
    return {
        "other key": signed(Ed25519PrivateKey.generate()),
        "expired": signed(exp=now - timedelta(minutes=1)),
        "not yet valid": signed(nbf=now + timedelta(hours=1)),
        "wrong audience": signed(aud="another-service"),
        "wrong issuer": signed(iss="evil.example/ledger"),
        "no expiry": signed(exp=None),
        "alg none": f"{unsigned_header}.{body}.",
        "hmac with the public key": _hmac_with_public_key(key, good),
        "tampered signature": f"{head}.{body}.{signature[:-4]}AAAA",
        "tampered claims": _tampered_claims(good),
        "other token type": jwt.encode(_claims(archive), key, algorithm="EdDSA"),
        "garbage": "not-a-token",
        "unknown api token": "dvt_0123456789abcdef_secret",
    }


def test_forged_and_broken_tokens_are_refused(archive: Archive,
                                              anonymous: httpx.Client) -> None:
    admin_headers(archive)  # the subject of the forgeries exists and is an admin
    for name, token in _forgeries(archive).items():
        response = anonymous.get("/dicom-web/studies", headers=bearer(token))
        assert response.status_code == 401, name
        assert response.headers["www-authenticate"].startswith("Bearer"), name
    good = jwt.encode(_claims(archive), _ours(archive), algorithm="EdDSA",
                      headers={"typ": "at+jwt"})
    assert anonymous.get("/dicom-web/studies", headers=bearer(good)).status_code == 200


def test_api_tokens_scoped_revocable_expiring(archive: Archive,
                                              anonymous: httpx.Client) -> None:
    admin = admin_headers(archive)
    ensure_user(archive, "router", {Role.SERVICE}, service=True)
    created = anonymous.post("/api/tokens", headers=admin, json={
        "user": "router", "label": "modality router", "permissions": ["search"],
        "expires_in_days": 30})
    assert created.status_code == 201
    token = created.json()["token"]
    assert token.startswith("dvt_")
    listed = anonymous.get("/api/tokens", headers=admin).json()
    assert [t["id"] for t in listed] == [created.json()["id"]]
    assert all("token" not in t and token not in json.dumps(t) for t in listed)
    assert anonymous.get("/dicom-web/studies", headers=bearer(token)).status_code == 200
    # narrowed to search: the service role's store is not granted through this token
    refused = anonymous.post("/dicom-web/studies", headers={
        **bearer(token), "Content-Type": 'multipart/related; type="application/dicom"; '
                                         'boundary=x'}, content=b"--x--")
    assert refused.status_code == 403
    assert anonymous.delete(f"/api/tokens/{created.json()['id']}",
                            headers=admin).status_code == 204
    assert anonymous.get("/dicom-web/studies", headers=bearer(token)).status_code == 401

    past = anonymous.post("/api/tokens", headers=admin, json={
        "user": "router", "expires_at": "2001-01-01T00:00:00+00:00"})
    assert past.status_code == 400
    assert archive.access is not None
    info, text = archive.access.create_token(
        CLI, "router", expires_at=datetime.now(UTC) + timedelta(seconds=1))
    time.sleep(1.5)
    expired = anonymous.get("/dicom-web/studies", headers=bearer(text))
    assert expired.status_code == 401 and "expired" in expired.json()["reason"]
    assert info.id


def test_a_disabled_account_is_refused_at_once(archive: Archive,
                                               anonymous: httpx.Client) -> None:
    token = token_for(archive, "leaver", {Role.CLINICIAN})
    assert anonymous.get("/api/auth/me", headers=bearer(token)).status_code == 200
    changed = anonymous.patch("/api/users/leaver", headers=admin_headers(archive),
                              json={"disabled": True})
    assert changed.status_code == 200 and changed.json()["disabled"] is True
    assert anonymous.get("/api/auth/me", headers=bearer(token)).status_code == 401
