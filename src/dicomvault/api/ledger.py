"""``/api/ledger``: checkpoints, keys, entries and proofs, for verifiers and witnessing partners.

A thin door onto :class:`~dicomvault.ledger.service.LedgerService`. Hashes
and proofs travel as base64 (as in RFC 9162's JSON API and C2SP notes);
the checkpoint itself is the C2SP signed note as ``text/plain``, what
witnessing tools fetch. No endpoint takes a UID or Patient ID in its URL:
identifiers are hashed with ``POST /api/ledger/subject-hash`` (value in the
body) and looked up by their keyed hash.

=======================================  ==========================================
``GET  /api/ledger``                      tree size, latest checkpoint (JSON)
``GET  /api/ledger/checkpoint``           latest signed checkpoint (text/plain)
``POST /api/ledger/checkpoint``           sign one now (text/plain, 201)
``GET  /api/ledger/public-key``           log and witness verifier keys
``GET  /api/ledger/entries``              ``?start=&limit=`` raw entries (base64)
``GET  /api/ledger/entries/{i}``          one entry, decoded
``GET  /api/ledger/entries/{i}/inclusion-proof``  ``?tree_size=``
``GET  /api/ledger/entries/{i}/proof-bundle``     offline proof bundle
``GET  /api/ledger/consistency-proof``    ``?first=&second=``
``GET  /api/ledger/subjects/{hash}/entries``      events about a subject, paged
``GET  /api/ledger/proof-bundle``         ``?sop=<hash>&content_sha256=`` an image's bundle
``POST /api/ledger/subject-hash``         ``{"kind": "patient", "value": "..."}``
=======================================  ==========================================
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import TypeVar

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import BaseRoute, Route

from dicomvault.api.guard import Permission, authorize
from dicomvault.archive import Archive
from dicomvault.audit.views import AuditViews, Page, page_json
from dicomvault.errors import InvalidInputError
from dicomvault.ledger.identifiers import IdentifierHasher
from dicomvault.ledger.log import LedgerEntry
from dicomvault.ledger.service import LedgerService

T = TypeVar("T")
_NOTE = "text/plain; charset=utf-8"


def _service(request: Request) -> LedgerService:
    archive: Archive = request.app.state.archive
    return LedgerService(archive.engine, archive.audit.ledger)


async def _run(action: Callable[[], T]) -> T:
    return await anyio.to_thread.run_sync(action)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _int(request: Request, name: str, default: int | None = None) -> int:
    text = request.query_params.get(name) or request.path_params.get(name)
    if text is None:
        if default is None:
            raise InvalidInputError(f"parameter {name} is required")
        return default
    try:
        value = int(text)
    except ValueError as exc:
        raise InvalidInputError(f"parameter {name} must be an integer") from exc
    if value < 0:
        raise InvalidInputError(f"parameter {name} must not be negative")
    return value


def entry_json(entry: LedgerEntry) -> dict[str, object]:
    """An entry as the API shows it: the decoded event and its exact bytes."""
    return {"index": entry.index, "leaf_hash": _b64(entry.leaf_hash), "event_b64": _b64(entry.data),
            "event": json.loads(entry.data), "recorded_at": entry.recorded_at.isoformat()}


async def summary(request: Request) -> JSONResponse:
    authorize(request, Permission.LEDGER_READ)
    service = _service(request)
    size = await _run(service.tree_size)
    checkpoints = await _run(service.stored_checkpoints)
    return JSONResponse({"origin": service.ledger.origin, "tree_size": size,
                         "latest_checkpoint": checkpoints[-1] if checkpoints else None,
                         "checkpoints": len(checkpoints)})


async def checkpoint(request: Request) -> PlainTextResponse:
    authorize(request, Permission.LEDGER_PUBLIC)
    return PlainTextResponse(await _run(_service(request).latest_checkpoint), media_type=_NOTE)


async def sign_checkpoint(request: Request) -> PlainTextResponse:
    authorize(request, Permission.LEDGER_WRITE)
    note = await _run(_service(request).checkpoint)
    return PlainTextResponse(note, status_code=201, media_type=_NOTE)


async def public_key(request: Request) -> JSONResponse:
    authorize(request, Permission.LEDGER_PUBLIC)
    return JSONResponse(_service(request).public_keys())


async def entries(request: Request) -> JSONResponse:
    authorize(request, Permission.AUDIT_READ)
    start, limit = _int(request, "start", 0), _int(request, "limit", 100)
    found = await _run(lambda: _service(request).entries(start, limit))
    return JSONResponse({"start": start, "entries": [
        {"index": e.index, "leaf_hash": _b64(e.leaf_hash), "event": _b64(e.data)}
        for e in found]})


async def entry(request: Request) -> JSONResponse:
    authorize(request, Permission.AUDIT_READ)
    index = _int(request, "index")
    return JSONResponse(entry_json(await _run(lambda: _service(request).entry(index))))


async def inclusion_proof(request: Request) -> JSONResponse:
    authorize(request, Permission.LEDGER_PUBLIC)
    index = _int(request, "index")
    size = _int(request, "tree_size") if "tree_size" in request.query_params else None
    tree_size, proof = await _run(lambda: _service(request).inclusion_proof(index, size))
    return JSONResponse({"leaf_index": index, "tree_size": tree_size,
                         "inclusion_proof": [_b64(item) for item in proof]})


async def consistency_proof(request: Request) -> JSONResponse:
    authorize(request, Permission.LEDGER_PUBLIC)
    first = _int(request, "first")
    second = _int(request, "second") if "second" in request.query_params else None
    size, proof = await _run(lambda: _service(request).consistency_proof(first, second))
    return JSONResponse({"first": first, "second": size, "proof": [_b64(p) for p in proof]})


async def proof_bundle(request: Request) -> JSONResponse:
    authorize(request, Permission.AUDIT_READ)
    index = _int(request, "index")
    return JSONResponse(await _run(lambda: _service(request).proof_bundle(index)))


async def image_proof_bundle(request: Request) -> JSONResponse:
    """The bundle proving an image (its SOP subject hash, its file SHA-256) was archived."""
    authorize(request, Permission.AUDIT_READ)
    sop, content = request.query_params.get("sop"), request.query_params.get("content_sha256")
    if not sop or not content:
        raise InvalidInputError("parameters sop (keyed hash) and content_sha256 are required")
    service = _service(request)
    bundle = await _run(lambda: service.proof_bundle(service.stored_event_for(sop, content)))
    return JSONResponse(bundle)


async def subject_entries(request: Request) -> JSONResponse:
    ctx = authorize(request, Permission.AUDIT_READ)
    archive: Archive = request.app.state.archive
    views = AuditViews(archive.engine, archive.audit.ledger)
    page = Page.from_params(request.query_params)
    subject = request.path_params["subject"]
    result = await _run(lambda: views.about_subject(ctx, subject, page))
    return JSONResponse(page_json(result))


async def subject_hash(request: Request) -> JSONResponse:
    """Hash an identifier with the node's key (the value travels in the body, not the URL)."""
    authorize(request, Permission.AUDIT_READ)
    try:
        body = await request.json()
    except ValueError as exc:
        raise InvalidInputError("body must be JSON: {\"kind\": ..., \"value\": ...}") from exc
    kind, value = (body.get("kind"), body.get("value")) if isinstance(body, dict) else (None, None)
    if not isinstance(kind, str) or not isinstance(value, str):
        raise InvalidInputError("body must be JSON: {\"kind\": ..., \"value\": ...}")
    hasher: IdentifierHasher = _service(request).ledger.identifiers
    try:
        subject = hasher.subject(kind, value)
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from exc
    return JSONResponse({"subject": subject, "hash": subject.partition(":")[2]})


def routes() -> list[BaseRoute]:
    entry_path = "/ledger/entries/{index:int}"
    return [
        Route("/ledger", summary, methods=["GET"]),
        Route("/ledger/checkpoint", checkpoint, methods=["GET"]),
        Route("/ledger/checkpoint", sign_checkpoint, methods=["POST"]),
        Route("/ledger/public-key", public_key, methods=["GET"]),
        Route("/ledger/entries", entries, methods=["GET"]),
        Route(entry_path, entry, methods=["GET"]),
        Route(entry_path + "/inclusion-proof", inclusion_proof, methods=["GET"]),
        Route(entry_path + "/proof-bundle", proof_bundle, methods=["GET"]),
        Route("/ledger/consistency-proof", consistency_proof, methods=["GET"]),
        Route("/ledger/proof-bundle", image_proof_bundle, methods=["GET"]),
        Route("/ledger/subjects/{subject}/entries", subject_entries, methods=["GET"]),
        Route("/ledger/subject-hash", subject_hash, methods=["POST"]),
    ]

