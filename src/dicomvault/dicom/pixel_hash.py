"""The SHA-256 of an instance's pixel data, computed while its bytes stream past.

The ledger records two hashes of every stored instance: of the whole file
(which proves a file is byte-for-byte what was archived) and of its pixel
data, which survives header changes (a corrected patient name, a
de-identified copy) and so proves the *image* is the archived one.

What is hashed is the value field of the pixel data element, (7FE0,0010)
Pixel Data or (7FE0,0008/0009) Float / Double Float Pixel Data, exactly as
encoded in the file (PS3.5 7.1): for a defined length the ``length`` bytes
after the element header; for encapsulated pixel data (undefined length,
PS3.5 A.4) every item, tag and length included, up to but excluding the
Sequence Delimitation Item. That is the value pydicom returns as
``ds.PixelData``, so anyone can recompute it with
``hashlib.sha256(pydicom.dcmread(f).PixelData)``.

:class:`PixelDataHasher` is a small state machine fed the bytes from the
element's first byte on, in chunks of any size; it buffers at most one item
header, never the pixel data.
"""

from __future__ import annotations

import hashlib
import io
import struct

import pydicom
from pydicom.uid import DeflatedExplicitVRLittleEndian

from dicomvault.dicom.header import read_header
from dicomvault.errors import NotDicomError

_PIXEL_TAGS = {(0x7FE0, 0x0010), (0x7FE0, 0x0008), (0x7FE0, 0x0009)}
_ITEM = (0xFFFE, 0xE000)
_SEQUENCE_DELIMITER = (0xFFFE, 0xE0DD)
_UNDEFINED = 0xFFFFFFFF
#: The VRs a pixel data element may have (PS3.5 A.1, PS3.6 (7FE0,xxxx)).
_PIXEL_VRS = {b"OB", b"OW", b"OF", b"OD", b"UN"}
IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2"
EXPLICIT_VR_BIG_ENDIAN = "1.2.840.10008.1.2.2"


class PixelDataHasher:
    """Hashes the value of the pixel data element whose bytes are fed to :meth:`update`.

    Construct it for the file's transfer syntax, feed it every byte from the
    start of the element to the end of the file, and read :meth:`hexdigest`.
    Bytes after the element (trailing padding) are ignored.
    """

    __slots__ = ("_buffer", "_digest", "_explicit", "_order", "_remaining", "_state")

    def __init__(self, transfer_syntax_uid: str) -> None:
        self._explicit = transfer_syntax_uid != IMPLICIT_VR_LITTLE_ENDIAN
        self._order = ">" if transfer_syntax_uid == EXPLICIT_VR_BIG_ENDIAN else "<"
        self._digest = hashlib.sha256()
        self._buffer = b""
        self._remaining = 0
        self._state = "element"  # element -> value | item -> item value -> ... -> done

    def update(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        while view and self._state != "done":
            if self._state in ("value", "item value"):
                taken = view[: self._remaining]
                self._digest.update(taken)
                self._remaining -= len(taken)
                view = view[len(taken):]
                if self._remaining == 0:
                    self._state = "done" if self._state == "value" else "item"
                continue
            need = self._header_size() - len(self._buffer)
            self._buffer += bytes(view[:need])
            view = view[need:]
            if len(self._buffer) == self._header_size():
                self._header(self._buffer)
                self._buffer = b""

    def _header_size(self) -> int:
        # Pixel data always has a long explicit VR (OB/OW/OF/OD): tag, VR, 2 reserved, length.
        return 12 if self._state == "element" and self._explicit else 8

    def _header(self, header: bytes) -> None:
        tag = struct.unpack(self._order + "HH", header[:4])
        if self._state == "element":
            if tag not in _PIXEL_TAGS:
                raise NotDicomError("pixel data element expected where the header ended")
            if self._explicit and header[4:6] not in _PIXEL_VRS:
                raise NotDicomError("pixel data element has an unexpected VR")
            length = struct.unpack(self._order + "I", header[-4:])[0]
            if length == _UNDEFINED:
                self._state = "item"
            else:
                self._remaining, self._state = length, "value" if length else "done"
            return
        # Encapsulated fragments are always little endian (PS3.5 A.4).
        tag = struct.unpack("<HH", header[:4])
        length = struct.unpack("<I", header[4:])[0]
        if tag == _SEQUENCE_DELIMITER:
            self._state = "done"
        elif tag == _ITEM and length != _UNDEFINED:
            self._digest.update(header)
            self._remaining = length
            self._state = "item value" if length else "item"
        else:
            raise NotDicomError("encapsulated pixel data holds something other than items")

    @property
    def complete(self) -> bool:
        """Whether the whole value has been seen."""
        return self._state == "done"

    def hexdigest(self) -> str:
        """The SHA-256 of the value; :class:`NotDicomError` if it was cut short."""
        if not self.complete:
            raise NotDicomError("pixel data is truncated")
        return self._digest.hexdigest()


def hasher_after_header(prefix: bytes) -> PixelDataHasher | None:
    """A hasher already fed the pixel data within ``prefix``, the first bytes of a file.

    For ingest of files larger than its buffer: the rest of the file is fed
    as it arrives. ``None`` when the file has no pixel data element within
    ``prefix`` or is deflated (ingest refuses such large files anyway).
    """
    ds, offset = read_header(prefix)
    syntax = str(ds.file_meta.get("TransferSyntaxUID", ""))
    if offset is None or syntax == DeflatedExplicitVRLittleEndian:
        return None
    hasher = PixelDataHasher(syntax)
    hasher.update(prefix[offset:])
    return hasher


def file_pixel_sha256(data: bytes, pixel_offset: int | None, transfer_syntax_uid: str
                      ) -> str | None:
    """The pixel data hash of a whole file held in memory; ``None`` if it has no pixel data.

    A deflated file (PS3.5 A.5) is inflated by pydicom to reach the value.
    """
    if transfer_syntax_uid == DeflatedExplicitVRLittleEndian:
        ds = pydicom.dcmread(io.BytesIO(data))
        for keyword in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"):
            value = ds.get(keyword)
            if value is not None:
                return hashlib.sha256(value).hexdigest()
        return None
    if pixel_offset is None:
        return None
    hasher = PixelDataHasher(transfer_syntax_uid)
    hasher.update(memoryview(data)[pixel_offset:])  # a view: the value is not copied
    return hasher.hexdigest()
