"""STOW-RS: store instances sent as ``multipart/related; type="application/dicom"``.

PS3.18 10.5. Parts are streamed into the archive's encrypting upload in
blocks (no large part is held whole in memory); hashing, sealing and parsing
of each part run in a worker thread while the next part is still being
received, the durable write (fsync, rename) of its blob in the background
while the worker goes on, and the whole request is indexed in ONE
transaction at the end (group commit), once every blob is durable. If the body
turns out to be malformed, every staged blob is discarded and nothing is
indexed: the response is 400 and the archive holds exactly what it held.

Response status (PS3.18 Table 10.5.3-1): 200 all stored; 202 some stored with
failures or warnings; 409 none stored; 400 malformed request; 413 too large;
415 not ``multipart/related; type="application/dicom"``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse

from dicomvault.access import Permission
from dicomvault.archive import Archive, StoreFailure, StoreOutcome, StoreResult
from dicomvault.dicom.json import keyword_info
from dicomvault.dicomweb.context import base_url, request_context
from dicomvault.dicomweb.media import parse_content_type
from dicomvault.dicomweb.multipart import MultipartLimits, iter_parts
from dicomvault.errors import (
    DicomVaultError,
    InvalidInputError,
    TooLargeError,
    UnsupportedMediaTypeError,
)
from dicomvault.ingest import InstanceUpload, StagedInstance

DICOM_JSON = "application/dicom+json"
# A received duplicate whose bytes differ from the archived copy is discarded (policy
# ignore-if-identical): reported with warning "Elements Discarded" (PS3.4 Annex GG).
_WARNING_DUPLICATE_DISCARDED = 0xB006
# Parts of a request staged at a time. Hashing, sealing and writing release the GIL but
# parsing does not; on two cores (bench/stow.py) two workers beat one when the machine is
# otherwise quiet (477 against 428 instances/s, the same CPU), and four only add waiting.
_FINISH_CONCURRENCY = 2
# A part is received on the event loop and handed to a worker thread (hashing, sealing,
# writing, parsing) in blocks of this size, so that a large part is never whole in
# memory and small parts cost one thread hop each.
_HANDOFF_BYTES = 4 * 1024 * 1024
# Parts received but not yet durable; bounds memory when the client sends faster than disks.
_PARTS_IN_FLIGHT = 16


def _boundary_of(request: Request) -> str:
    header = request.headers.get("content-type")
    if not header:
        raise UnsupportedMediaTypeError("Content-Type is required: multipart/related")
    media = parse_content_type(header)
    if media.type != "multipart/related":
        raise UnsupportedMediaTypeError(
            f'Content-Type {media.type} is not supported; use multipart/related; '
            f'type="application/dicom"'
        )
    part_type = media.params.get("type", "application/dicom")
    if part_type.lower() != "application/dicom":
        raise UnsupportedMediaTypeError(
            f"multipart/related type {part_type} is not supported; use application/dicom"
        )
    boundary = media.params.get("boundary")
    if not boundary:
        raise InvalidInputError("multipart/related Content-Type has no boundary parameter")
    return boundary


async def _limited_body(request: Request, limit: int) -> AsyncIterator[bytes]:
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise TooLargeError(f"request body is larger than the limit of {limit} bytes")
        yield chunk


async def stow(request: Request) -> JSONResponse:
    archive: Archive = request.app.state.archive
    settings = archive.settings
    study_uid = request.path_params.get("study")
    archive.authorize(request_context(request), Permission.STORE)  # before reading the body
    boundary = _boundary_of(request)
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > settings.max_request_bytes:
        raise TooLargeError(
            f"request body is larger than the limit of {settings.max_request_bytes} bytes"
        )
    limits = MultipartLimits(max_part_bytes=settings.max_part_bytes)
    staged: list[StagedInstance] = []
    refused: list[StoreFailure] = []
    open_uploads: list[InstanceUpload] = []
    limiter = anyio.CapacityLimiter(_FINISH_CONCURRENCY)
    in_flight = anyio.Semaphore(_PARTS_IN_FLIGHT)

    def write_part(upload: InstanceUpload | None, chunks: list[bytes | memoryview]
                   ) -> InstanceUpload:
        if upload is None:
            upload = archive.begin_upload()
            open_uploads.append(upload)
        upload.write(b"".join(chunks))
        return upload

    async def finish(upload: InstanceUpload | None, rest: list[bytes | memoryview]) -> None:
        try:
            def complete() -> StagedInstance:
                # The blob flushes to disk in the background while this thread goes on
                # with the next part; Archive.commit waits for it before committing.
                return write_part(upload, rest).finish(in_background=True)

            staged.append(await anyio.to_thread.run_sync(complete, limiter=limiter))
        except (TooLargeError, InvalidInputError) as exc:
            if isinstance(exc, TooLargeError):
                raise
            refused.append(StoreFailure("", "", exc))
        finally:
            in_flight.release()

    parts = 0
    try:
        async with _first_error_unwrapped(), anyio.create_task_group() as group:
            async for part in iter_parts(_limited_body(request, settings.max_request_bytes),
                                         boundary.encode("latin-1"), limits):
                parts += 1
                part_type = (part.content_type or "application/dicom").split(";")[0].strip()
                if part_type.lower() != "application/dicom":
                    async for _ in part.chunks():
                        pass
                    refused.append(StoreFailure("", "", UnsupportedMediaTypeError(
                        f"part {parts} has Content-Type {part_type}, not application/dicom"
                    )))
                    continue
                await in_flight.acquire()
                upload: InstanceUpload | None = None
                pending: list[bytes | memoryview] = []
                pending_bytes = 0
                async for chunk in part.chunks():
                    pending.append(chunk)
                    pending_bytes += len(chunk)
                    if pending_bytes >= _HANDOFF_BYTES:
                        block, pending, pending_bytes = pending, [], 0
                        upload = await anyio.to_thread.run_sync(write_part, upload, block,
                                                                limiter=limiter)
                group.start_soon(finish, upload, pending)
    except BaseException:
        for open_upload in open_uploads:
            open_upload.abort()
        archive.discard(staged)
        raise
    if parts == 0:
        raise InvalidInputError("multipart body contains no parts")
    results, failures = await anyio.to_thread.run_sync(
        lambda: archive.commit(staged, request_context(request), expected_study_uid=study_uid)
    )
    return _response(base_url(request, settings.public_base_url), study_uid, results,
                     refused + failures)


@contextlib.asynccontextmanager
async def _first_error_unwrapped() -> AsyncIterator[None]:
    """Re-raise the first DicomVaultError out of a task group's ExceptionGroup.

    anyio 4 wraps every failure inside a task group; the door must see the
    dicomvault error itself to answer with its status.
    """
    try:
        yield
    except BaseExceptionGroup as group:
        matched, _ = group.split(DicomVaultError)
        first: BaseException | None = matched
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        if isinstance(first, DicomVaultError):
            raise first from group
        raise


def _instance_url(root: str, result: StoreResult) -> str:
    return (f"{root}/studies/{result.study_instance_uid}/series/{result.series_instance_uid}"
            f"/instances/{result.sop_instance_uid}")


JSONAttribute = dict[str, str | list[Any]]
JSONDataset = dict[str, JSONAttribute]


def _put(item: JSONDataset, keyword: str,
         value: str | int | list[JSONDataset] | None) -> None:
    """Add ``keyword`` to ``item`` in the DICOM JSON model (PS3.18 F.2.2), no ``Value``
    when empty. The response (PS3.18 Table 10.5.3-2) is written directly rather than
    through pydicom data sets: a 50-instance response costs microseconds, not a
    millisecond."""
    info = keyword_info(keyword)
    assert info is not None, keyword
    attribute: JSONAttribute = {"vr": info.vr}
    if value is not None and value not in ("", []):
        attribute["Value"] = value if isinstance(value, list) else [value]
    item[info.key] = attribute


def _response(root: str, study_uid: str | None, results: list[StoreResult],
              failures: list[StoreFailure]) -> JSONResponse:
    studies = {r.study_instance_uid for r in results}
    retrieve_url = None
    if study_uid or len(studies) == 1:
        retrieve_url = f"{root}/studies/{study_uid or next(iter(studies))}"
    body: JSONDataset = {}
    _put(body, "RetrieveURL", retrieve_url)
    if failures:
        _put(body, "FailedSOPSequence", [_failed(f) for f in failures])
    if results:
        _put(body, "ReferencedSOPSequence", [_referenced(root, r) for r in results])
    if not results:
        status = 409
    elif failures or any(r.is_warning for r in results):
        status = 202
    else:
        status = 200
    return JSONResponse(body, status_code=status, media_type=DICOM_JSON)


def _referenced(root: str, result: StoreResult) -> JSONDataset:
    item: JSONDataset = {}
    _put(item, "ReferencedSOPClassUID", result.sop_class_uid)
    _put(item, "ReferencedSOPInstanceUID", result.sop_instance_uid)
    _put(item, "RetrieveURL", _instance_url(root, result))
    if result.outcome is StoreOutcome.DUPLICATE_IGNORED:
        _put(item, "WarningReason", _WARNING_DUPLICATE_DISCARDED)
    return item


def _failed(failure: StoreFailure) -> JSONDataset:
    item: JSONDataset = {}
    if failure.sop_class_uid:
        _put(item, "ReferencedSOPClassUID", failure.sop_class_uid)
    if failure.sop_instance_uid:
        _put(item, "ReferencedSOPInstanceUID", failure.sop_instance_uid)
    _put(item, "FailureReason", failure.error.stow_failure_reason)
    # Not a standard attribute's worth of detail: the reason text goes in a
    # Text Value attribute clients commonly display (dcm4chee does the same).
    _put(item, "TextValue", failure.error.message)
    return item


__all__ = ["DicomVaultError", "stow"]
