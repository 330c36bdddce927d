"""``/api/tokens``: API tokens for machines. Needs ``manage_users``.

``POST`` {user, label?, permissions?, expires_at? (ISO 8601) | expires_in_days?}
answers 201 with the token's description and ``token``: the only time the
secret is shown (only its SHA-256 is kept). ``GET`` lists (``?user=``),
``DELETE /{id}`` revokes (204).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from dicomvault.access import Permission
from dicomvault.api.common import access_of, api_context, json_object, text_field
from dicomvault.errors import InvalidInputError


def parse_expiry(expires_at: Any, expires_in_days: Any) -> datetime | None:
    """An absolute expiry from an ISO 8601 time or a number of days (either, or none)."""
    if expires_at is not None and expires_in_days is not None:
        raise InvalidInputError("give expires_at or expires_in_days, not both")
    if expires_in_days is not None:
        if not isinstance(expires_in_days, int | float) or expires_in_days <= 0:
            raise InvalidInputError("expires_in_days must be a positive number")
        return datetime.now(UTC) + timedelta(days=float(expires_in_days))
    if expires_at is None:
        return None
    try:
        moment = datetime.fromisoformat(str(expires_at))
    except ValueError as exc:
        raise InvalidInputError("expires_at must be an ISO 8601 date-time") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_permissions(value: Any) -> list[Permission] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise InvalidInputError("permissions must be a list")
    try:
        return [Permission(str(item)) for item in value]
    except ValueError as exc:
        raise InvalidInputError(f"unknown permission: {exc}") from exc


async def list_tokens(request: Request) -> JSONResponse:
    access, ctx = access_of(request), api_context(request)
    user = request.query_params.get("user")
    infos = await anyio.to_thread.run_sync(access.list_tokens, ctx, user)
    return JSONResponse([info.public() for info in infos])


async def create_token(request: Request) -> JSONResponse:
    access, ctx = access_of(request), api_context(request)
    body = await json_object(request)
    user = text_field(body, "user") or ""
    label = body.get("label", "")
    if not isinstance(label, str):
        raise InvalidInputError("label must be a string")
    permissions = parse_permissions(body.get("permissions"))
    expires = parse_expiry(body.get("expires_at"), body.get("expires_in_days"))
    info, text = await anyio.to_thread.run_sync(
        lambda: access.create_token(ctx, user, label=label, permissions=permissions,
                                    expires_at=expires))
    return JSONResponse({**info.public(), "token": text}, status_code=201)


async def revoke_token(request: Request) -> Response:
    access, ctx = access_of(request), api_context(request)
    await anyio.to_thread.run_sync(access.revoke_token, ctx, request.path_params["id"])
    return Response(status_code=204)


def routes() -> list[BaseRoute]:
    return [
        Route("/tokens", list_tokens, methods=["GET"]),
        Route("/tokens", create_token, methods=["POST"]),
        Route("/tokens/{id}", revoke_token, methods=["DELETE"]),
    ]
