"""Serving archived instances and frames in what a client accepts, decoding each thing once.

The doors (WADO-RS instances, frames and rendered resources; DIMSE) ask
for an instance in a transfer syntax or for some frames; this module picks
the cheapest way to answer from what the blob holds:

* the acknowledged syntax: the original file, streamed as stored, or
  rebuilt byte for byte from a compressed copy
  (:meth:`Archive.stream_instance`);
* the compressed copy's own syntax: the blob as it is, nothing decoded;
* anything else: transcoded from the blob (:func:`transcode`), which for
  a compressed copy means decoding its frames, never rebuilding first.

Rebuilt originals, transcoded instances and decoded frames go into the
node's bounded :class:`~dicomvault.codecs.cache.ByteCache`
(``transcode_cache_bytes``) under the blob's random name, so a series read
twice is decoded once. Frames are cut out of the encapsulated Pixel Data
by the Basic Offset Table and decoded alone (PS3.5 A.4); native frames of
a compressed copy come back in the original's own layout.
"""

from __future__ import annotations

import io
import os
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import chain, repeat
from typing import TYPE_CHECKING

import pydicom
from pydicom.dataset import Dataset

from dicomvault.codecs import bitstreams
from dicomvault.codecs.frames import (
    dataset_native_frame,
    frame_bitstream,
    transfer_syntax_of,
)
from dicomvault.codecs.original import OriginalLayout
from dicomvault.codecs.pixels import PixelFormat, number_of_frames
from dicomvault.codecs.syntaxes import is_native
from dicomvault.codecs.transcode import transcode
from dicomvault.errors import NotAcceptableError, NotFoundError

if TYPE_CHECKING:
    from dicomvault.archive import Archive, InstanceLocation


def instance_as(archive: Archive, location: InstanceLocation, target: str) -> Iterator[bytes]:
    """The instance as a Part 10 file in ``target`` (see the module docstring)."""
    cache = archive.codec_cache
    if target == location.transfer_syntax_uid:
        if not location.is_compressed_copy:
            return archive.stream_instance(location)
        return iter([cache.get_or_make((location.blob_name, "original"),
                                       lambda: archive.read_instance(location))])
    if target == location.blob_transfer_syntax_uid:
        return archive.stream_stored(location)
    return iter([cache.get_or_make((location.blob_name, target),
                                   lambda: transcode(archive.read_stored(location), target))])


#: Threads making instances ahead of the response (decryption, hashing and the codecs
#: release the GIL while they work).
PREFETCH_THREADS = max(1, min(4, os.cpu_count() or 1))
#: Instances up to this size are made whole in a worker; larger ones stream lazily.
WHOLE_LIMIT = 16 * 1024**2
#: How many instances are made ahead of the one being sent (bounds memory).
LOOKAHEAD = 2 * PREFETCH_THREADS
#: One prefetched instance: a future of its whole bytes, or its chunks made lazily.
Made = Future[bytes | bytearray] | Iterator[bytes]


def _needs_decoding(location: InstanceLocation, target: str) -> bool:
    """Whether serving ``location`` as ``target`` decodes pixels (rebuild or transcode)."""
    if target == location.transfer_syntax_uid:
        return location.is_compressed_copy
    return target != location.blob_transfer_syntax_uid


def size_as_stored(location: InstanceLocation, target: str) -> int | None:
    """The size of ``location`` served as ``target`` when that is the blob's content as it
    is (no decoding); ``None`` when it is only known once made (rebuilt or transcoded)."""
    if _needs_decoding(location, target):
        return None
    return location.stored_size if location.is_compressed_copy else location.size


def _whole(archive: Archive, location: InstanceLocation, target: str,
           lead: bytes) -> bytes | bytearray:
    """``lead`` and the instance as ``target``, in one buffer: the blob served as stored
    is decrypted into place after the lead (:meth:`Archive.read_stored_into`), anything
    else joined to it."""
    size = size_as_stored(location, target)
    if size is None:
        return b"".join([lead, *instance_as(archive, location, target)])
    buffer = bytearray(len(lead) + size)
    buffer[:len(lead)] = lead
    with memoryview(buffer) as view:
        archive.read_stored_into(location, view[len(lead):])
    return buffer


def prefetch_pool() -> ThreadPoolExecutor:
    """The node's threads for :func:`prefetch_instances` (made once: starting threads per
    request cost the event loop a thread start and its wait, per thread)."""
    return ThreadPoolExecutor(PREFETCH_THREADS, thread_name_prefix="dicomvault-prefetch")


