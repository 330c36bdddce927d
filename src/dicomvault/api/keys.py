"""``/api/keys``: key status and rotation. Needs ``manage_keys``.

``GET`` answers what backs the keys (never a secret), how many study KEKs
exist, how many deleted studies' KEKs still wait to be destroyed and the last
rotation. ``POST /rotate`` runs a rotation (resuming an interrupted one) and
answers its summary; for a large archive prefer ``dicomvault keys rotate``,
which shows progress.
"""

from __future__ import annotations

from dataclasses import asdict

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from dicomvault.api.common import api_context, archive_of


async def key_status(request: Request) -> JSONResponse:
    archive, ctx = archive_of(request), api_context(request)
    return JSONResponse(await anyio.to_thread.run_sync(archive.key_status, ctx))


async def rotate(request: Request) -> JSONResponse:
    archive, ctx = archive_of(request), api_context(request)
    progress = await anyio.to_thread.run_sync(archive.rotate_keys, ctx)
    return JSONResponse(asdict(progress))


def routes() -> list[BaseRoute]:
    return [
        Route("/keys", key_status, methods=["GET"]),
        Route("/keys/rotate", rotate, methods=["POST"]),
    ]
