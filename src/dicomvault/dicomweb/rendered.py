"""Rendered resources and thumbnails (PS3.18 10.4.1.1.4 and 10.4.1.1.6).

Query parameters (PS3.18 8.3.5.1): ``window=center,width[,function]``,
``viewport=width,height`` and ``quality=1..100``; media type from ``Accept``
(``image/jpeg`` by default, ``image/png``). A thumbnail of a study or series
is the rendered middle instance of its first series.

Only the requested frame is decoded, from the blob as stored (a compressed
copy's frame alone, PS3.5 A.4); rendered images are kept in the node's
bounded codec cache, so a viewer paging through a series twice decodes it
once.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio
from pydicom.dataset import Dataset
from starlette.requests import Request
from starlette.responses import Response

from dicomvault.archive import Archive, InstanceLocation
from dicomvault.codecs.retrieve import stored_dataset
from dicomvault.dicom.render import render_frame
from dicomvault.dicom.render import thumbnail as render_thumbnail
from dicomvault.dicomweb.context import request_context
from dicomvault.dicomweb.media import negotiate_rendered
from dicomvault.errors import InvalidInputError

_THUMBNAIL_SIZE = 128


def _numbers(text: str, count: int, name: str) -> list[float]:
    try:
        values = [float(part) for part in text.split(",")[:count]]
    except ValueError as exc:
        raise InvalidInputError(f"{name} must be {count} comma-separated numbers") from exc
    if len(values) != count:
        raise InvalidInputError(f"{name} must be {count} comma-separated numbers")
    return values


def _render_options(request: Request) -> tuple[tuple[float, float] | None,
                                                tuple[int, int] | None, int | None]:
    params = request.query_params
    window = None
    if "window" in params:
        center, width = _numbers(params["window"], 2, "window")
        if width <= 0:
            raise InvalidInputError("window width must be positive")
        window = (center, width)
    viewport = None
    if "viewport" in params:
        width_px, height_px = _numbers(params["viewport"], 2, "viewport")
        if not (0 < width_px <= 4096 and 0 < height_px <= 4096):
            raise InvalidInputError("viewport must be between 1 and 4096 pixels")
        viewport = (int(width_px), int(height_px))
    quality = None
    if "quality" in params:
        try:
            quality = int(params["quality"])
        except ValueError as exc:
            raise InvalidInputError("quality must be an integer from 1 to 100") from exc
        if not 1 <= quality <= 100:
            raise InvalidInputError("quality must be an integer from 1 to 100")
    return window, viewport, quality


async def _cached_image(request: Request, location: InstanceLocation, key: tuple[object, ...],
                        render: Callable[[Dataset], bytes]) -> bytes:
    """The rendered image for ``key`` from the cache, or rendered from the stored blob."""
    archive: Archive = request.app.state.archive
    return await anyio.to_thread.run_sync(lambda: archive.codec_cache.get_or_make(
        (location.blob_name, "rendered", *key),
        lambda: render(stored_dataset(archive, location))))


async def _locations(request: Request) -> list[InstanceLocation]:
    archive: Archive = request.app.state.archive
    params = request.path_params
    ctx = request_context(request)
    return await anyio.to_thread.run_sync(
        lambda: archive.locate(ctx, params["study"], params.get("series"), params.get("instance"))
    )


async def _render(request: Request, frame: int) -> Response:
    media_type = negotiate_rendered(request.headers.get("accept"))
    window, viewport, quality = _render_options(request)
    [location] = await _locations(request)
    image = await _cached_image(
        request, location, (frame, media_type, window, viewport, quality),
        lambda ds: render_frame(ds, frame, media_type, window=window, viewport=viewport,
                                quality=quality))
    return Response(image, media_type=media_type)


async def rendered_instance(request: Request) -> Response:
    return await _render(request, 1)


async def rendered_frames(request: Request) -> Response:
    text = request.path_params["frames"]
    try:
        frame = int(text.split(",")[0])
    except ValueError as exc:
        raise InvalidInputError("frame list must be comma-separated frame numbers") from exc
    return await _render(request, frame)


async def thumbnail(request: Request) -> Response:
    media_type = negotiate_rendered(request.headers.get("accept"))
    locations = await _locations(request)
    first_series = [loc for loc in locations
                    if loc.series_instance_uid == locations[0].series_instance_uid]
    location = first_series[len(first_series) // 2]
    frame = int(request.path_params["frames"].split(",")[0]) if "frames" in request.path_params \
        else 1
    image = await _cached_image(
        request, location, ("thumbnail", frame, media_type),
        lambda ds: render_thumbnail(ds, media_type, size=_THUMBNAIL_SIZE, frame=frame))
    return Response(image, media_type=media_type)
