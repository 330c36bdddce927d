"""``/api/system``: what this node is (version, AE title, ledger origin), for operators and UIs.

Like Orthanc's ``/system``; nothing in it is PHI.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from dicomvault import __version__
from dicomvault.archive import Archive


async def system(request: Request) -> JSONResponse:
    archive: Archive = request.app.state.archive
    settings = archive.settings
    return JSONResponse({
        "name": "dicomvault",
        "version": __version__,
        "ae_title": settings.ae_title,
        "dicom_port": settings.dicom_port,
        "ledger_origin": settings.ledger_origin,
        "ledger_public_key": archive.audit.ledger.verifier_key.encode(),
    })


def routes() -> list[BaseRoute]:
    return [Route("/system", system, methods=["GET"])]
