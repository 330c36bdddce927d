"""``/api/audit``: the auditor's views over the ledger, as JSON, CSV or FHIR.

A thin door onto :class:`~dicomvault.audit.views.AuditViews`, for the
auditor role (one :func:`~dicomvault.api.guard.authorize` call per handler).
Every view takes the filters ``type`` (comma-separated event types),
``actor``, ``door``, ``client``, ``since``, ``until`` (ISO 8601) and the page
``offset`` / ``limit`` (at most 1000), newest events first. ``format=csv``
(or ``Accept: text/csv``) returns CSV, ``format=fhir`` a FHIR R4 Bundle of
AuditEvents; the default JSON is ``{"view", "total", "offset", "limit",
"items"}``.

=================================  =========================================
``GET /api/audit/events``           every event matching the filters
``GET /api/audit/patient-access``   ``?patient=<keyed hash of the Patient ID>``
``GET /api/audit/user-activity``    ``?actor=<user>``
``GET /api/audit/failed-logins``    failed logins
``GET /api/audit/exports``          instances exported from the archive
=================================  =========================================

The keyed hash of a Patient ID comes from ``POST /api/ledger/subject-hash``
(``{"kind": "patient", "value": "<Patient ID>"}``), so no Patient ID ever
appears in a URL or an access log.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from dicomvault.access import RequestContext
from dicomvault.api.guard import Permission, authorize
from dicomvault.archive import Archive
from dicomvault.audit.fhir import to_fhir_bundle
from dicomvault.audit.views import AuditFilter, AuditPage, AuditViews, Page, page_csv, page_json
from dicomvault.errors import InvalidInputError

_View = Callable[[AuditViews, RequestContext, AuditFilter, Page], AuditPage]


def _required(request: Request, name: str) -> str:
    value = request.query_params.get(name)
    if not value:
        raise InvalidInputError(f"parameter {name} is required")
    return value


async def _respond(request: Request, ctx: RequestContext, view: _View) -> Response:
    archive: Archive = request.app.state.archive
    views = AuditViews(archive.engine, archive.audit.ledger)
    filters = AuditFilter.from_params(request.query_params)
    page = Page.from_params(request.query_params)
    result = await anyio.to_thread.run_sync(lambda: view(views, ctx, filters, page))
    wanted = request.query_params.get("format") or (
        "csv" if "text/csv" in request.headers.get("accept", "") else "json")
    if wanted == "csv":
        return Response(page_csv(result), media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="{result.view}.csv"'})
    if wanted == "fhir":
        bundle = to_fhir_bundle([(r.index, r.event) for r in result.records],
                                origin=archive.audit.ledger.origin)
        return JSONResponse(bundle, media_type="application/fhir+json")
    if wanted != "json":
        raise InvalidInputError("format must be json, csv or fhir")
    return JSONResponse(page_json(result))


async def events(request: Request) -> Response:
    ctx = authorize(request, Permission.AUDIT_READ)
    return await _respond(request, ctx, AuditViews.events)


async def patient_access(request: Request) -> Response:
    ctx = authorize(request, Permission.AUDIT_READ)
    patient = _required(request, "patient")
    return await _respond(request, ctx, lambda v, c, f, p: v.patient_access(c, patient, f, p))


async def user_activity(request: Request) -> Response:
    ctx = authorize(request, Permission.AUDIT_READ)
    actor = _required(request, "actor")
    return await _respond(request, ctx, lambda v, c, f, p: v.user_activity(c, actor, f, p))


async def failed_logins(request: Request) -> Response:
    ctx = authorize(request, Permission.AUDIT_READ)
    return await _respond(request, ctx, AuditViews.failed_logins)


async def exports(request: Request) -> Response:
    ctx = authorize(request, Permission.AUDIT_READ)
    return await _respond(request, ctx, AuditViews.exports)


def routes() -> list[BaseRoute]:
    return [
        Route("/audit/events", events, methods=["GET"]),
        Route("/audit/patient-access", patient_access, methods=["GET"]),
        Route("/audit/user-activity", user_activity, methods=["GET"]),
        Route("/audit/failed-logins", failed_logins, methods=["GET"]),
        Route("/audit/exports", exports, methods=["GET"]),
    ]
