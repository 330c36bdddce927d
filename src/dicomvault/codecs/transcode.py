"""Transcoding a whole instance from its stored transfer syntax into another.

Used on retrieve, when a client does not accept the syntax an instance is
stored in (WADO-RS ``Accept``, a DIMSE presentation context). The rules:

* Anything we can decode may be sent native (Explicit or Implicit VR
  Little Endian, Deflated): decoding never invents information.
* A compressed target must be one we can encode (RLE, JPEG-LS lossless,
  JPEG 2000 lossless, HTJ2K lossless and RPCL through
  :mod:`dicomvault.codecs.bitstreams`) and is lossless only; a source that
  may be lossy is never presented in a lossless syntax, which would claim a
  fidelity the pixels no longer have. It may be sent as HTJ2K
  (1.2.840.10008.1.2.4.203), a syntax that makes no such claim; its
  decoded pixels are then encoded reversibly, losing nothing more.
* Every frame is encoded on its own, one fragment per frame, with a Basic
  Offset Table (PS3.5 A.4), so a receiver can decode any frame alone.
* The SOP Instance UID is kept: a lossless conversion is the same instance
  (PS3.4 and PS3.18 8.7.3.5.1 allow transcoding on retrieve).
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import numpy as np
import pydicom
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.pixels.decoders.base import get_decoder
from pydicom.uid import UID

from dicomvault.codecs import bitstreams
from dicomvault.codecs.frames import decode_frame, transfer_syntax_of
from dicomvault.codecs.pixels import PixelFormat
from dicomvault.codecs.syntaxes import (
    DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
    EXPLICIT_VR_BIG_ENDIAN,
    EXPLICIT_VR_LITTLE_ENDIAN,
    HTJ2K,
    IMPLICIT_VR_LITTLE_ENDIAN,
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
#: Compressed syntaxes we write (losslessly).
COMPRESSED_TARGETS = bitstreams.ENCODABLE
#: Big-endian VRs whose raw bytes must be swapped in 2-, 4- or 8-byte words.
_WORD_VRS = {"OW": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8}
#: Errors pydicom raises while decompressing data it cannot handle.
_CONVERSION_ERRORS = (ValueError, RuntimeError, TypeError, KeyError, AttributeError)


def can_decode(transfer_syntax: str) -> bool:
    """Whether a decoder for this syntax is installed."""
    if is_native(transfer_syntax) or transfer_syntax in bitstreams.DECODABLE:
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
        return (target == HTJ2K or not may_be_lossy(source)) and can_decode(source)
    return False


def why_not_transcodable(header: Dataset, source: str, target: str) -> str | None:
    """Why the instance with this header cannot be served as ``target`` (``None``: it can).

    Beyond :func:`can_transcode`, a compressed target needs pixel data its
    encoder accepts (PS3.5 Table 8.2.x-1); checked before a response starts.
    """
    if not can_transcode(source, target):
        return f"an instance stored as {source} cannot be served as {target}"
    if source == target or target in NATIVE_TARGETS or "Rows" not in header:
        return None  # no pixels (the header cache holds none either): only the syntax changes
    fmt = PixelFormat.of(header)
    if fmt.photometric_interpretation in ("YBR_RCT", "YBR_ICT") or not is_native(source):
        fmt = _decoded_format(fmt, source)
    return bitstreams.why_not_encodable(target, fmt)


def transcode(data: bytes, target: str) -> bytes:
    """The Part 10 file ``data`` re-encoded in ``target`` (see the module docstring)."""
    ds = pydicom.dcmread(io.BytesIO(data))
    source = transfer_syntax_of(ds)
    if source == target:
        return data
    if not can_transcode(source, target):
        raise NotAcceptableError(f"an instance stored as {source} cannot be served as {target}")
    ds.walk(_parsed)
    _to_explicit_little_endian(ds, source)
    if target in COMPRESSED_TARGETS and "PixelData" in ds:
        _compress(ds, target)
    ds.file_meta.TransferSyntaxUID = UID(target)
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def _parsed(_ds: Dataset, _element: DataElement) -> None:
    """Visiting is enough: pydicom parses raw (implicit VR) elements when they are accessed."""


def _decoded_format(fmt: PixelFormat, source: str) -> PixelFormat:
    """The native format frames of ``fmt`` decode to from ``source`` (colour comes back RGB)."""
    photometric = fmt.photometric_interpretation
    if photometric in ("YBR_RCT", "YBR_ICT") or (
            photometric.startswith("YBR") and source not in bitstreams.ENCODABLE
            and source not in bitstreams.DECODABLE):
        photometric = "RGB"
    return PixelFormat(fmt.rows, fmt.columns, fmt.samples_per_pixel, fmt.bits_allocated,
                       fmt.bits_stored, fmt.pixel_representation, photometric, 0,
                       fmt.number_of_frames)


def _to_explicit_little_endian(ds: Dataset, source: str) -> None:
    """Bring ``ds`` to native Explicit VR Little Endian in place, decoding frame by frame."""
    if source == EXPLICIT_VR_BIG_ENDIAN:
        _swap_to_little_endian(ds)
    elif not is_native(source) and "PixelData" in ds:
        if source in bitstreams.ENCODABLE or source in bitstreams.DECODABLE:
            _decode_with_bitstreams(ds, source)
        else:
            try:
                ds.decompress(generate_instance_uid=False)
            except _CONVERSION_ERRORS as exc:
                raise InvalidInputError(
                    f"pixel data could not be decoded from {source}: {type(exc).__name__}"
                ) from exc
    ds.file_meta.TransferSyntaxUID = UID(EXPLICIT_VR_LITTLE_ENDIAN)
    ds.set_original_encoding(is_implicit_vr=False, is_little_endian=True)


def _decode_with_bitstreams(ds: Dataset, source: str) -> None:
    native = _decoded_format(PixelFormat.of(ds), source)
    frames = []
    for number in range(1, native.number_of_frames + 1):
        array, _ = decode_frame(ds, number)
        frames.append(native.frame_bytes(array))
    pixels = b"".join(frames)
    ds.PixelData = pixels + b"\0" * (len(pixels) % 2)
    ds["PixelData"].VR = "OB" if native.bits_allocated <= 8 else "OW"
    ds.PhotometricInterpretation = native.photometric_interpretation
    if native.samples_per_pixel > 1:
        ds.PlanarConfiguration = 0


def _compress(ds: Dataset, target: str) -> None:
    """Encode every native frame of ``ds`` in ``target``, one fragment each, with a BOT."""
    fmt = PixelFormat.of(ds)
    reason = bitstreams.why_not_encodable(target, fmt)
    if reason is not None:
        raise NotAcceptableError(f"this instance cannot be served as {target}: {reason}")
    raw = memoryview(ds.PixelData)
    try:
        frames = [bitstreams.encode_frame(target, fmt.frame_array(raw, index), fmt)
                  for index in range(fmt.number_of_frames)]
    except ValueError as exc:
        raise NotAcceptableError(f"this instance cannot be served as {target}: {exc}") from exc
    ds.PhotometricInterpretation = bitstreams.encoded_photometric(target, fmt)
    if fmt.samples_per_pixel > 1:
        ds.PlanarConfiguration = 0
    ds.PixelData = encapsulate(frames, has_bot=True)
    ds["PixelData"].VR = "OB"


def _swap_to_little_endian(ds: Dataset) -> None:
    """Re-encode a big-endian dataset's raw word data; pydicom converts parsed values itself."""
    for element in _walk(ds):
        width = _WORD_VRS.get(element.VR)
        value = element.value
        if width and isinstance(value, bytes | bytearray) and len(value) % width == 0:
            words = np.frombuffer(value, dtype=f">u{width}")
            element.value = words.astype(f"<u{width}").tobytes()


def _walk(ds: Dataset) -> Iterator[pydicom.DataElement]:
    for element in ds:
        if element.VR == "SQ":
            for item in element.value:
                yield from _walk(item)
        else:
            yield element
