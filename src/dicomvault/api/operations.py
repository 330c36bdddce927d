"""``/api/stats``, ``/api/backup``, ``/api/ledger/verify``: what an operator watches.

Thin doors onto existing services, for the browser UI's administration and
audit pages (and any other client):

=================================  ===========================================================
``GET  /api/stats``                 instances, original and stored bytes per modality and
                                    stored transfer syntax (``dicomvault stats --json``, plus
                                    the syntax's ``label``); ``manage_keys``
``GET  /api/backup``                the backup generations of the configured target
                                    (``dicomvault backup list``) and when the scheduled scrub
                                    last completed; ``manage_keys``
``POST /api/ledger/verify``         every check of ``dicomvault ledger verify`` now, recorded
                                    in the ledger; ``read_audit``
``GET  /api/ledger/verify``         the last verification this server process ran (or null)
``GET  /api/dimse``                 this node's AE title and DIMSE ports, the calling AE
                                    title -> roles and TLS certificate CN -> roles maps and
                                    the C-MOVE destinations, as configured; ``manage_keys``
=================================  ===========================================================

None of these answers holds PHI: figures, hashes, generation numbers, times.
The backup target's location is not shown (it may name a bucket or a host); the
DIMSE answer names no key or certificate file (the settings file is the source of
truth, this is a read-only view of it).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from dicomvault.access import Permission
from dicomvault.api.common import api_context, archive_of
from dicomvault.api.guard import Permission as LedgerPermission
from dicomvault.api.guard import authorize
from dicomvault.archive import Archive
from dicomvault.backup import open_target
from dicomvault.backup.common import manifests
from dicomvault.backup.scrub import last_scrub, scrub_state_file
from dicomvault.codecs import syntax_label
from dicomvault.ledger import EventType
from dicomvault.ledger.service import LedgerService, VerifyRequest


def _iso(seconds: float | None) -> str | None:
    return datetime.fromtimestamp(seconds, UTC).isoformat() if seconds is not None else None


async def stats(request: Request) -> JSONResponse:
    archive, ctx = archive_of(request), api_context(request)
    archive.policy.require(ctx, Permission.MANAGE_KEYS)
    figures = await anyio.to_thread.run_sync(archive.storage_figures)
    return JSONResponse({"figures": [{**f.public(), "label": syntax_label(f.transfer_syntax)}
                                     for f in figures],
                         "instances": sum(f.instances for f in figures),
                         "original_bytes": sum(f.original_bytes for f in figures),
                         "stored_bytes": sum(f.stored_bytes for f in figures)})


def _generations(archive: Archive) -> list[dict[str, Any]]:
    location = archive.settings.backup_target
    if not location:
        return []
    found = manifests(open_target(location, archive.settings), archive, newest_first=True)
    return [{"generation": m.generation, "created": m.created, "objects": len(m.objects),
             "tree_size": m.tree_size,
             "bytes": sum(o.size for o in m.objects) + m.snapshot.size} for m in found]


async def backup_status(request: Request) -> JSONResponse:
    archive, ctx = archive_of(request), api_context(request)
    archive.policy.require(ctx, Permission.MANAGE_KEYS)
    generations = await anyio.to_thread.run_sync(_generations, archive)
    return JSONResponse({
        "target_configured": bool(archive.settings.backup_target),
        "generations": generations,
        "last_scrub": _iso(last_scrub(scrub_state_file(archive))),
        "scrub_interval_hours": archive.settings.scrub_interval_hours,
    })


def _verify(archive: Archive) -> dict[str, Any]:
    service = LedgerService(archive.engine, archive.audit.ledger)
    checks = service.verify(VerifyRequest())
    return {"verified_at": datetime.now(UTC).isoformat(), "tree_size": service.tree_size(),
            "ok": bool(checks) and all(c.ok for c in checks),
            "checks": [asdict(c) for c in checks]}


async def verify_now(request: Request) -> JSONResponse:
    """Run ``ledger verify`` now; the use is recorded (an ``audit_log_used`` event)."""
    ctx = authorize(request, LedgerPermission.AUDIT_READ)
    archive = archive_of(request)
    result = await anyio.to_thread.run_sync(_verify, archive)
    await anyio.to_thread.run_sync(lambda: archive.record_event(
        ctx, EventType.AUDIT_LOG_USED, details={
            "view": "ledger-verify", "filters": "",
            "results": sum(1 for c in result["checks"] if c["ok"])}))
    request.app.state.last_ledger_verification = result
    return JSONResponse(result)


async def last_verification(request: Request) -> JSONResponse:
    authorize(request, LedgerPermission.AUDIT_READ)
    return JSONResponse(getattr(request.app.state, "last_ledger_verification", None))


async def dimse(request: Request) -> JSONResponse:
    archive, ctx = archive_of(request), api_context(request)
    archive.policy.require(ctx, Permission.MANAGE_KEYS)
    settings = archive.settings
    return JSONResponse({
        "ae_title": settings.ae_title, "dicom_port": settings.dicom_port,
        "tls_port": settings.dimse_tls_port, "tls_enabled": settings.dimse_tls_port is not None,
        "ae_roles": settings.dimse_ae_roles,
        "ae_hosts": {ae: [str(network) for network in networks]
                     for ae, networks in settings.dimse_ae_hosts.items()},
        "destinations": [{"ae_title": ae, "host": d.host, "port": d.port, "tls": d.tls}
                         for ae, d in sorted(settings.dimse_destinations.items())],
        "tls_cert_roles": settings.dimse_tls_cert_roles,
    })


def routes() -> list[BaseRoute]:
    return [
        Route("/stats", stats, methods=["GET"]),
        Route("/backup", backup_status, methods=["GET"]),
        Route("/ledger/verify", verify_now, methods=["POST"]),
        Route("/ledger/verify", last_verification, methods=["GET"]),
        Route("/dimse", dimse, methods=["GET"]),
    ]
