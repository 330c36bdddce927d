"""One frame's bitstream in each compressed syntax: encode and decode, through maintained codecs.

Which library does what (we write no codec):

=====================  ==========================  ===============================
syntax                 encode                      decode
=====================  ==========================  ===============================
RLE Lossless           pydicom (pylibjpeg-rle)     pydicom (pylibjpeg-rle)
JPEG-LS                pyjpegls (CharLS)           imagecodecs (CharLS)
JPEG 2000              pydicom (pylibjpeg-openjpeg) pydicom (pylibjpeg-openjpeg)
HTJ2K                  imagecodecs (OpenJPH)       imagecodecs (OpenJPH)
JPEG baseline/ext/LL   (decode only)               pydicom (pylibjpeg-libjpeg)
=====================  ==========================  ===============================

pydicom 3.0 has no HTJ2K encoder, so HTJ2K goes through imagecodecs, which
ships OpenJPH; pydicom and pylibjpeg-openjpeg decode what it writes (the
tests check both). DICOM rules applied here, not in the libraries:

* JPEG-LS has no sign (PS3.5 8.2.3): signed samples are encoded as their
  two's complement bit pattern of ``Bits Stored`` bits, precision P equal to
  Bits Stored, and sign-extended again after decoding
  (:meth:`PixelFormat.frame_bytes`).
* Colour JPEG 2000 / HTJ2K lossless uses the reversible colour transform and
  says so with Photometric Interpretation ``YBR_RCT`` (PS3.5 8.2.4, 8.2.15);
  decoders undo it and hand back RGB.
* HTJ2K with RPCL options (1.2.840.10008.1.2.4.202, PS3.5 10.18) needs RPCL
  progression (OpenJPH's default), TLM markers, and enough decompositions
  for the lowest resolution to be at most 64 pixels wide and high.

A bitstream that fails to decode, or decodes to the wrong shape, raises
:class:`~dicomvault.errors.InvalidInputError` naming the frame: corrupt
data is refused, never served as garbage.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import imagecodecs
import jpeg_ls
import numpy as np
from pydicom.encaps import encapsulate
from pydicom.pixels.decoders.base import get_decoder
from pydicom.pixels.encoders.base import ENCODING_PROFILES, get_encoder
from pydicom.uid import UID

from dicomvault.codecs.pixels import Array, PixelFormat
from dicomvault.codecs.syntaxes import (
    HTJ2K_SYNTAXES,
    JPEG_2000_LOSSLESS,
    JPEG_2000_SYNTAXES,
    JPEG_LS_LOSSLESS,
    JPEG_LS_SYNTAXES,
    RLE_LOSSLESS,
)
from dicomvault.errors import InvalidInputError

#: Syntaxes we can write (lossless, or HTJ2K 1.2.840.10008.1.2.4.203 written reversibly).
ENCODABLE = frozenset({RLE_LOSSLESS, JPEG_LS_LOSSLESS, JPEG_2000_LOSSLESS, *HTJ2K_SYNTAXES})
#: Syntaxes whose frames this module decodes itself (others go through pydicom's decoders).
DECODABLE = frozenset({*JPEG_LS_SYNTAXES, *HTJ2K_SYNTAXES})

#: Errors the codec libraries raise for a bitstream they cannot handle.
_CODEC_ERRORS: tuple[type[Exception], ...] = (
    ValueError, RuntimeError, TypeError, KeyError, AttributeError, NotImplementedError,
    imagecodecs.DelayedImportError, imagecodecs.JpeglsError, imagecodecs.Htj2kError,
)
#: PS3.5 10.18: the lowest resolution of an RPCL codestream is at most this wide and high.
_RPCL_THUMBNAIL = 64
#: Bytes a fragment may carry after the codestream's EOC marker.
_MAX_PADDING = 2
#: Start of tile-part marker (ISO 15444-1 A.4.2).
_SOT = 0xFF90
#: OpenJPH's default number of decompositions (resolutions - 1).
_DEFAULT_DECOMPOSITIONS = 5


def encoded_photometric(syntax: str, fmt: PixelFormat) -> str:
    """Photometric Interpretation of the encoded frames (``YBR_RCT`` for colour JPEG 2000)."""
    if fmt.photometric_interpretation == "RGB" and (
        syntax == JPEG_2000_LOSSLESS or syntax in HTJ2K_SYNTAXES
    ):
        return "YBR_RCT"
    return fmt.photometric_interpretation


def why_not_encodable(syntax: str, fmt: PixelFormat) -> str | None:
    """Why ``fmt`` cannot be written in ``syntax`` (PS3.5 Table 8.2.x-1 profiles), or ``None``."""
    if syntax not in ENCODABLE:
        return f"no encoder for {syntax}"
    reason = fmt.why_not_codable()
    if reason is not None:
        return reason
    profile_syntax = JPEG_2000_LOSSLESS if syntax in HTJ2K_SYNTAXES else syntax
    wanted = encoded_photometric(syntax, fmt)
    for photometric, samples, representations, allocated, stored in ENCODING_PROFILES[
        UID(profile_syntax)
    ]:
        if (photometric == wanted and samples == fmt.samples_per_pixel
                and fmt.pixel_representation in representations
                and fmt.bits_allocated in allocated and fmt.bits_stored in stored):
            return None
    return (f"{fmt.photometric_interpretation} {fmt.bits_stored}-bit "
            f"{'signed' if fmt.is_signed else 'unsigned'} data is not allowed in {syntax}")


def _pydicom_options(fmt: PixelFormat, photometric: str) -> dict[str, Any]:
    return {
        "rows": fmt.rows,
        "columns": fmt.columns,
        "samples_per_pixel": fmt.samples_per_pixel,
        "bits_allocated": fmt.bits_allocated,
        "bits_stored": fmt.bits_stored,
        "pixel_representation": fmt.pixel_representation,
        "photometric_interpretation": photometric,
        "planar_configuration": 0,
        "number_of_frames": 1,
    }


def _htj2k_resolutions(fmt: PixelFormat) -> int:
    needed = math.ceil(math.log2(max(fmt.rows, fmt.columns) / _RPCL_THUMBNAIL)) \
        if max(fmt.rows, fmt.columns) > _RPCL_THUMBNAIL else 0
    return max(needed, _DEFAULT_DECOMPOSITIONS) + 1


def _jpeg_ls_encode(frame: Array, fmt: PixelFormat) -> bytes:
    values = np.ascontiguousarray(frame)
    if fmt.is_signed:
        unsigned = values.view(values.dtype.str.replace("i", "u"))
        values = unsigned & np.array((1 << fmt.bits_stored) - 1, dtype=unsigned.dtype)
    return bytes(jpeg_ls.encode_pixel_data(
        values.tobytes(), rows=fmt.rows, columns=fmt.columns,
        samples_per_pixel=fmt.samples_per_pixel, bits_stored=fmt.bits_stored,
        planar_configuration=0,
    ))


def encode_frame(syntax: str, frame: Array, fmt: PixelFormat) -> bytes:
    """Encode one interleaved frame (shape :attr:`PixelFormat.shape`) losslessly in ``syntax``.

    Raises :class:`ValueError` when the data cannot be encoded as declared
    (for instance values above ``Bits Stored``); callers keep the original then.
    """
    reason = why_not_encodable(syntax, fmt)
    if reason is not None:
        raise ValueError(reason)
    try:
        if syntax == JPEG_LS_LOSSLESS:
            return _jpeg_ls_encode(frame, fmt)
        if syntax in HTJ2K_SYNTAXES:
            return bytes(imagecodecs.htj2k_encode(
                np.ascontiguousarray(frame), reversible=True,
                rgb=fmt.photometric_interpretation == "RGB", planar=False,
                tlm=True, resolutions=_htj2k_resolutions(fmt),
            ))
        options = _pydicom_options(fmt, encoded_photometric(syntax, fmt))
        return bytes(get_encoder(UID(syntax)).encode(np.ascontiguousarray(frame), **options))
    except _CODEC_ERRORS as exc:
        raise ValueError(f"{type(exc).__name__}: the frame cannot be encoded in {syntax}") from exc


def _check_jpeg_2000_codestream(bitstream: bytes) -> None:
    """Refuse a JPEG 2000 / HTJ2K codestream whose tile-parts do not add up (ISO 15444-1 A.4).

    Some decoders (OpenJPH) decode a truncated codestream without complaint
    and fill the missing part with zeros; walking the SOT lengths to the
    EOC marker catches truncation and lost tail bytes first. A fragment may
    carry a padding byte or two after EOC (PS3.5 A.4: even length; some
    writers pad with 0xFF).
    """
    end = bitstream.rfind(b"\xff\xd9", max(0, len(bitstream) - _MAX_PADDING - 2)) + 2
    if not bitstream.startswith(b"\xff\x4f\xff\x51") or end < 2:
        raise ValueError("codestream does not start with SOC/SIZ or end with EOC")
    position = 2
    while position + 4 <= end - 2:
        marker, length = struct.unpack_from(">HH", bitstream, position)
        if marker == _SOT:
            (psot,) = struct.unpack_from(">I", bitstream, position + 6)
            position = end - 2 if psot == 0 else position + psot
        elif marker >> 8 == 0xFF:
            position += 2 + length
        else:
            raise ValueError("codestream marker segments are out of step")
    if position != end - 2:
        raise ValueError("codestream tile-parts do not end at EOC")


def decode_frame(syntax: str, bitstream: bytes, fmt: PixelFormat, *, frame: int = 1) -> Array:
    """Decode one frame's bitstream to an interleaved array of :attr:`PixelFormat.shape`.

    ``fmt`` describes the *decoded* image (its photometric interpretation
    may be ``YBR_RCT``: the result is then RGB). ``frame`` only names the
    frame in errors.
    """
    try:
        if syntax in JPEG_LS_SYNTAXES:
            array = imagecodecs.jpegls_decode(bitstream)
        elif syntax in HTJ2K_SYNTAXES:
            _check_jpeg_2000_codestream(bitstream)
            array = imagecodecs.htj2k_decode(bitstream, planar=False)
        else:
            if syntax in JPEG_2000_SYNTAXES:
                _check_jpeg_2000_codestream(bitstream)
            options = _pydicom_options(fmt, fmt.photometric_interpretation)
            options["as_rgb"] = False
            array, _ = get_decoder(UID(syntax)).as_array(encapsulate([bitstream]), index=0,
                                                         **options)
    except _CODEC_ERRORS as exc:
        raise InvalidInputError(
            f"frame {frame} could not be decoded from {syntax}: {type(exc).__name__}") from exc
    if array.shape != fmt.shape:
        raise InvalidInputError(
            f"frame {frame} decoded to {array.shape} pixels; the header declares {fmt.shape}")
    return np.asarray(array)

