"""What the admin API's resource modules share: the request context, JSON bodies."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from dicomvault.access import Door, RequestContext
from dicomvault.access.service import AccessService
from dicomvault.archive import Archive
from dicomvault.dicomweb.context import request_context
from dicomvault.errors import ConfigurationError, InvalidInputError

_MAX_BODY = 64 * 1024


def api_context(request: Request) -> RequestContext:
    return request_context(request, Door.API)


def archive_of(request: Request) -> Archive:
    archive: Archive = request.app.state.archive
    return archive


def access_of(request: Request) -> AccessService:
    access = archive_of(request).access
    if access is None:
        raise ConfigurationError("this node has no access service")
    return access


async def json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object (400 otherwise; at most 64 KiB)."""
    body = await request.body()
    if len(body) > _MAX_BODY:
        raise InvalidInputError("request body too large")
    try:
        value = json.loads(body or b"{}")
    except ValueError as exc:
        raise InvalidInputError("the request body is not JSON") from exc
    if not isinstance(value, dict):
        raise InvalidInputError("the request body must be a JSON object")
    return value


def text_field(body: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise InvalidInputError(f"{name} must be a non-empty string")
    return value
