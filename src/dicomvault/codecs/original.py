"""Keeping the acknowledged file reconstructible byte for byte from a compressed copy.

The archive acknowledged a file and recorded its SHA-256 in the ledger; a
compressed copy must not change what anyone can get back. A native Part 10
file (PS3.10 7.1) is three runs of bytes:

1. the header: preamble, file meta information and every element before
   Pixel Data (7FE0,0010). The index already keeps exactly these bytes,
   sealed (``instances.sealed_header``);
2. the Pixel Data element: its tag, VR and length (8 or 12 bytes) and its
   value: the frames one after another (PS3.5 8.1.1, 8.2), then possibly
   padding to an even length;
3. the tail: every element after Pixel Data (Data Set Trailing Padding,
   private elements, a Digital Signatures Sequence...).

:func:`split_original` cuts a file into these; :class:`OriginalLayout` keeps
what the header does not (the element header, the bytes after the last
frame, the tail and the frames' native layout), to be sealed beside the
compressed copy. :func:`restore_original` puts the file back together from
the header, the layout and the frames decoded from the compressed copy.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import pydicom
from pydicom.encaps import generate_frames

from dicomvault.codecs import bitstreams
from dicomvault.codecs.frames import transfer_syntax_of
from dicomvault.codecs.pixels import PixelFormat
from dicomvault.codecs.syntaxes import (
    EXPLICIT_VR_LITTLE_ENDIAN,
    IMPLICIT_VR_LITTLE_ENDIAN,
    is_native,
)
from dicomvault.dicom.header import read_header
from dicomvault.errors import IntegrityError, NotDicomError

#: Native syntaxes whose files can be split (the header bytes are the file's own).
SPLITTABLE = frozenset({EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN})
_PIXEL_TAG = b"\xe0\x7f\x10\x00"
_UNDEFINED_LENGTH = 0xFFFFFFFF
_LAYOUT_VERSION = 1


class NotSplittable(ValueError):  # noqa: N818  (an outcome, not a failure of ours)
    """The file's pixel data cannot be cut out and put back exactly (the reason says why)."""


@dataclass(frozen=True, slots=True)
class OriginalLayout:
    """What, beside the header and the frames, makes up the original file."""

    header_length: int
    header_sha256: str
    element_header: bytes
    fmt: PixelFormat
    pixel_extra: bytes
    tail: bytes

    def to_bytes(self) -> bytes:
        """A compact, versioned encoding (zlib of a JSON line followed by the tail)."""
        head = {
            "v": _LAYOUT_VERSION,
            "header_length": self.header_length,
            "header_sha256": self.header_sha256,
            "element_header": self.element_header.hex(),
            "pixel_extra": self.pixel_extra.hex(),
            "fmt": asdict(self.fmt),
        }
        return zlib.compress(json.dumps(head, sort_keys=True).encode() + b"\n" + self.tail, 6)

    @classmethod
    def from_bytes(cls, data: bytes) -> OriginalLayout:
        try:
            line, _, tail = zlib.decompress(data).partition(b"\n")
            head = json.loads(line)
            if head.get("v") != _LAYOUT_VERSION:
                raise IntegrityError("unknown layout version of a compressed instance")
            return cls(
                header_length=int(head["header_length"]),
                header_sha256=str(head["header_sha256"]),
                element_header=bytes.fromhex(head["element_header"]),
                fmt=PixelFormat(**head["fmt"]),
                pixel_extra=bytes.fromhex(head["pixel_extra"]),
                tail=tail,
            )
        except (zlib.error, ValueError, KeyError, TypeError) as exc:
            raise IntegrityError("the layout of a compressed instance is unreadable") from exc


@dataclass(frozen=True, slots=True)
class SplitOriginal:
    """A native file cut into header, frames and layout (see the module docstring)."""

    header: bytes
    pixels: memoryview
    layout: OriginalLayout


def split_original(data: bytes) -> SplitOriginal:
    """Cut a native little-endian Part 10 file; :class:`NotSplittable` says why not."""
    try:
        ds, offset = read_header(data)
    except NotDicomError as exc:
        raise NotSplittable("the file's header cannot be read") from exc
    syntax = transfer_syntax_of(ds)
    if syntax not in SPLITTABLE:
        raise NotSplittable(f"files in {syntax} are kept as received")
    if offset is None or data[offset:offset + 4] != _PIXEL_TAG:
        raise NotSplittable("no top-level Pixel Data element")
    if syntax == IMPLICIT_VR_LITTLE_ENDIAN:
        element_length = 8
        (length,) = struct.unpack_from("<I", data, offset + 4)
    else:
        element_length = 12
        if data[offset + 4:offset + 6] not in (b"OB", b"OW"):
            raise NotSplittable("Pixel Data has an unexpected VR")
        (length,) = struct.unpack_from("<I", data, offset + 8)
    value_start = offset + element_length
    fmt = PixelFormat.of(ds)
    needed = fmt.frame_length * fmt.number_of_frames
    if length == _UNDEFINED_LENGTH or value_start + length > len(data):
        raise NotSplittable("Pixel Data length does not fit the file")
    if fmt.why_not_codable() is not None or needed > length:
        raise NotSplittable(f"pixel data not codable: {fmt.why_not_codable() or 'too short'}")
    header = data[:offset]
    view = memoryview(data)
    return SplitOriginal(
        header=header,
        pixels=view[value_start:value_start + needed],
        layout=OriginalLayout(
            header_length=offset,
            header_sha256=hashlib.sha256(header).hexdigest(),
            element_header=data[offset:value_start],
            fmt=fmt,
            pixel_extra=data[value_start + needed:value_start + length],
            tail=data[value_start + length:],
        ),
    )


def stored_frames(compressed: bytes) -> Iterator[tuple[str, PixelFormat, bytes]]:
    """(syntax, decoded format, bitstream or native frame bytes) of each frame of a stored copy."""
    ds = pydicom.dcmread(io.BytesIO(compressed))
    syntax = transfer_syntax_of(ds)
    fmt = PixelFormat.of(ds)
    if is_native(syntax):
        raw = ds.PixelData
        for index in range(fmt.number_of_frames):
            start = index * fmt.frame_length
            yield syntax, fmt, raw[start:start + fmt.frame_length]
        return
    for bitstream in generate_frames(ds.PixelData, number_of_frames=fmt.number_of_frames):
        yield syntax, fmt, bitstream


def restore_original(header: bytes, layout: OriginalLayout, compressed: bytes) -> Iterator[bytes]:
    """The original file's bytes, frame by frame, from its header, layout and compressed copy.

    The caller hashes what comes out and compares it with the SHA-256
    recorded at ingest; a header that is not the one split off is refused
    at once (:class:`IntegrityError`).
    """
    if len(header) != layout.header_length or \
            hashlib.sha256(header).hexdigest() != layout.header_sha256:
        raise IntegrityError("the kept header does not belong to this compressed instance")
    yield header
    yield layout.element_header
    count = 0
    for number, (syntax, fmt, payload) in enumerate(stored_frames(compressed), start=1):
        if is_native(syntax):
            yield payload
        else:
            array = bitstreams.decode_frame(syntax, payload, fmt, frame=number)
            yield layout.fmt.frame_bytes(array)
        count = number
    if count != layout.fmt.number_of_frames:
        raise IntegrityError("the compressed instance has another number of frames")
    yield layout.pixel_extra
    yield layout.tail
