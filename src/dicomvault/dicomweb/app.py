"""The ASGI application: DICOMweb routes, health, OpenAPI, error translation.

Routes map one-to-one onto PS3.18 resources; each handler is a thin adapter
in its own module (``stow``, ``qido``, ``wado``, ``rendered``). The Archive
service is held in ``app.state.archive``: no global state.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from dicomvault.archive import Archive
from dicomvault.dicomweb import qido, rendered, stow, wado
from dicomvault.dicomweb.errors import handle_dicomvault_error
from dicomvault.dicomweb.openapi import build_openapi, render_docs_page
from dicomvault.dicomweb.security_headers import SecurityHeadersMiddleware
from dicomvault.errors import DicomVaultError

_STUDY = "/dicom-web/studies/{study}"
_SERIES = _STUDY + "/series/{series}"
_INSTANCE = _SERIES + "/instances/{instance}"


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def openapi_json(request: Request) -> JSONResponse:
    return JSONResponse(request.app.state.openapi)


async def docs(request: Request) -> HTMLResponse:
    return HTMLResponse(render_docs_page(request.app.state.openapi))


async def root(request: Request) -> Response:
    return HTMLResponse(
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>dicomvault</title>"
        "</head><body><h1>dicomvault</h1><p>DICOMweb service at <code>/dicom-web/</code>; "
        "API description at <a href=/docs>/docs</a>.</p></body></html>"
    )


def routes() -> list[Route]:
    return [
        Route("/", root, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
        Route("/docs", docs, methods=["GET"]),
        # STOW-RS (PS3.18 10.5)
        Route("/dicom-web/studies", stow.stow, methods=["POST"]),
        Route(_STUDY, stow.stow, methods=["POST"]),
        # QIDO-RS (PS3.18 10.6)
        Route("/dicom-web/studies", qido.search_studies, methods=["GET"]),
        Route("/dicom-web/series", qido.search_series, methods=["GET"]),
        Route("/dicom-web/instances", qido.search_instances, methods=["GET"]),
        Route(_STUDY + "/series", qido.search_series, methods=["GET"]),
        Route(_STUDY + "/instances", qido.search_instances, methods=["GET"]),
        Route(_SERIES + "/instances", qido.search_instances, methods=["GET"]),
        # WADO-RS (PS3.18 10.4)
        Route(_STUDY, wado.retrieve, methods=["GET"]),
        Route(_SERIES, wado.retrieve, methods=["GET"]),
        Route(_INSTANCE, wado.retrieve, methods=["GET"]),
        Route(_STUDY + "/metadata", wado.metadata, methods=["GET"]),
        Route(_SERIES + "/metadata", wado.metadata, methods=["GET"]),
        Route(_INSTANCE + "/metadata", wado.metadata, methods=["GET"]),
        Route(_INSTANCE + "/frames/{frames}", wado.frames, methods=["GET"]),
        Route(_INSTANCE + "/bulk/{path:path}", wado.bulkdata, methods=["GET"]),
        Route(_INSTANCE + "/rendered", rendered.rendered_instance, methods=["GET"]),
        Route(_INSTANCE + "/frames/{frames}/rendered", rendered.rendered_frames,
              methods=["GET"]),
        Route(_STUDY + "/thumbnail", rendered.thumbnail, methods=["GET"]),
        Route(_SERIES + "/thumbnail", rendered.thumbnail, methods=["GET"]),
        Route(_INSTANCE + "/thumbnail", rendered.thumbnail, methods=["GET"]),
        Route(_INSTANCE + "/frames/{frames}/thumbnail", rendered.thumbnail, methods=["GET"]),
        # Deletion (not part of PS3.18; the dcm4chee / Orthanc convention)
        Route(_STUDY, wado.delete, methods=["DELETE"]),
        Route(_SERIES, wado.delete, methods=["DELETE"]),
        Route(_INSTANCE, wado.delete, methods=["DELETE"]),
    ]


def create_app(archive: Archive) -> Starlette:
    app = Starlette(
        routes=routes(),
        middleware=[Middleware(SecurityHeadersMiddleware)],
        exception_handlers={DicomVaultError: handle_dicomvault_error},
    )
    app.state.archive = archive
    app.state.openapi = build_openapi()
    return app
