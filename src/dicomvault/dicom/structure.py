"""A structural walk of a Part 10 file: every element must fit in the file.

pydicom reads lazily and forgivingly: a file cut inside its header may parse
into a shorter data set without any error, and a file cut inside its pixel
data parses fine with ``stop_before_pixels``. An archive must not acknowledge
such a file, so ingest walks the encoded elements (PS3.5 7.1, 7.5) and checks
that each value, sequence and item ends inside the file, and that undefined
lengths are closed by their delimiters (PS3.5 7.5.2, A.4).

The walk reads only element headers (8 or 12 bytes each) and skips values,
so it costs microseconds for a typical header and a few item headers for
encapsulated pixel data. When only a prefix of a large file is in memory,
values that run past the prefix are accepted if they fit the total size; the
last bytes of the file (``tail``) must then close an undefined-length pixel
data element with a sequence delimiter.
"""

from __future__ import annotations

import struct

from dicomvault.errors import NotDicomError

_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR",
             b"UT", b"UV"}
_ITEM = 0xFFFEE000
_ITEM_DELIMITER = 0xFFFEE00D
_SEQUENCE_DELIMITER = 0xFFFEE0DD
_UNDEFINED = 0xFFFFFFFF
_PREAMBLE_AND_PREFIX = 132
_MAX_DEPTH = 64


class _Walker:
    def __init__(self, data: bytes, total_size: int, tail: bytes) -> None:
        self.data = data
        self.available = len(data)
        self.total = total_size
        self.tail = tail

    def _need(self, position: int, count: int) -> None:
        if position + count > self.available:
            if self.available < self.total:
                raise _BeyondPrefixError
            raise NotDicomError("file is truncated: an element header is cut short")

    def element_header(
        self, position: int, explicit: bool, little: bool
    ) -> tuple[int, bytes, int, int]:
        """(tag, VR, length, value offset) of the element at ``position``."""
        endian = "<" if little else ">"
        self._need(position, 8)
        group, element = struct.unpack_from(endian + "HH", self.data, position)
        tag = group << 16 | element
        if tag in (_ITEM, _ITEM_DELIMITER, _SEQUENCE_DELIMITER) or not explicit:
            (length,) = struct.unpack_from(endian + "I", self.data, position + 4)
            return tag, b"", length, position + 8
        vr = self.data[position + 4 : position + 6]
        if vr in _LONG_VRS:
            self._need(position, 12)
            (length,) = struct.unpack_from(endian + "I", self.data, position + 8)
            return tag, vr, length, position + 12
        (length,) = struct.unpack_from(endian + "H", self.data, position + 6)
        return tag, vr, length, position + 8

    def dataset(self, position: int, end: int | None, explicit: bool, little: bool,
                depth: int) -> int:
        """Walk elements from ``position`` until ``end`` or an item delimiter (undefined)."""
        if depth > _MAX_DEPTH:
            raise NotDicomError("data set nests sequences too deeply")
        limit = self.total if end is None else end
        while position < limit:
            tag, vr, length, value = self.element_header(position, explicit, little)
            if tag == _ITEM_DELIMITER:
                if end is not None:
                    raise NotDicomError("unexpected item delimiter inside a defined-length item")
                return value
            if length == _UNDEFINED:
                inner_explicit = explicit and vr != b"UN"
                inner_little = little or vr == b"UN"
                position = self.items(value, inner_explicit, inner_little, depth + 1)
                continue
            position = value + length
            if position > self.total:
                raise NotDicomError("file is truncated: a value is longer than the file")
        if end is None:
            if depth > 0:  # an undefined-length item must be closed before the file ends
                raise NotDicomError("file is truncated: an item has no delimiter")
            return position
        if position != end:
            raise NotDicomError("an item's elements overrun its length")
        return position

    def items(self, position: int, explicit: bool, little: bool, depth: int) -> int:
        """Walk the items of an undefined-length sequence up to its delimiter."""
        while True:
            if position + 8 > self.available and self.available < self.total:
                return self._close_from_tail()
            if position + 8 > self.total:
                raise NotDicomError("file is truncated: a sequence has no delimiter")
            tag, _, length, value = self.element_header(position, False, little)
            if tag == _SEQUENCE_DELIMITER:
                return value
            if tag != _ITEM:
                raise NotDicomError("sequence or encapsulated pixel data is malformed")
            if length == _UNDEFINED:
                position = self.dataset(value, None, explicit, little, depth)
                continue
            position = value + length
            if position > self.total:
                raise NotDicomError("file is truncated: an item is longer than the file")

    def _close_from_tail(self) -> int:
        delimiter = struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
        if not self.tail.endswith(delimiter):
            raise NotDicomError("file is truncated: encapsulated pixel data has no delimiter")
        return self.total


class _BeyondPrefixError(Exception):
    """The walk reached the end of the in-memory prefix of a larger file."""


def _meta_end(walker: _Walker) -> int:
    """Offset just after the file meta group (group 0002, always explicit VR LE)."""
    position = _PREAMBLE_AND_PREFIX
    while position + 4 <= walker.available:
        (group,) = struct.unpack_from("<H", walker.data, position)
        if group != 0x0002:
            return position
        _, _, length, value = walker.element_header(position, True, True)
        position = value + length
    return position


def check_structure(data: bytes, total_size: int, tail: bytes, transfer_syntax: str) -> None:
    """Raise :class:`NotDicomError` unless every element of a Part 10 file fits the file.

    ``data`` is the file (or a prefix of it), ``total_size`` its full length,
    ``tail`` its last bytes and ``transfer_syntax`` the syntax of its data set.
    """
    explicit = transfer_syntax != "1.2.840.10008.1.2"
    little = transfer_syntax != "1.2.840.10008.1.2.2"
    walker = _Walker(data, total_size, tail)
    try:
        walker.dataset(_meta_end(walker), None, explicit, little, 0)
    except _BeyondPrefixError:
        return
    except struct.error as exc:
        raise NotDicomError("file is truncated: an element header is cut short") from exc
