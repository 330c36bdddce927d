"""Transcoding a whole instance from its stored transfer syntax into another.

Used on retrieve, when a client does not accept the syntax an instance is
stored in (WADO-RS ``Accept``, a DIMSE presentation context). The rules:

* Anything pydicom can decode may be sent native (Explicit or Implicit VR
  Little Endian, Deflated): decoding never invents information.
* A compressed target must be one we can encode (pydicom's encoders: RLE,
  JPEG-LS lossless, JPEG 2000 lossless) and is lossless only; a source that
  may be lossy is never presented in a lossless syntax, which would claim a
  fidelity the pixels no longer have.
* The SOP Instance UID is kept: a lossless conversion is the same instance
  (PS3.4 and PS3.18 8.7.3.5.1 allow transcoding on retrieve).
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.pixels.decoders.base import get_decoder
from pydicom.uid import UID

from dicomvault.codecs.frames import transfer_syntax_of
from dicomvault.codecs.syntaxes import (
    DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
    EXPLICIT_VR_BIG_ENDIAN,
    EXPLICIT_VR_LITTLE_ENDIAN,
    IMPLICIT_VR_LITTLE_ENDIAN,
    JPEG_2000_LOSSLESS,
    JPEG_LS_LOSSLESS,
    RLE_LOSSLESS,
    is_native,
    may_be_lossy,
)
from dicomvault.errors import InvalidInputError, NotAcceptableError

#: Native syntaxes we write.
NATIVE_TARGETS = frozenset({
    EXPLICIT_VR_LITTLE_ENDIAN,
    IMPLICIT_VR_LITTLE_ENDIAN,
    DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
})
#: Lossless compressed syntaxes we write (through pydicom's encoders).
COMPRESSED_TARGETS = frozenset({RLE_LOSSLESS, JPEG_LS_LOSSLESS, JPEG_2000_LOSSLESS})
#: Big-endian VRs whose raw bytes must be swapped in 2-, 4- or 8-byte words.
_WORD_VRS = {"OW": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8}


def can_decode(transfer_syntax: str) -> bool:
    """Whether a decoder for this syntax is installed."""
    if is_native(transfer_syntax):
        return True
    try:
        return bool(get_decoder(UID(transfer_syntax)).is_available)
    except NotImplementedError:
        return False


def can_transcode(source: str, target: str) -> bool:
    """Whether an instance stored as ``source`` can be served as ``target``."""
    if source == target:
        return True
    if target in NATIVE_TARGETS:
        return can_decode(source)
    if target in COMPRESSED_TARGETS:
        return not may_be_lossy(source) and can_decode(source)
    return False


def transcode(data: bytes, target: str) -> bytes:
    """The Part 10 file ``data`` re-encoded in ``target`` (see the module docstring)."""
    ds = pydicom.dcmread(io.BytesIO(data))
    source = transfer_syntax_of(ds)
    if source == target:
        return data
    if not can_transcode(source, target):
        raise NotAcceptableError(f"an instance stored as {source} cannot be served as {target}")
    try:
        _to_explicit_little_endian(ds, source)
        if target in COMPRESSED_TARGETS and "PixelData" in ds:
            ds.compress(target, generate_instance_uid=False)
        else:
            ds.file_meta.TransferSyntaxUID = UID(target)
    except (ValueError, RuntimeError, TypeError, KeyError, AttributeError) as exc:
        raise InvalidInputError(
            f"pixel data could not be converted from {source} to {target}: {type(exc).__name__}"
        ) from exc
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def _to_explicit_little_endian(ds: Dataset, source: str) -> None:
    """Bring ``ds`` to native Explicit VR Little Endian in place."""
    if source == EXPLICIT_VR_BIG_ENDIAN:
        _swap_to_little_endian(ds)
    elif not is_native(source) and "PixelData" in ds:
        ds.decompress(generate_instance_uid=False)
    ds.file_meta.TransferSyntaxUID = UID(EXPLICIT_VR_LITTLE_ENDIAN)


def _swap_to_little_endian(ds: Dataset) -> None:
    """Re-encode a big-endian dataset's raw word data; pydicom converts parsed values itself."""
    for element in _walk(ds):
        width = _WORD_VRS.get(element.VR)
        value = element.value
        if width and isinstance(value, bytes | bytearray) and len(value) % width == 0:
            words = np.frombuffer(value, dtype=f">u{width}")
            element.value = words.astype(f"<u{width}").tobytes()
    ds.set_original_encoding(is_implicit_vr=False, is_little_endian=True)


def _walk(ds: Dataset) -> Iterator[pydicom.DataElement]:
    for element in ds:
        if element.VR == "SQ":
            for item in element.value:
                yield from _walk(item)
        else:
            yield element
