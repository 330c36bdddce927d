"""The HTTP server: every HTTP door composed into one ASGI application.

DICOMweb (``/dicom-web``), the admin REST API (``/api``), health, the API
description (``/docs``, ``/openapi.json``) and the browser UI (``/``) are
separate packages; this module only puts them together, installs the
middleware every door shares and the one translation of
:class:`~dicomvault.errors.DicomVaultError` into HTTP. The Archive service is
held in ``app.state.archive``: no global state.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import BaseRoute, Route
from starlette.types import Lifespan

from dicomvault import api, dicomweb, web
from dicomvault.api.auth import AuthenticationMiddleware
from dicomvault.archive import Archive
from dicomvault.dicomweb.errors import handle_dicomvault_error
from dicomvault.dicomweb.openapi import build_openapi, render_docs_page
from dicomvault.dicomweb.security_headers import SecurityHeadersMiddleware
from dicomvault.errors import DicomVaultError
from dicomvault.sharing import door as federation


async def healthz(request: Request) -> JSONResponse:
    """Liveness, without authentication (load balancers and monitoring call it);
    every other path but the login needs a bearer token (api/auth.py)."""
    return JSONResponse({"status": "ok"})


async def openapi_json(request: Request) -> JSONResponse:
    return JSONResponse(request.app.state.openapi)


async def docs(request: Request) -> HTMLResponse:
    return HTMLResponse(render_docs_page(request.app.state.openapi))


def _service_routes() -> list[BaseRoute]:
    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
        Route("/docs", docs, methods=["GET"]),
    ]


def create_http_app(archive: Archive, lifespan: Lifespan[Starlette] | None = None) -> Starlette:
    """The whole HTTP side of a node, serving ``archive``; ``lifespan`` (optional) runs
    around the server's life (``dicomvault serve`` stops the node in it)."""
    app = Starlette(
        lifespan=lifespan,
        routes=[
            *_service_routes(),
            *dicomweb.routes(),
            *api.routes(),
            *federation.routes(),
            *web.routes(),
        ],
        middleware=[
            Middleware(SecurityHeadersMiddleware, hsts_seconds=archive.settings.hsts_seconds),
            # Every door behind this one check of who is calling (api/auth.py);
            # what the caller may do is the Archive service's decision.
            Middleware(AuthenticationMiddleware),
        ],
        exception_handlers={DicomVaultError: handle_dicomvault_error},
    )
    app.state.archive = archive
    app.state.openapi = build_openapi()
    return app
