"""External OpenID Connect: bearer tokens from the hospital's identity provider.

A token is accepted when it is a JWT signed by a key of the issuer's JWKS
(fetched from ``oidc_jwks_url`` or the issuer's discovery document
``/.well-known/openid-configuration``, OpenID Connect Discovery 1.0 section 4;
cached and refreshed when an unknown ``kid`` appears), with an asymmetric
algorithm from the allowed list, ``iss`` equal to the configured issuer,
``aud`` containing the configured audience, and within ``nbf``/``exp``.

Roles come from a claim (``oidc_roles_claim``, a dotted path such as
``realm_access.roles`` for Keycloak), each value mapped through
``oidc_role_map`` (IdP group -> dicomvault role); values without a mapping
grant nothing. The principal's name is ``oidc_username_claim``
(``preferred_username`` by default) prefixed by ``oidc:``.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

import jwt

from dicomvault.access.principal import Principal, PrincipalKind
from dicomvault.access.roles import Role
from dicomvault.errors import AuthenticationError, ConfigurationError

ALLOWED_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA")
_TIMEOUT_S = 10


def _claim(claims: Mapping[str, Any], path: str) -> Any:
    value: Any = claims
    for step in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(step)
    return value


def _discover_jwks_url(issuer: str) -> str:
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    if not url.startswith(("https://", "http://")):
        raise ConfigurationError("oidc_issuer must be an http(s) URL")
    try:
        with urllib.request.urlopen(url, timeout=_TIMEOUT_S) as response:  # noqa: S310
            document = json.load(response)
    except (OSError, ValueError) as exc:
        raise ConfigurationError("the OIDC discovery document could not be read") from exc
    jwks_uri = document.get("jwks_uri")
    if not isinstance(jwks_uri, str):
        raise ConfigurationError("the OIDC discovery document has no jwks_uri")
    return jwks_uri


class OidcValidator:
    """Validates bearer tokens of one external issuer (see the module docstring)."""

    def __init__(self, *, issuer: str, audience: str, jwks_url: str | None,
                 roles_claim: str, role_map: Mapping[str, Sequence[str]],
                 username_claim: str) -> None:
        self.issuer = issuer
        self._audience = audience
        self._jwks_url = jwks_url
        self._client: jwt.PyJWKClient | None = None
        self._roles_claim = roles_claim
        self._role_map = {k: frozenset(Role(r) for r in v) for k, v in role_map.items()}
        self._username_claim = username_claim

    def _jwks(self) -> jwt.PyJWKClient:
        if self._client is None:
            url = self._jwks_url or _discover_jwks_url(self.issuer)
            self._client = jwt.PyJWKClient(url, cache_keys=True, lifespan=300,
                                           timeout=_TIMEOUT_S)
        return self._client

    def is_ours(self, token: str) -> bool:
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            return False
        return claims.get("iss") == self.issuer

    def principal(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") not in ALLOWED_ALGORITHMS:
                raise AuthenticationError("the identity provider's token is not valid")
            key = self._jwks().get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token, key.key, algorithms=list(ALLOWED_ALGORITHMS), audience=self._audience,
                issuer=self.issuer, options={"require": ["exp", "iat", "iss", "aud", "sub"]},
                leeway=30,
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthenticationError("the identity provider's token has expired") from exc
        except jwt.PyJWTError as exc:
            raise AuthenticationError("the identity provider's token is not valid") from exc
        name = _claim(claims, self._username_claim) or claims["sub"]
        values = _claim(claims, self._roles_claim) or []
        if isinstance(values, str):
            values = values.split()
        roles: set[Role] = set()
        for value in values if isinstance(values, list) else []:
            roles |= self._role_map.get(str(value), frozenset())
        return Principal(name=f"oidc:{name}", kind=PrincipalKind.OIDC, roles=frozenset(roles))
