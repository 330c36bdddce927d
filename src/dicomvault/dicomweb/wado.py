"""WADO-RS: retrieve instances, metadata, frames and bulk data (PS3.18 10.4); delete.

Instances are made from the sealed blobs a few ahead of the one being sent,
in worker threads, so a large series never sits whole in memory: an instance
up to 16 MiB is decrypted and authenticated whole into the buffer of its
multipart part, head included (one send per part), a larger one segment by
segment. A retrieve is prepared in one worker-thread call (locate, access
record, servability), and reading ahead starts while its access is being
recorded; nothing is sent before that commits. An instance is sent in the
syntax it was acknowledged in when the client accepts it
(``transfer-syntax=*`` included: the original bytes, rebuilt exactly if the
storage policy compressed them), else in its compressed copy's syntax when
accepted, else transcoded by
:mod:`dicomvault.codecs` (:func:`~dicomvault.codecs.retrieve.instance_as`,
cached); if any instance of the request cannot be, the answer is 406 before
anything is sent (PS3.18 8.7.3.5).
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future
from typing import Any

import anyio
import pydicom
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from dicomvault.access import RequestContext
from dicomvault.archive import Archive, InstanceLocation
from dicomvault.codecs import can_transcode, is_native, why_not_transcodable
from dicomvault.codecs.retrieve import Prefetch, frames_of, prefetch_instances, size_as_stored
from dicomvault.dicom.json import bulk_value, dataset_to_json
from dicomvault.dicomweb.context import base_url, request_context
from dicomvault.dicomweb.media import (
    FrameChoice,
    InstanceTarget,
    multipart_content_type,
    negotiate_frames,
    negotiate_instances,
    new_boundary,
    require_json_acceptable,
)
from dicomvault.dicomweb.multipart import Framing, multipart_related_stream
from dicomvault.errors import InvalidInputError, NotAcceptableError

DICOM_JSON = "application/dicom+json"


def _address(request: Request) -> tuple[str, str | None, str | None]:
    params = request.path_params
    return params["study"], params.get("series"), params.get("instance")


async def _locate(request: Request, prepare: Callable[[list[InstanceLocation]], object]
                  | None = None) -> list[InstanceLocation]:
    archive: Archive = request.app.state.archive
    study, series, instance = _address(request)
    ctx = request_context(request)
    return await anyio.to_thread.run_sync(
        lambda: archive.locate(ctx, study, series, instance, prepare=prepare)
    )


def instance_url(root: str, location: InstanceLocation) -> str:
    return (f"{root}/studies/{location.study_instance_uid}/series/"
            f"{location.series_instance_uid}/instances/{location.sop_instance_uid}")


# -- instances ------------------------------------------------------------------------


def _served_syntax(target: InstanceTarget, location: InstanceLocation) -> str:
    """The acknowledged syntax if accepted, else the compressed copy's, else the target."""
    if target.accepts(location.transfer_syntax_uid):
        return location.transfer_syntax_uid
    if location.is_compressed_copy and target.accepts(location.blob_transfer_syntax_uid):
        return location.blob_transfer_syntax_uid
    return target.transfer_syntax


class _Retrieve:
    """One instance retrieve prepared in a single worker-thread call (:meth:`run`): the
    instances located and their access recorded, each one's served syntax, the
    multipart framing, and the prefetch that makes every part, head included.

    Sending each part as one buffer with its head halves the sends, and one thread
    hop instead of three shortens the wait for the first byte.
    """

    def __init__(self, archive: Archive, target: InstanceTarget, boundary: str) -> None:
        self.archive = archive
        self.target = target
        self.boundary = boundary
        self.served: list[tuple[InstanceLocation, str]] = []
        self.framing = Framing((), b"")
        self.made: Prefetch | None = None
        self._syntaxes: dict[tuple[str, str], str] = {}  # a series has one or two syntaxes

    def run(self, ctx: RequestContext, study: str, series: str | None,
            instance: str | None) -> None:
        """Locate, record and check (NotAcceptableError before anything is sent)."""
        try:
            self.archive.locate(ctx, study, series, instance, prepare=self._read_ahead)
            _check_servable(self.archive, self.served)
            if self.made is None:
                self.made = prefetch_instances(self.archive, self.served, self.framing.heads)
        except BaseException:
            self.close()
            raise

    def _read_ahead(self, found: list[InstanceLocation]) -> None:
        """Frame the parts and start decrypting blobs sent as stored while the access is
        being recorded (nothing is released before it commits); anything to transcode
        waits for the checks."""
        self.served = [(location, self._syntax(location)) for location in found]
        self.framing = Framing.of([f"application/dicom; transfer-syntax={syntax}"
                                   for _, syntax in self.served], self.boundary)
        if all(size_as_stored(location, syntax) is not None
               for location, syntax in self.served):
            self.made = prefetch_instances(self.archive, self.served, self.framing.heads)

    def _syntax(self, location: InstanceLocation) -> str:
        key = (location.transfer_syntax_uid, location.blob_transfer_syntax_uid)
        if key not in self._syntaxes:
            self._syntaxes[key] = _served_syntax(self.target, location)
        return self._syntaxes[key]

    def content_length(self) -> int | None:
        """The body's length when every part is sent as stored (else chunked)."""
        sizes = [size_as_stored(location, syntax) for location, syntax in self.served]
        if any(size is None for size in sizes):
            return None
        return self.framing.length(size or 0 for size in sizes)

    async def body(self) -> AsyncIterator[bytes | memoryview]:
        """Each part (head and instance) as made, then the close delimiter."""
        made = self.made
        if made is None:
            raise RuntimeError("the retrieve was not prepared")
        try:
            for item in made:
                if isinstance(item, Future):
                    # A part made already is sent at once; else its future is awaited
                    # directly (no worker thread per part just to block on it).
                    part = item.result() if item.done() else await asyncio.wrap_future(item)
                    yield memoryview(part) if isinstance(part, bytearray) else part
                else:
                    async for chunk in _chunks_of(item):
                        yield chunk
            yield self.framing.closing
        finally:
            made.close()

    def close(self) -> None:
        """Stop making what is not made yet (the retrieve failed or the client left)."""
        if self.made is not None:
            self.made.close()