class Prefetch:
    """Instances being made ahead of a response, in order; see :func:`prefetch_instances`."""

    def __init__(self, archive: Archive, wanted: Sequence[tuple[InstanceLocation, str]],
                 leads: Sequence[bytes] | None = None) -> None:
        self._archive = archive
        self._wanted: Iterator[tuple[tuple[InstanceLocation, str], bytes]] = iter(zip(
            wanted, repeat(b"") if leads is None else leads, strict=leads is not None))
        self._pending: deque[Made] = deque()
        while len(self._pending) <= LOOKAHEAD and self._submit():
            pass

    def _submit(self) -> bool:
        wanted = next(self._wanted, None)
        if wanted is None:
            return False
        (location, target), lead = wanted
        if _needs_decoding(location, target) or location.size <= WHOLE_LIMIT:
            self._pending.append(self._archive.prefetch_pool.submit(
                _whole, self._archive, location, target, lead))
        else:
            chunks = instance_as(self._archive, location, target)
            self._pending.append(chain([lead], chunks) if lead else chunks)
        return True

    def __iter__(self) -> Iterator[Made]:
        return self

    def __next__(self) -> Made:
        if not self._pending:
            raise StopIteration
        item = self._pending.popleft()
        self._submit()
        return item

    def close(self) -> None:
        """Cancel what has not started (a client that stops reading stops the work)."""
        for item in self._pending:
            if isinstance(item, Future):
                item.cancel()
        self._pending.clear()
        self._wanted = iter(())


def prefetch_instances(archive: Archive, wanted: Sequence[tuple[InstanceLocation, str]],
                       leads: Sequence[bytes] | None = None) -> Prefetch:
    """:func:`instance_as` for each (location, syntax), in order, made ahead in threads.

    Yields, per instance, a future of its whole bytes (instances to decode,
    and any up to :data:`WHOLE_LIMIT`) or, for a large instance sent as
    stored, its lazy chunk iterator. ``leads``, one per instance, are bytes
    that come first (a door's framing of each part): they are made into the
    same buffer, so a door sends each part as one write. The first :data:`LOOKAHEAD` + 1 start at
    once (a door may start them while it records the access, releasing
    nothing before); then at most that many are made ahead of the one being
    sent, so memory stays bounded. Close it when done: what has not started
    is cancelled.
    """
    return Prefetch(archive, wanted, leads)


def stored_dataset(archive: Archive, location: InstanceLocation) -> Dataset:
    """The blob's data set (the compressed copy when there is one: frames decode alone)."""
    return pydicom.dcmread(io.BytesIO(archive.read_stored(location)))


def frames_of(archive: Archive, location: InstanceLocation, numbers: Sequence[int], *,
              compressed: bool) -> list[bytes]:
    """Frames ``numbers`` (1-based) as stored bitstreams or as native little-endian pixels.

    ``compressed`` asks for the blob's own bitstreams (the client accepted
    :attr:`InstanceLocation.blob_transfer_syntax_uid`); otherwise each frame
    is decoded on its own, the others are not touched.
    """
    cache = archive.codec_cache
    kind = "bitstream" if compressed else "native"
    found = {n: cache.get((location.blob_name, kind, n)) for n in numbers}
    missing = [n for n, value in found.items() if value is None]
    if missing:
        ds = stored_dataset(archive, location)
        count = number_of_frames(ds)
        for number in missing:
            if not 1 <= number <= count:
                raise NotFoundError(f"frame {number} does not exist (the instance has {count})")
        layout = archive.original_layout(location)
        for number in missing:
            value = _bitstream(ds, number) if compressed else _native(ds, number, layout)
            cache.put((location.blob_name, kind, number), value)
            found[number] = value
    return [value for value in (found[n] for n in numbers) if value is not None]


def _bitstream(ds: Dataset, number: int) -> bytes:
    if is_native(transfer_syntax_of(ds)):
        raise NotAcceptableError("the instance is not stored compressed")
    return frame_bitstream(ds, number)


def _native(ds: Dataset, number: int, layout: OriginalLayout | None) -> bytes:
    """A native frame; for a compressed copy in the original's layout (PS3.18 10.4.1.1.3)."""
    syntax = transfer_syntax_of(ds)
    if layout is None or is_native(syntax):
        return dataset_native_frame(ds, number)
    array = bitstreams.decode_frame(syntax, frame_bitstream(ds, number), PixelFormat.of(ds),
                                    frame=number)
    return layout.fmt.frame_bytes(array)
