"""Short-lived signed access tokens (JWT, EdDSA/Ed25519; RFC 7519, RFC 8037).

An access token says only who it is for (``sub``), by whom (``iss``, the
node), for whom (``aud``), when (``iat``, ``nbf``, ``exp``) and its id
(``jti``). Roles and scope are read from the account on every request, so a
disabled account or a changed role takes effect at once, not at expiry.

Verification accepts exactly ``EdDSA`` with this node's key: ``alg=none``,
HMAC with the public key as secret (the classic algorithm-confusion attack),
other keys, tampered bytes, a wrong audience or issuer, an expired or not yet
valid token are all refused with the same 401.

The signing key is an Ed25519 private key in ``<data_dir>/keys/auth/
token-signing.pem`` (mode 0600), made once; every process of the node shares
it, so a token issued by one server process is valid at the others.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dicomvault.errors import AuthenticationError
from dicomvault.keys.files import create_secret_file_once

ALGORITHM = "EdDSA"
TOKEN_TYPE = "at+jwt"  # noqa: S105 - RFC 9068 access-token type header


def load_signing_key(directory: Path) -> Ed25519PrivateKey:
    path = directory / "token-signing.pem"
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    create_secret_file_once(path, pem)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise AuthenticationError("the token-signing key is not an Ed25519 key")
    return key


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires_in: int


class AccessTokens:
    """Issues and verifies this node's access tokens."""

    def __init__(self, key: Ed25519PrivateKey, *, issuer: str, audience: str,
                 lifetime: timedelta) -> None:
        self._key = key
        self._public = key.public_key()
        self.issuer = issuer
        self.audience = audience
        self.lifetime = lifetime

    def issue(self, subject: str) -> IssuedToken:
        now = datetime.now(UTC)
        claims = {"iss": self.issuer, "aud": self.audience, "sub": subject,
                  "iat": now, "nbf": now, "exp": now + self.lifetime,
                  "jti": secrets.token_hex(12)}
        token = jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"typ": TOKEN_TYPE})
        return IssuedToken(token, int(self.lifetime.total_seconds()))

    def subject(self, token: str) -> str:
        """The ``sub`` of a valid token of this node; AuthenticationError otherwise."""
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") != ALGORITHM or header.get("typ") != TOKEN_TYPE:
                raise AuthenticationError("the access token is not valid")
            claims = jwt.decode(
                token, self._public, algorithms=[ALGORITHM], audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "nbf", "sub", "aud", "iss", "jti"]},
                leeway=5,
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthenticationError("the access token has expired") from exc
        except jwt.PyJWTError as exc:
            raise AuthenticationError("the access token is not valid") from exc
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject:
            raise AuthenticationError("the access token is not valid")
        return subject

    def is_ours(self, token: str) -> bool:
        """Whether an (unverified) JWT claims to come from this node."""
        try:
            return jwt.decode(token, options={"verify_signature": False}).get("iss") == self.issuer
        except jwt.PyJWTError:
            return False