async def retrieve(request: Request) -> StreamingResponse:
    """Study, series or instance as ``multipart/related; type="application/dicom"``."""
    target = negotiate_instances(request.headers.get("accept"))
    boundary = new_boundary()
    prepared = _Retrieve(request.app.state.archive, target, boundary)
    await anyio.to_thread.run_sync(prepared.run, request_context(request), *_address(request))
    length = prepared.content_length()
    return StreamingResponse(
        prepared.body(),
        headers=None if length is None else {"Content-Length": str(length)},
        media_type=multipart_content_type("application/dicom", boundary),
    )


def _check_servable(archive: Archive, served: list[tuple[InstanceLocation, str]]) -> None:
    """NotAcceptableError unless every instance can be served in its chosen syntax."""
    for location, syntax in served:
        source = location.transfer_syntax_uid
        if syntax in (source, location.blob_transfer_syntax_uid):
            continue
        if not can_transcode(source, syntax):
            raise NotAcceptableError(
                f"an instance stored as {source} cannot be served as {syntax}")
        if not is_native(syntax):  # the pixels must suit the encoder: read the header
            reason = why_not_transcodable(archive.read_header(location), source, syntax)
            if reason is not None:
                raise NotAcceptableError(reason)


async def _chunks_of(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """A blocking chunk iterator (a large instance read from its blob), pulled in a thread."""
    while (chunk := await anyio.to_thread.run_sync(next, chunks, None)) is not None:
        yield chunk


# -- metadata -------------------------------------------------------------------------


async def metadata(request: Request) -> JSONResponse:
    """DICOM JSON of every instance, large values as BulkDataURI (PS3.18 10.4.1.1.2)."""
    archive: Archive = request.app.state.archive
    require_json_acceptable(request.headers.get("accept"))
    locations = await _locate(request)
    root = base_url(request, archive.settings.public_base_url)

    def build() -> list[dict[str, Any]]:
        documents = []
        for location in locations:
            url = instance_url(root, location)
            header = archive.read_header(location)
            document = dataset_to_json(header, bulk_root=f"{url}/bulk")
            if "Rows" in header and "7FE00010" not in document:
                document["7FE00010"] = {"vr": "OB" if location.transfer_syntax_uid not in
                                        _NATIVE_SYNTAXES else "OW",
                                        "BulkDataURI": f"{url}/bulk/7FE00010"}
            documents.append(document)
        return documents

    return JSONResponse(await anyio.to_thread.run_sync(build), media_type=DICOM_JSON)


_NATIVE_SYNTAXES = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2",
                    "1.2.840.10008.1.2.1.99"}


# -- frames and bulk data ---------------------------------------------------------------


def _frame_numbers(text: str) -> list[int]:
    try:
        numbers = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise InvalidInputError("frame list must be comma-separated frame numbers") from exc
    if not numbers or any(n < 1 for n in numbers):
        raise InvalidInputError("frame numbers start at 1")
    return numbers


async def frames(request: Request) -> StreamingResponse:
    """Frames of one instance: uncompressed octet-stream, or the stored compressed
    bitstream when the client accepts its media type (PS3.18 10.4.1.1.3). Only the
    requested frames are decoded; a compressed copy's bitstreams count as stored."""
    archive: Archive = request.app.state.archive
    numbers = _frame_numbers(request.path_params["frames"])
    [location] = await _locate(request)
    choice: FrameChoice = negotiate_frames(request.headers.get("accept"),
                                           location.blob_transfer_syntax_uid)
    payloads = await anyio.to_thread.run_sync(
        lambda: frames_of(archive, location, numbers, compressed=choice.compressed))
    boundary = new_boundary()
    content_type = choice.part_content_type
    return StreamingResponse(
        multipart_related_stream(((content_type, iter([p])) for p in payloads), boundary),
        media_type=multipart_content_type(choice.media_type, boundary),
    )


async def bulkdata(request: Request) -> StreamingResponse:
    """The value of one attribute referenced by a BulkDataURI (PS3.18 10.4.1.1.5)."""
    archive: Archive = request.app.state.archive
    [location] = await _locate(request)
    path = request.path_params["path"]

    def read() -> bytes:
        ds = pydicom.dcmread(io.BytesIO(archive.read_instance(location)))
        return bulk_value(ds, path)

    value = await anyio.to_thread.run_sync(read)
    boundary = new_boundary()
    return StreamingResponse(
        multipart_related_stream([("application/octet-stream", iter([value]))], boundary),
        media_type=multipart_content_type("application/octet-stream", boundary),
    )


# -- delete ---------------------------------------------------------------------------


async def delete(request: Request) -> Response:
    """Delete a study, series or instance (dcm4chee / Orthanc convention): 204."""
    archive: Archive = request.app.state.archive
    study, series, instance = _address(request)
    ctx = request_context(request)
    await anyio.to_thread.run_sync(lambda: archive.delete(ctx, study, series, instance))
    return Response(status_code=204)
