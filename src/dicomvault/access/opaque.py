"""Opaque bearer secrets (API tokens, refresh tokens): ``<prefix>_<id>_<secret>``.

The id is public (it names the token in listings and revocation); the secret
is 256 bits from :mod:`secrets` and only its SHA-256 is stored. Comparison is
constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class OpaqueToken:
    id: str
    secret: str
    prefix: str

    @property
    def text(self) -> str:
        return f"{self.prefix}_{self.id}_{self.secret}"


def new_opaque(prefix: str) -> OpaqueToken:
    return OpaqueToken(id=secrets.token_hex(8), secret=secrets.token_urlsafe(32), prefix=prefix)


def parse_opaque(text: str, prefix: str) -> OpaqueToken | None:
    head, sep, rest = text.partition("_")
    token_id, sep2, secret = rest.partition("_")
    if head != prefix or not sep or not sep2 or len(token_id) != 16 or not secret:
        return None
    return OpaqueToken(id=token_id, secret=secret, prefix=prefix)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def matches(secret: str, stored_digest: str) -> bool:
    return hmac.compare_digest(digest(secret), stored_digest)
