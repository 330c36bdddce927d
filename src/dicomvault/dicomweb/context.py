"""Building the RequestContext of an HTTP request (who, through which door, from where)."""

from __future__ import annotations

from starlette.requests import Request

from dicomvault.access import Door, RequestContext


def request_context(request: Request) -> RequestContext:
    client = request.client.host if request.client else ""
    actor = getattr(request.state, "principal", None) or "anonymous"
    return RequestContext(actor=str(actor), door=Door.DICOMWEB, client_address=client)


def base_url(request: Request, public_base_url: str | None) -> str:
    """Root URL of the DICOMweb service as clients must use it in RetrieveURL/BulkDataURI."""
    if public_base_url:
        return public_base_url.rstrip("/") + "/dicom-web"
    return str(request.base_url).rstrip("/") + "/dicom-web"
