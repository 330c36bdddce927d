"""Rendered images of DICOM frames: the pixels of WADO-RS rendered resources and thumbnails.

PS3.18 8.3.5 and 10.4.1.1.4 turn one frame into a consumer image
(``image/jpeg`` or ``image/png``) through the grayscale pipeline of PS3.3
C.11 and PS3.4 N.2:

1. decode only the requested frame (``pydicom`` decoders with ``index``);
2. Modality LUT: Rescale Slope / Intercept or a Modality LUT Sequence
   (PS3.3 C.11.1), per frame for enhanced multi-frame objects (C.7.6.16.2.9);
3. VOI: the ``window`` query parameter (PS3.18 8.3.5.1.4), else the first
   Window Center / Width of the frame or the header (with its VOI LUT
   Function, C.11.2.1.2-3), else a VOI LUT Sequence, else the frame's own
   minimum and maximum;
4. MONOCHROME1 is inverted so that the output is always "white is high"
   (PS3.3 C.7.6.3.1.2);
5. colour images (RGB, YBR_*, PALETTE COLOR) become RGB and are scaled to
   8 bits; VOI does not apply to them;
6. ``viewport`` scales to fit the given width and height, keeping the
   aspect ratio (PS3.18 8.3.5.1.3).
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.pixels.processing import apply_color_lut, apply_modality_lut, convert_color_space

from dicomvault.codecs.frames import decode_frame
from dicomvault.codecs.pixels import number_of_frames
from dicomvault.errors import InvalidInputError, NotAcceptableError, NotFoundError

MEDIA_TYPES = {"image/jpeg": "JPEG", "image/png": "PNG"}
VOI_FUNCTIONS = ("LINEAR", "LINEAR_EXACT", "SIGMOID")
DEFAULT_JPEG_QUALITY = 90
_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")

FloatArray = npt.NDArray[np.float64]


def _functional_item(ds: Dataset, index: int, keyword: str) -> Dataset | None:
    """The first item of ``keyword`` for frame ``index`` in the per-frame, then
    shared, functional groups (PS3.3 C.7.6.16), if the object has them."""
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    shared = ds.get("SharedFunctionalGroupsSequence")
    groups = []
    if per_frame and index < len(per_frame):
        groups.append(per_frame[index])
    if shared:
        groups.append(shared[0])
    for group in groups:
        items = group.get(keyword)
        if items:
            item: Dataset = items[0]
            return item
    return None


def _window(values: FloatArray, center: float, width: float, function: str) -> FloatArray:
    """VOI windowing to 0..1 (PS3.3 C.11.2.1.2.1 LINEAR, C.11.2.1.3.1 SIGMOID,
    C.11.2.1.3.2 LINEAR_EXACT)."""
    if function == "SIGMOID":
        return np.asarray(1.0 / (1.0 + np.exp(-4.0 * (values - center) / width)))
    if function == "LINEAR_EXACT":
        return np.clip((values - center) / width + 0.5, 0.0, 1.0)
    if width <= 1:
        return (values > center - 0.5).astype(np.float64)
    return np.clip((values - (center - 0.5)) / (width - 1) + 0.5, 0.0, 1.0)


def _first(value: object) -> float:
    if isinstance(value, Sequence) and not isinstance(value, str):
        value = value[0]
    return float(value)  # type: ignore[arg-type]


def _voi_lut(values: FloatArray, item: Dataset) -> FloatArray:
    """A VOI LUT Sequence item (PS3.3 C.11.2.1.1) applied, scaled to 0..1."""
    entries, first, _ = (int(v) for v in item.LUTDescriptor)
    table = np.asarray(item.LUTData, dtype=np.float64).ravel()
    entries = min(entries or 65536, table.size)
    indices = np.clip(np.rint(values - first), 0, entries - 1).astype(np.intp)
    low, high = float(table[:entries].min()), float(table[:entries].max())
    return (table[indices] - low) / (high - low) if high > low else np.zeros_like(values)


def _grayscale(array: npt.NDArray[np.generic], ds: Dataset, index: int,
               window: tuple[float, float] | None, function: str | None) -> FloatArray:
    """Modality LUT then VOI, to 0..1 (before any MONOCHROME1 inversion)."""
    modality = _functional_item(ds, index, "PixelValueTransformationSequence") or ds
    values = np.asarray(apply_modality_lut(array, modality), dtype=np.float64)
    if window is not None:
        return _window(values, window[0], window[1], function or "LINEAR")
    voi = _functional_item(ds, index, "FrameVOILUTSequence") or ds
    if voi.get("WindowCenter") is not None and voi.get("WindowWidth") is not None:
        width = _first(voi.WindowWidth)
        if width > 0:
            chosen = function or str(voi.get("VOILUTFunction") or "LINEAR").upper()
            return _window(values, _first(voi.WindowCenter), width,
                           chosen if chosen in VOI_FUNCTIONS else "LINEAR")
    if ds.get("VOILUTSequence"):
        return _voi_lut(values, ds.VOILUTSequence[0])
    low, high = float(values.min()), float(values.max())
    return (values - low) / (high - low) if high > low else np.zeros_like(values)


def _colour(array: npt.NDArray[np.generic], photometric: str,
            ds: Dataset) -> npt.NDArray[np.uint8]:
    if photometric == "PALETTE COLOR":
        array = apply_color_lut(array, ds)
    elif photometric.startswith("YBR"):
        array = convert_color_space(array, photometric, "RGB")
    elif photometric != "RGB":
        raise NotAcceptableError(f"photometric interpretation {photometric} cannot be rendered")
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array, dtype=np.uint8)
    bits = 8 * array.dtype.itemsize if photometric == "PALETTE COLOR" \
        else int(ds.get("BitsStored") or 8 * array.dtype.itemsize)
    scaled = np.asarray(array, dtype=np.float64) * (255.0 / (2**bits - 1))
    result: npt.NDArray[np.uint8] = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    return result


def frame_image(ds: Dataset, frame: int = 1, window: tuple[float, float] | None = None,
                window_function: str | None = None) -> Image.Image:
    """Frame ``frame`` (1-based) of ``ds`` as an 8-bit Pillow image, "L" or "RGB".

    NotFoundError (404) for a frame that does not exist; NotAcceptableError
    (406) for an instance without pixels or with pixels that cannot be shown.
    """
    frames = number_of_frames(ds)
    if not 1 <= frame <= frames:
        raise NotFoundError(f"frame {frame} does not exist; the instance has {frames} frame(s)")
    if window_function is not None and window_function.upper() not in VOI_FUNCTIONS:
        raise InvalidInputError(f"window function must be one of {', '.join(VOI_FUNCTIONS)}")
    if window is not None and window[1] <= 0:
        raise InvalidInputError("window width must be positive")
    function = window_function.upper() if window_function else None
    if not any(keyword in ds for keyword in _PIXEL_KEYWORDS):
        raise NotAcceptableError("the instance has no pixel data to render as an image")
    array, photometric = decode_frame(ds, frame)
    if photometric in ("MONOCHROME1", "MONOCHROME2"):
        gray = _grayscale(array, ds, frame - 1, window, function)
        if photometric == "MONOCHROME1":
            gray = 1.0 - gray
        pixels = np.rint(gray * 255.0).astype(np.uint8)
        return Image.fromarray(pixels)
    return Image.fromarray(_colour(array, photometric, ds))


def _fit(image: Image.Image, width: int, height: int) -> Image.Image:
    """Scale to the largest size within ``width`` x ``height`` keeping the aspect ratio."""
    scale = min(width / image.width, height / image.height)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    if size == image.size:
        return image
    return image.resize(size, Image.Resampling.LANCZOS)


def encode_image(image: Image.Image, media_type: str, quality: int | None = None) -> bytes:
    """``image/jpeg`` (quality 1-100, default 90) or ``image/png`` bytes."""
    fmt = MEDIA_TYPES.get(media_type)
    if fmt is None:
        raise NotAcceptableError(f"rendered media type {media_type} is not supported")
    if quality is not None and not 1 <= quality <= 100:
        raise InvalidInputError("quality must be an integer from 1 to 100")
    out = io.BytesIO()
    if fmt == "JPEG":
        image.save(out, format="JPEG", quality=quality or DEFAULT_JPEG_QUALITY)
    else:
        image.save(out, format="PNG")
    return out.getvalue()


def render_frame(ds: Dataset, frame: int = 1, media_type: str = "image/jpeg", *,
                 window: tuple[float, float] | None = None,
                 viewport: tuple[int, int] | None = None, quality: int | None = None,
                 window_function: str | None = None) -> bytes:
    """One frame as a rendered image (PS3.18 10.4.1.1.4); see the module docstring."""
    image = frame_image(ds, frame, window, window_function)
    if viewport is not None:
        if viewport[0] < 1 or viewport[1] < 1:
            raise InvalidInputError("viewport width and height must be positive")
        image = _fit(image, viewport[0], viewport[1])
    return encode_image(image, media_type, quality)


def thumbnail(ds: Dataset, media_type: str = "image/jpeg", size: int = 128,
              frame: int = 1) -> bytes:
    """A small preview: the frame rendered with its own VOI, shrunk (never enlarged)
    to fit ``size`` x ``size`` (PS3.18 10.4.1.1.6 thumbnail resources)."""
    image = frame_image(ds, frame)
    if image.width > size or image.height > size:
        image = _fit(image, size, size)
    return encode_image(image, media_type)


__all__ = ["encode_image", "frame_image", "render_frame", "thumbnail"]
