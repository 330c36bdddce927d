"""One frame at a time: decoded native pixels or the stored compressed bitstream.

A multi-frame instance (enhanced CT/MR, ultrasound cine) is served frame by
frame: only the requested frame is decoded (pydicom decoders take an
``index``), and an encapsulated frame is cut out of its fragments without
decoding anything (PS3.5 A.4).
"""

from __future__ import annotations

import io

import numpy as np
import numpy.typing as npt
import pydicom
from pydicom.dataset import Dataset
from pydicom.encaps import get_frame
from pydicom.pixels.decoders.base import get_decoder
from pydicom.pixels.utils import as_pixel_options

from dicomvault.codecs.syntaxes import LITTLE_ENDIAN_NATIVE, is_native
from dicomvault.errors import InvalidInputError, NotAcceptableError, NotFoundError

_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


def number_of_frames(ds: Dataset) -> int:
    """Number of Frames (0028,0008), 1 when absent or unreadable."""
    try:
        return max(1, int(ds.get("NumberOfFrames") or 1))
    except (TypeError, ValueError):
        return 1


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


def decode_frame(ds: Dataset, frame: int) -> tuple[npt.NDArray[np.generic], str]:
    """Decode frame ``frame`` (1-based) alone: its pixel array and photometric interpretation.

    Pixel data that cannot be decoded is reported, never served as garbage:
    an unsupported syntax is :class:`NotAcceptableError`, a corrupt bitstream
    :class:`InvalidInputError`.
    """
    _check_frame(ds, frame)
    syntax = transfer_syntax_of(ds)
    try:
        array, info = get_decoder(syntax).as_array(ds, index=frame - 1, **as_pixel_options(ds))
    except NotImplementedError as exc:
        raise NotAcceptableError(f"pixel data in {syntax} cannot be decoded here") from exc
    except (ValueError, RuntimeError, AttributeError, KeyError, TypeError) as exc:
        raise InvalidInputError(f"pixel data could not be decoded: {type(exc).__name__}") from exc
    return array, str(info.get("photometric_interpretation", ds.PhotometricInterpretation))


def _read(data: bytes) -> Dataset:
    return pydicom.dcmread(io.BytesIO(data))


def native_frame(data: bytes, frame: int) -> bytes:
    """Frame ``frame`` (1-based) of a Part 10 file as native little-endian pixel bytes.

    PS3.18 10.4.1.1.3: uncompressed frames are sent as Explicit VR Little
    Endian pixel data. Little-endian native frames are sliced out unchanged;
    everything else is decoded (that frame only).
    """
    ds = _read(data)
    _check_frame(ds, frame)
    syntax = transfer_syntax_of(ds)
    if syntax in LITTLE_ENDIAN_NATIVE and "PixelData" in ds and ds.get("BitsAllocated") != 1:
        buffer, _ = get_decoder(syntax).as_buffer(ds, index=frame - 1)
        return bytes(buffer)
    array, _ = decode_frame(ds, frame)
    little = array.astype(array.dtype.newbyteorder("<"), copy=False)
    return little.tobytes()


def encapsulated_frame(data: bytes, frame: int) -> bytes:
    """Frame ``frame`` (1-based) of an encapsulated Part 10 file as its compressed bitstream."""
    ds = _read(data)
    _check_frame(ds, frame)
    syntax = transfer_syntax_of(ds)
    if is_native(syntax):
        raise NotAcceptableError("the instance is not stored compressed")
    try:
        return get_frame(ds.PixelData, frame - 1, number_of_frames=number_of_frames(ds))
    except (ValueError, IndexError) as exc:
        raise InvalidInputError("the encapsulated pixel data is malformed") from exc
