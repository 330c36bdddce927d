"""Building the RequestContext of an HTTP request (who, through which door, from where).

The principal was put in ``request.state.principal`` by the authentication
middleware (:mod:`dicomvault.api.auth`); a break-the-glass reason comes in the
``X-Break-Glass-Reason`` header. The browser UI (dicomvault/web) sends
``X-Dicomvault-Door: UI`` so that its requests are recorded as coming through
the UI door; the header can only ever select that door, and the actor is the
authenticated principal whatever it says.
"""

from __future__ import annotations

from starlette.requests import Request

from dicomvault.access import Door, Principal, RequestContext

BREAK_GLASS_HEADER = "x-break-glass-reason"
DOOR_HEADER = "x-dicomvault-door"


def request_context(request: Request, door: Door = Door.DICOMWEB) -> RequestContext:
    client = request.client.host if request.client else ""
    principal: Principal | None = getattr(request.state, "principal", None)
    return RequestContext(
        actor=principal.name if principal is not None else "anonymous",
        door=Door.UI if request.headers.get(DOOR_HEADER) == Door.UI.value else door,
        client_address=client,
        principal=principal,
        break_glass_reason=request.headers.get(BREAK_GLASS_HEADER),
    )


def base_url(request: Request, public_base_url: str | None) -> str:
    """Root URL of the DICOMweb service as clients must use it in RetrieveURL/BulkDataURI."""
    if public_base_url:
        return public_base_url.rstrip("/") + "/dicom-web"
    return str(request.base_url).rstrip("/") + "/dicom-web"
