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
from collections.abc import Iterator, Sequence
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
