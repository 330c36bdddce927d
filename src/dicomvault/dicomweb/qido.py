"""QIDO-RS: search for studies, series and instances (PS3.18 10.6).

The query parameters become a :class:`~dicomvault.index.Query` (the one
matching engine that C-FIND uses too); each result gets its RetrieveURL
(PS3.18 Table 10.6.3-3) and is returned as ``application/dicom+json``.
When the server caps an unlimited search it says so in a ``Warning`` header
as PS3.18 10.6.3.2 requires.
"""

from __future__ import annotations

import anyio
from starlette.requests import Request
from starlette.responses import Response

from dicomvault.archive import Archive
from dicomvault.dicomweb.context import base_url, request_context
from dicomvault.dicomweb.media import require_json_acceptable
from dicomvault.index import DicomJsonWriter, Query, QueryLevel, ResultRow

DICOM_JSON = "application/dicom+json"
MAX_RESULTS = 1000


def _retrieve_url(root: str, row: ResultRow) -> str | None:
    study = row.get("StudyInstanceUID")
    if not study:
        return None
    url = f"{root}/studies/{study}"
    if row.level in (QueryLevel.SERIES, QueryLevel.IMAGE):
        url += f"/series/{row.get('SeriesInstanceUID')}"
    if row.level is QueryLevel.IMAGE:
        url += f"/instances/{row.get('SOPInstanceUID')}"
    return url


async def _search(request: Request, level: QueryLevel) -> Response:
    archive: Archive = request.app.state.archive
    require_json_acceptable(request.headers.get("accept"))
    query = Query.from_qido_params(
        level,
        list(request.query_params.multi_items()),
        study_uid=request.path_params.get("study"),
        series_uid=request.path_params.get("series"),
    )
    capped = query.limit is None
    if capped:
        query = query.with_limit(MAX_RESULTS + 1)
    ctx = request_context(request)
    rows = await anyio.to_thread.run_sync(lambda: archive.find(query, ctx))
    headers: dict[str, str] = {}
    if capped and len(rows) > MAX_RESULTS:
        rows = rows[:MAX_RESULTS]
        headers["Warning"] = (
            '299 dicomvault "The number of results exceeded the maximum supported by the '
            'server. Additional results can be requested."'
        )
    root = base_url(request, archive.settings.public_base_url)
    body = DicomJsonWriter()
    for row in rows:
        url = _retrieve_url(root, row)
        body.add(row, {"00081190": ("UR", url)} if url else None)
    return Response(body.text().encode(), media_type=DICOM_JSON, headers=headers)


async def search_studies(request: Request) -> Response:
    return await _search(request, QueryLevel.STUDY)


async def search_series(request: Request) -> Response:
    return await _search(request, QueryLevel.SERIES)


async def search_instances(request: Request) -> Response:
    return await _search(request, QueryLevel.IMAGE)
