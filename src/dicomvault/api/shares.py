"""``/api/shares``: share agreements this node grants. Needs the ``share`` permission.

``POST`` {grantee (partner label, institution id or base64 public key), scope
{kind: patient|study|series|query, values: [...] | query: {...}}, purpose,
expires_at (ISO 8601) | expires_in_days, max_retrievals, deid_profile: [option
names], allow_burned_in?, doors? ["qido", "wado"]} answers 201 with the
agreement (its document, status, ``agreement_sha256``). ``GET`` lists
(``?grantee=``), ``GET /{id}`` shows one with its private scope,
``POST /{id}/revoke`` {reason?} revokes (200, the agreement as it now stands).
``GET /api/institution`` is this node's public identity (id and key).
"""

from __future__ import annotations

from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from dicomvault.access import Permission
from dicomvault.api.common import api_context, archive_of, json_object, text_field
from dicomvault.api.tokens import parse_expiry
from dicomvault.archive import Archive
from dicomvault.errors import InvalidInputError, NotFoundError
from dicomvault.sharing.agreement import ShareScope
from dicomvault.sharing.grants import GrantRequest, ShareGrants
from dicomvault.sharing.institution import InstitutionKey, PublicIdentity
from dicomvault.sharing.partners import find_partner


def _grants(request: Request) -> ShareGrants:
    archive = archive_of(request)
    return ShareGrants(archive, InstitutionKey.load_or_create(archive.settings.keys_dir))


def resolve_grantee(archive: Archive, name: str) -> PublicIdentity:
    """A registered partner (label or id), else a base64 public key given directly."""
    with archive.engine.connect() as conn:
        try:
            return find_partner(conn, name).identity
        except NotFoundError:
            pass
    return PublicIdentity.parse(name)


def _strings(body: dict[str, Any], name: str, default: list[str] | None = None) -> list[str]:
    value = body.get(name, default)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidInputError(f"{name} must be a list of strings")
    return value


def grant_request(archive: Archive, body: dict[str, Any]) -> GrantRequest:
    scope = body.get("scope")
    if not isinstance(scope, dict):
        raise InvalidInputError("scope must be an object {kind, values | query}")
    expires = parse_expiry(body.get("expires_at"), body.get("expires_in_days"))
    if expires is None:
        raise InvalidInputError("an agreement needs expires_at or expires_in_days")
    limit = body.get("max_retrievals")
    if not isinstance(limit, int) or isinstance(limit, bool):
        raise InvalidInputError("max_retrievals must be an integer")
    burned_in = body.get("allow_burned_in", False)
    if not isinstance(burned_in, bool):
        raise InvalidInputError("allow_burned_in must be true or false")
    return GrantRequest(
        grantee=resolve_grantee(archive, text_field(body, "grantee") or ""),
        scope=ShareScope.from_dict(scope), purpose=text_field(body, "purpose") or "",
        expires=expires, max_retrievals=limit,
        deid_profile=_strings(body, "deid_profile", []), allow_burned_in=burned_in,
        doors=_strings(body, "doors", ["qido", "wado"]))


async def create_share(request: Request) -> JSONResponse:
    grants, ctx = _grants(request), api_context(request)
    archive_of(request).policy.require(ctx, Permission.SHARE)
    body = await json_object(request)
    wanted = grant_request(grants.archive, body)
    record = await anyio.to_thread.run_sync(grants.create, ctx, wanted)
    return JSONResponse(record.describe(), status_code=201)


async def list_shares(request: Request) -> JSONResponse:
    grants, ctx = _grants(request), api_context(request)
    grantee = request.query_params.get("grantee")
    records = await anyio.to_thread.run_sync(grants.list, ctx, grantee)
    return JSONResponse([record.describe() for record in records])


async def show_share(request: Request) -> JSONResponse:
    grants, ctx = _grants(request), api_context(request)
    record = await anyio.to_thread.run_sync(grants.show, ctx, request.path_params["id"])
    return JSONResponse(record.describe(private=True))


async def revoke_share(request: Request) -> JSONResponse:
    grants, ctx = _grants(request), api_context(request)
    archive_of(request).policy.require(ctx, Permission.SHARE)
    reason = (await json_object(request)).get("reason", "")
    if not isinstance(reason, str):
        raise InvalidInputError("reason must be a string")
    record = await anyio.to_thread.run_sync(grants.revoke, ctx, request.path_params["id"],
                                            reason)
    return JSONResponse(record.describe())


async def institution(request: Request) -> JSONResponse:
    archive_of(request).policy.require(api_context(request), Permission.SHARE)
    identity = InstitutionKey.load_or_create(archive_of(request).settings.keys_dir).identity
    return JSONResponse({"institution_id": identity.institution_id, "public_key": identity.text})


def routes() -> list[BaseRoute]:
    return [
        Route("/shares", list_shares, methods=["GET"]),
        Route("/shares", create_share, methods=["POST"]),
        Route("/shares/{id}", show_share, methods=["GET"]),
        Route("/shares/{id}/revoke", revoke_share, methods=["POST"]),
        Route("/institution", institution, methods=["GET"]),
    ]
