"""The federation door: DICOMweb for partner institutions, under ``/federation/{share_id}``.

A thin adapter onto :class:`~dicomvault.sharing.release.ShareRelease`::

    GET /federation/{share}/agreement                          the signed agreement, its state
    GET /federation/{share}/studies                            QIDO-RS, studies in scope
    GET /federation/{share}/studies/{study}/series             QIDO-RS
    GET /federation/{share}/studies/{study}/instances          QIDO-RS
    GET /federation/{share}/studies/{study}/series/{series}/instances
    GET /federation/{share}/studies/{study}/series/{series}/instances/{instance}  WADO-RS

No bearer token: a partner has no account here. Each request carries an
RFC 9421 signature by the grantee's institution key, and each answer (errors
included, once the request is authenticated) is signed by this node's
institution key over its status, body digest and the request's nonce. UIDs
in paths and answers are the remapped ones. Only ``limit`` and ``offset``
are accepted as query parameters: matching on other attributes would let a
partner probe identifying values it is not given.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from dicomvault.archive import Archive
from dicomvault.dicomweb.media import multipart_content_type, new_boundary
from dicomvault.dicomweb.multipart import multipart_related_stream
from dicomvault.errors import AgreementEndedError, DicomVaultError, InvalidInputError
from dicomvault.index import QueryLevel
from dicomvault.sharing.institution import InstitutionKey
from dicomvault.sharing.release import PartnerRequest, ShareRelease
from dicomvault.sharing.signing import sign_response

PREFIX = "/federation/{share}"
_STUDY = PREFIX + "/studies/{study}"
_SERIES = _STUDY + "/series/{series}"
_PARAMS = frozenset({"limit", "offset"})

Answer = tuple[int, bytes, str]


def _release(request: Request) -> ShareRelease:
    archive: Archive = request.app.state.archive
    release: ShareRelease | None = getattr(request.app.state, "share_release", None)
    if release is None:
        release = ShareRelease(archive, InstitutionKey.load_or_create(archive.settings.keys_dir))
        request.app.state.share_release = release
    return release


def _error_body(exc: DicomVaultError) -> bytes:
    body: dict[str, str] = {"error": type(exc).__name__, "reason": exc.message}
    if isinstance(exc, AgreementEndedError):
        body["agreement"] = exc.reason
    return json.dumps(body).encode("utf-8")


async def _answer(request: Request, work: Callable[[ShareRelease, PartnerRequest], Answer]
                  ) -> Response:
    """Authenticate, run ``work`` in a thread, sign whatever comes out."""
    release = _release(request)
    body = await request.body()
    client = request.client.host if request.client else ""
    headers = {k.lower(): v for k, v in request.headers.items()}
    partner = await anyio.to_thread.run_sync(lambda: release.authenticate(
        request.path_params["share"], headers, method=request.method, path=request.url.path,
        query=request.url.query, body=body, client=client))
    try:
        status, content, media_type = await anyio.to_thread.run_sync(
            lambda: work(release, partner))
    except DicomVaultError as exc:
        status, content, media_type = exc.http_status, _error_body(exc), "application/json"
    signed = sign_response(release.key, status, content, partner.signed.nonce)
    return Response(content, status_code=status, media_type=media_type, headers=signed)


def _paging(request: Request) -> dict[str, Any]:
    params = dict(request.query_params)
    unknown = set(params) - _PARAMS
    if unknown:
        raise InvalidInputError("partners may page (limit, offset) but not match on "
                                f"{', '.join(sorted(unknown))}")
    paging: dict[str, Any] = {}
    for name in _PARAMS & set(params):
        if not params[name].isdigit():
            raise InvalidInputError(f"{name} must be a non-negative integer")
        paging[name] = int(params[name])
    return paging


def _search(level: QueryLevel) -> Callable[[Request], Any]:
    async def handler(request: Request) -> Response:
        paging = _paging(request)
        path = request.path_params

        def work(release: ShareRelease, partner: PartnerRequest) -> Answer:
            results = release.search(partner, level, path.get("study"), path.get("series"),
                                     **paging)
            return 200, json.dumps(results).encode("utf-8"), "application/dicom+json"

        return await _answer(request, work)

    return handler


async def retrieve_instance(request: Request) -> Response:
    path = request.path_params

    def work(release: ShareRelease, partner: PartnerRequest) -> Answer:
        data = release.retrieve(partner, path["study"], path["series"], path["instance"])
        boundary = new_boundary()
        body = b"".join(multipart_related_stream([("application/dicom", data)], boundary))
        return 200, body, multipart_content_type("application/dicom", boundary)

    return await _answer(request, work)


async def agreement(request: Request) -> Response:
    def work(release: ShareRelease, partner: PartnerRequest) -> Answer:
        return 200, json.dumps(release.agreement(partner)).encode("utf-8"), "application/json"

    return await _answer(request, work)


def routes() -> list[BaseRoute]:
    return [
        Route(PREFIX + "/agreement", agreement, methods=["GET"]),
        Route(PREFIX + "/studies", _search(QueryLevel.STUDY), methods=["GET"]),
        Route(_STUDY + "/series", _search(QueryLevel.SERIES), methods=["GET"]),
        Route(_STUDY + "/instances", _search(QueryLevel.IMAGE), methods=["GET"]),
        Route(_SERIES + "/instances", _search(QueryLevel.IMAGE), methods=["GET"]),
        Route(_SERIES + "/instances/{instance}", retrieve_instance, methods=["GET"]),
    ]
