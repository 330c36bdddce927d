"""One frame at a time: decoded native pixels or the stored compressed bitstream.

A multi-frame instance (enhanced CT/MR, ultrasound cine, whole-slide tiles)
is served frame by frame: only the requested frame's fragments are cut out
of the encapsulated Pixel Data (PS3.5 A.4, using the Basic Offset Table when
there is one) and only they are decoded; a native frame is sliced out.
"""

from __future__ import annotations

import io

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.encaps import get_frame
from pydicom.pixels.decoders.base import get_decoder
from pydicom.pixels.utils import as_pixel_options

from dicomvault.codecs import bitstreams
from dicomvault.codecs.pixels import Array, PixelFormat, number_of_frames
from dicomvault.codecs.syntaxes import LITTLE_ENDIAN_NATIVE, is_native
from dicomvault.errors import InvalidInputError, NotAcceptableError, NotFoundError

_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
#: Errors pydicom's decoders raise for data they cannot decode.
_DECODE_ERRORS = (ValueError, RuntimeError, AttributeError, KeyError, TypeError)


def transfer_syntax_of(ds: Dataset) -> str:
    """The dataset's transfer syntax from its file meta information."""
    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    if syntax is None:
        raise NotAcceptableError("the instance has no transfer syntax; cannot decode its pixels")
    return str(syntax)


def _check_frame(ds: Dataset, frame: int) -> None:
    if not any(keyword in ds for keyword in _PIXEL_KEYWORDS):
        raise NotFoundError("the instance has no pixel data")
    count = number_of_frames(ds)
    if not 1 <= frame <= count:
        raise NotFoundError(f"frame {frame} does not exist (the instance has {count})")


def frame_bitstream(ds: Dataset, frame: int) -> bytes:
    """The compressed bitstream of frame ``frame`` (1-based) of an encapsulated dataset."""
    try:
        return get_frame(ds.PixelData, frame - 1, number_of_frames=number_of_frames(ds))
    except (ValueError, IndexError, KeyError) as exc:
        raise InvalidInputError("the encapsulated pixel data is malformed") from exc


def decode_frame(ds: Dataset, frame: int) -> tuple[Array, str]:
    """Decode frame ``frame`` (1-based) alone: its pixel array and photometric interpretation.

    Pixel data that cannot be decoded is reported, never served as garbage:
    an unsupported syntax is :class:`NotAcceptableError`, a corrupt bitstream
    :class:`InvalidInputError`.
    """
    _check_frame(ds, frame)
    syntax = transfer_syntax_of(ds)
    if syntax in bitstreams.DECODABLE or syntax in bitstreams.ENCODABLE:
        fmt = PixelFormat.of(ds)
        array = bitstreams.decode_frame(syntax, frame_bitstream(ds, frame), fmt, frame=frame)
        photometric = fmt.photometric_interpretation
        return fmt.stored_values(array), "RGB" if photometric == "YBR_RCT" else photometric
    try:
        array, info = get_decoder(syntax).as_array(ds, index=frame - 1, **as_pixel_options(ds))
    except NotImplementedError as exc:
        raise NotAcceptableError(f"pixel data in {syntax} cannot be decoded here") from exc
    except _DECODE_ERRORS as exc:
        raise InvalidInputError(f"pixel data could not be decoded: {type(exc).__name__}") from exc
    return array, str(info.get("photometric_interpretation", ds.PhotometricInterpretation))


def _read(data: bytes) -> Dataset:
    return pydicom.dcmread(io.BytesIO(data))


def dataset_native_frame(ds: Dataset, frame: int) -> bytes:
    """Frame ``frame`` (1-based) of ``ds`` as native little-endian pixel bytes.

    PS3.18 10.4.1.1.3: uncompressed frames are sent as Explicit VR Little
    Endian pixel data. Little-endian native frames are sliced out unchanged;
    everything else is decoded (that frame only).
    """
    _check_frame(ds, frame)
    syntax = transfer_syntax_of(ds)
    if syntax in LITTLE_ENDIAN_NATIVE and "PixelData" in ds and ds.get("BitsAllocated") != 1:
        buffer, _ = get_decoder(syntax).as_buffer(ds, index=frame - 1)
        return bytes(buffer)
    array, _ = decode_frame(ds, frame)
    little = array.astype(array.dtype.newbyteorder("<"), copy=False)
    return np.ascontiguousarray(little).tobytes()


def native_frame(data: bytes, frame: int) -> bytes:
    """Frame ``frame`` (1-based) of a Part 10 file as native little-endian pixel bytes."""
    return dataset_native_frame(_read(data), frame)


def encapsulated_frame(data: bytes, frame: int) -> bytes:
    """Frame ``frame`` (1-based) of an encapsulated Part 10 file as its compressed bitstream."""
    ds = _read(data)
    _check_frame(ds, frame)
    if is_native(transfer_syntax_of(ds)):
        raise NotAcceptableError("the instance is not stored compressed")
    return frame_bitstream(ds, frame)
