"""The one place where dicomvault errors become HTTP responses for the DICOMweb door."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from dicomvault.errors import DicomVaultError

log = logging.getLogger(__name__)


def error_response(exc: DicomVaultError) -> JSONResponse:
    """HTTP status from the error class; the reason in the body and in ``Warning``.

    PS3.18 8.4 allows a body describing the error; the ``Warning`` header
    (``299 <host>: <text>``) is what dcm4chee and Orthanc clients display.
    """
    headers = {"Warning": f'299 dicomvault "{exc.message}"'}
    if exc.http_status == 401:  # RFC 6750 3: say how to authenticate
        headers["WWW-Authenticate"] = 'Bearer realm="dicomvault"'
    return JSONResponse(
        {"error": type(exc).__name__, "reason": exc.message},
        status_code=exc.http_status,
        headers=headers,
    )


async def handle_dicomvault_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, DicomVaultError):  # pragma: no cover - registered for that type only
        raise exc
    if exc.http_status >= 500:
        log.error("%s on %s %s: %s", type(exc).__name__, request.method, request.url.path,
                  exc.message)
    return error_response(exc)
