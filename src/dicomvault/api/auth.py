"""Authentication for every HTTP door: the bearer-token middleware and ``/api/auth``.

Every request needs ``Authorization: Bearer <token>`` (an access token from
``/api/auth/login``, an API token, or a token of the configured OpenID Connect
issuer) except the paths in :data:`PUBLIC_PATHS`: the health check, the
login itself (login, refresh, logout, which carry their own credentials) and
the UI's static shell. Missing or invalid credentials answer 401 with
``WWW-Authenticate: Bearer`` (RFC 6750 3); what a valid principal may do is
decided by the Archive service, never here.

``/api/auth``: ``POST login`` {username, password} -> tokens; ``POST refresh``
{refresh_token} -> new tokens (the old refresh token is spent); ``POST logout``
{refresh_token} -> 204; ``GET me`` -> name, roles, permissions, scope.
"""

from __future__ import annotations

import re
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from dicomvault.access import Principal
from dicomvault.access.authn import Session
from dicomvault.api.common import access_of, json_object, text_field
from dicomvault.archive import Archive
from dicomvault.dicomweb.errors import error_response
from dicomvault.errors import AuthenticationError, OutOfResourcesError
from dicomvault.index import database_reachable

#: Paths served without authentication. The UI's static shell (no data in it) is
#: added here by the UI; everything else, /docs and /openapi.json included, is closed.
PUBLIC_PATHS = frozenset({"/healthz", "/api/auth/login", "/api/auth/refresh",
                          "/api/auth/logout", "/", "/ui"})
#: Path prefixes anyone may GET: the browser UI's static files (dicomvault/web), which
#: hold no data; every page fetches its data from the APIs with the user's token.
PUBLIC_PREFIXES = ("/ui/",)
#: Ledger resources anyone may GET: signed checkpoints, the verifier keys and the
#: proofs, which are hashes only (no PHI, no staff names), as a Certificate
#: Transparency log publishes them. Partner institutions witnessing this log need
#: no account here.
PUBLIC_READS = (
    re.compile(r"/api/ledger/(checkpoint|public-key|consistency-proof)"),
    re.compile(r"/api/ledger/entries/[0-9]+/inclusion-proof"),
    # Partner institutions have no account here: every federation request carries an
    # RFC 9421 signature by its institution key, checked by dicomvault.sharing.release.
    re.compile(r"/federation/[^/]+/.+"),
)


def is_public(method: str, path: str, public_paths: frozenset[str] = PUBLIC_PATHS) -> bool:
    """Whether a request needs no credentials (see :data:`PUBLIC_PATHS`, :data:`PUBLIC_READS`)."""
    if path in public_paths:
        return True
    if method in {"GET", "HEAD"} and path.startswith(PUBLIC_PREFIXES):
        return True
    return method == "GET" and any(pattern.fullmatch(path) for pattern in PUBLIC_READS)


def _bearer(scope: Scope) -> str:
    """The bearer token of the request; AuthenticationError if there is none."""
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, token = bytes(value).decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    raise AuthenticationError("this resource needs a bearer token")


def _principal(archive: Archive, token: str) -> Principal:
    if archive.access is None:
        raise AuthenticationError("this node does not authenticate")
    with database_reachable():  # a database outage is 503 at the door too, not 500
        return archive.access.authenticate(token)


class AuthenticationMiddleware:
    """Pure ASGI (streams stay streamed): puts the principal in ``scope["state"]``."""

    def __init__(self, app: ASGIApp, public_paths: frozenset[str] = PUBLIC_PATHS) -> None:
        self.app = app
        self.public_paths = public_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_public(scope["method"], scope["path"],
                                                 self.public_paths):
            await self.app(scope, receive, send)
            return
        archive: Archive = scope["app"].state.archive
        try:
            principal = await anyio.to_thread.run_sync(_principal, archive, _bearer(scope))
        except (AuthenticationError, OutOfResourcesError) as exc:
            await error_response(exc)(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


def _client(request: Request) -> str:
    return request.client.host if request.client else ""


def _session_body(session: Session) -> dict[str, Any]:
    return {"access_token": session.access_token, "refresh_token": session.refresh_token,
            "token_type": "Bearer", "expires_in": session.expires_in,
            "user": {"name": session.account.name,
                     "roles": sorted(r.value for r in session.account.roles)}}


async def login(request: Request) -> JSONResponse:
    body = await json_object(request)
    username = text_field(body, "username") or ""
    password = text_field(body, "password") or ""
    access = access_of(request)
    session = await anyio.to_thread.run_sync(access.login, username, password, _client(request))
    return JSONResponse(_session_body(session))


async def refresh(request: Request) -> JSONResponse:
    token = text_field(await json_object(request), "refresh_token") or ""
    access = access_of(request)
    session = await anyio.to_thread.run_sync(access.refresh, token, _client(request))
    return JSONResponse(_session_body(session))


async def logout(request: Request) -> Response:
    token = text_field(await json_object(request), "refresh_token") or ""
    await anyio.to_thread.run_sync(access_of(request).logout, token)
    return Response(status_code=204)


async def me(request: Request) -> JSONResponse:
    return JSONResponse(access_of(request).describe(request.state.principal))


def routes() -> list[BaseRoute]:
    return [
        Route("/auth/login", login, methods=["POST"]),
        Route("/auth/refresh", refresh, methods=["POST"]),
        Route("/auth/logout", logout, methods=["POST"]),
        Route("/auth/me", me, methods=["GET"]),
    ]
