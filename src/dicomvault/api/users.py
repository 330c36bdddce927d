"""``/api/users``: accounts (people and service accounts). Needs ``manage_users``.

``GET`` lists; ``POST`` {name, roles, password?, kind?, scope?} creates (201);
``PATCH /{name}`` {roles?, scope?, password?, disabled?} changes; ``DELETE
/{name}`` removes the account and its tokens (204). Never returns a hash.
"""

from __future__ import annotations

from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from dicomvault.access import PrincipalKind, Role, Scope
from dicomvault.access.roles import parse_roles
from dicomvault.api.common import access_of, api_context, json_object, text_field
from dicomvault.errors import InvalidInputError


def _roles(value: Any) -> frozenset[Role]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInputError("roles must be a list of role names")
    try:
        return parse_roles(value)
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from exc


def _scope(value: Any) -> Scope:
    if not isinstance(value, dict):
        raise InvalidInputError("scope must be an object of lists")
    try:
        return Scope.from_dict(value)
    except (ValueError, TypeError) as exc:
        raise InvalidInputError(f"invalid scope: {exc}") from exc


async def list_users(request: Request) -> JSONResponse:
    access, ctx = access_of(request), api_context(request)
    accounts = await anyio.to_thread.run_sync(access.list_users, ctx)
    return JSONResponse([account.public() for account in accounts])


async def create_user(request: Request) -> JSONResponse:
    access, ctx = access_of(request), api_context(request)
    body = await json_object(request)
    name = text_field(body, "name") or ""
    try:
        kind = PrincipalKind(body.get("kind", "user"))
    except ValueError as exc:
        raise InvalidInputError("kind is 'user' or 'service'") from exc
    password = text_field(body, "password", required=False)
    roles = _roles(body.get("roles", []))
    scope = _scope(body.get("scope", {}))
    account = await anyio.to_thread.run_sync(
        lambda: access.create_user(ctx, name, roles=roles, scope=scope, password=password,
                                   kind=kind))
    return JSONResponse(account.public(), status_code=201)


async def update_user(request: Request) -> JSONResponse:
    access, ctx = access_of(request), api_context(request)
    body = await json_object(request)
    changes: dict[str, Any] = {}
    if "roles" in body:
        changes["roles"] = _roles(body["roles"])
    if "scope" in body:
        changes["scope"] = _scope(body["scope"])
    if "password" in body:
        changes["password"] = text_field(body, "password")
    if "disabled" in body:
        if not isinstance(body["disabled"], bool):
            raise InvalidInputError("disabled must be true or false")
        changes["disabled"] = body["disabled"]
    name = request.path_params["name"]
    account = await anyio.to_thread.run_sync(lambda: access.update_user(ctx, name, **changes))
    return JSONResponse(account.public())


async def delete_user(request: Request) -> Response:
    access, ctx = access_of(request), api_context(request)
    await anyio.to_thread.run_sync(access.delete_user, ctx, request.path_params["name"])
    return Response(status_code=204)


def routes() -> list[BaseRoute]:
    return [
        Route("/users", list_users, methods=["GET"]),
        Route("/users", create_user, methods=["POST"]),
        Route("/users/{name}", update_user, methods=["PATCH"]),
        Route("/users/{name}", delete_user, methods=["DELETE"]),
    ]
