"""The shape of native pixel data: what a frame is, as bytes and as an array.

PS3.5 8.1 and PS3.3 C.7.6.3 fix how native (uncompressed) Pixel Data is laid
out: frames one after another, each ``Rows x Columns x Samples per Pixel``
values of ``Bits Allocated`` bits, little endian, samples interleaved
(Planar Configuration 0) or one colour plane after another (1). A codec
sees one frame as an array; the archive keeps and compares raw bytes.
:class:`PixelFormat` converts between the two without losing a bit: the
bytes that went in are the bytes that come out, including bits above
``Bits Stored`` (which an encoder may refuse, and then the frame is not
compressed; see :mod:`dicomvault.codecs.compress`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset

Array = npt.NDArray[np.generic]

#: Photometric interpretations whose native layout is full resolution (no 4:2:2 subsampling).
FULL_RESOLUTION = frozenset({"MONOCHROME1", "MONOCHROME2", "PALETTE COLOR", "RGB", "YBR_FULL"})


def number_of_frames(ds: Dataset) -> int:
    """Number of Frames (0028,0008), 1 when absent or unreadable."""
    try:
        return max(1, int(ds.get("NumberOfFrames") or 1))
    except (TypeError, ValueError):
        return 1


@dataclass(frozen=True, slots=True)
class PixelFormat:
    """The Image Pixel module attributes a codec needs (PS3.3 C.7.6.3.1)."""

    rows: int
    columns: int
    samples_per_pixel: int
    bits_allocated: int
    bits_stored: int
    pixel_representation: int
    photometric_interpretation: str
    planar_configuration: int = 0
    number_of_frames: int = 1

    @classmethod
    def of(cls, ds: Dataset) -> PixelFormat:
        """The format of ``ds``'s Pixel Data (absent attributes take their usual defaults)."""
        bits_allocated = int(ds.get("BitsAllocated") or 0)
        return cls(
            rows=int(ds.get("Rows") or 0),
            columns=int(ds.get("Columns") or 0),
            samples_per_pixel=int(ds.get("SamplesPerPixel") or 1),
            bits_allocated=bits_allocated,
            bits_stored=int(ds.get("BitsStored") or bits_allocated),
            pixel_representation=int(ds.get("PixelRepresentation") or 0),
            photometric_interpretation=str(ds.get("PhotometricInterpretation") or "MONOCHROME2"),
            planar_configuration=int(ds.get("PlanarConfiguration") or 0),
            number_of_frames=number_of_frames(ds),
        )

    @property
    def is_signed(self) -> bool:
        return self.pixel_representation == 1

    @property
    def dtype(self) -> np.dtype[np.generic]:
        """Little-endian dtype of one stored sample."""
        kind = "i" if self.is_signed else "u"
        return np.dtype(f"<{kind}{self.bits_allocated // 8}")

    @property
    def frame_length(self) -> int:
        """Bytes of one native frame (PS3.5 8.1.1)."""
        return self.rows * self.columns * self.samples_per_pixel * self.bits_allocated // 8

    @property
    def shape(self) -> tuple[int, ...]:
        """Array shape of one frame as codecs see it: samples last (interleaved)."""
        if self.samples_per_pixel == 1:
            return (self.rows, self.columns)
        return (self.rows, self.columns, self.samples_per_pixel)

    def why_not_codable(self) -> str | None:
        """Why frames of this format cannot go through our lossless codecs, ``None`` if they can.

        Whole bytes per sample (8 or 16 bits), one or three samples at full
        resolution: what every lossless encoder we use accepts (PS3.5 Tables
        8.2.2-1, 8.2.3-1, 8.2.4-1). Anything else is kept as received.
        """
        if self.bits_allocated not in (8, 16):
            return f"{self.bits_allocated} bits allocated"
        if not 1 <= self.bits_stored <= self.bits_allocated:
            return "bits stored out of range"
        if self.samples_per_pixel not in (1, 3):
            return f"{self.samples_per_pixel} samples per pixel"
        if self.photometric_interpretation not in FULL_RESOLUTION:
            return f"photometric interpretation {self.photometric_interpretation}"
        if self.rows < 1 or self.columns < 1:
            return "no rows or columns"
        return None

    def frame_array(self, raw: bytes | memoryview, index: int = 0) -> Array:
        """Frame ``index`` (0-based) of native little-endian ``raw`` as an interleaved array."""
        start = index * self.frame_length
        values = np.frombuffer(raw, dtype=self.dtype, count=self.frame_length
                               // self.dtype.itemsize, offset=start)
        if self.samples_per_pixel > 1 and self.planar_configuration == 1:
            planes = values.reshape(self.samples_per_pixel, self.rows, self.columns)
            return np.ascontiguousarray(planes.transpose(1, 2, 0))
        return values.reshape(self.shape)

    def stored_values(self, array: Array) -> Array:
        """A decoded frame as this format's stored sample type.

        Decoders return values, not bit patterns: an unsigned decoded array
        for signed data (JPEG-LS has no sign, PS3.5 8.2.3) is sign-extended
        from ``Bits Stored`` here, so that the stored two's complement bytes
        come back exactly.
        """
        if array.shape != self.shape:
            raise ValueError(f"decoded frame has shape {array.shape}, expected {self.shape}")
        values: npt.NDArray[np.integer[Any]] = np.asarray(array)
        if self.is_signed and values.dtype.kind == "u":
            shift = 8 * self.dtype.itemsize - self.bits_stored
            values = values.astype(self.dtype)
            if shift:
                values = np.right_shift(np.left_shift(values, shift), shift)
        return values.astype(self.dtype, copy=False)

    def frame_bytes(self, array: Array, *, planar_configuration: int | None = None) -> bytes:
        """Native little-endian bytes of one decoded frame, in this format's layout
        (its own Planar Configuration unless another is given)."""
        out = self.stored_values(array)
        planar = self.planar_configuration if planar_configuration is None else planar_configuration
        if self.samples_per_pixel > 1 and planar == 1:
            out = out.transpose(2, 0, 1)
        return np.ascontiguousarray(out).tobytes()
