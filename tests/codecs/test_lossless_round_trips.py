"""Every lossless path is bit-exact: compressed copies rebuild the original file byte for
byte, and what we write decodes to the same pixels in pydicom's own decoders."""

from __future__ import annotations

import hashlib
import io
from typing import Any

import numpy as np
import pydicom
import pytest
from tests.codecs.images import (
    REAL_LARGE,
    REAL_NATIVE,
    SYNTHETIC,
    pixel_array,
    real_file,
    synthetic,
)

from dicomvault.codecs import CompressedCopy, Refusal, compress_original, restore_original
from dicomvault.codecs.syntaxes import (
    HTJ2K_LOSSLESS,
    HTJ2K_LOSSLESS_RPCL,
    JPEG_2000_LOSSLESS,
    JPEG_LS_LOSSLESS,
    RLE_LOSSLESS,
)

LOSSLESS_TARGETS = [RLE_LOSSLESS, JPEG_LS_LOSSLESS, JPEG_2000_LOSSLESS, HTJ2K_LOSSLESS,
                    HTJ2K_LOSSLESS_RPCL]


def _rebuilt(copy: CompressedCopy, original: bytes) -> bytes:
    header = original[:copy.layout.header_length]
    return b"".join(restore_original(header, copy.layout, copy.data))


def _check_round_trip(original: bytes, target: str) -> CompressedCopy:
    result = compress_original(original, target,
                               original_sha256=hashlib.sha256(original).hexdigest())
    assert isinstance(result, CompressedCopy), result
    served = pydicom.dcmread(io.BytesIO(result.data))
    assert served.file_meta.TransferSyntaxUID == target
    assert served.SOPInstanceUID == pydicom.dcmread(io.BytesIO(original)).SOPInstanceUID
    assert _rebuilt(result, original) == original
    assert np.array_equal(pixel_array(result.data), pixel_array(original))
    return result


@pytest.mark.parametrize("target", LOSSLESS_TARGETS)
@pytest.mark.parametrize(("name", "what"), REAL_NATIVE, ids=[n for n, _ in REAL_NATIVE])
def test_real_images_round_trip_bit_exact(name: str, what: str, target: str) -> None:
    _check_round_trip(real_file(name), target)


@pytest.mark.slow
@pytest.mark.parametrize("target", [JPEG_LS_LOSSLESS, HTJ2K_LOSSLESS, JPEG_2000_LOSSLESS])
@pytest.mark.parametrize("name", REAL_LARGE)
def test_large_real_images_round_trip_bit_exact(name: str, target: str) -> None:
    copy = _check_round_trip(real_file(name), target)
    assert copy.size < len(real_file(name)) / 1.5  # these compress well: a sanity check


@pytest.mark.parametrize("target", LOSSLESS_TARGETS)
@pytest.mark.parametrize(("label", "options"), SYNTHETIC, ids=[label for label, _ in SYNTHETIC])
def test_synthetic_formats_round_trip_bit_exact(label: str, options: dict[str, Any],
                                                target: str) -> None:
    _check_round_trip(synthetic(**options), target)


def test_signed_12_bit_data_without_sign_extension_is_kept_not_mangled() -> None:
    """Stored bits above Bits Stored that are not the sign (PS3.5 8.1.1 allows them to be
    anything) cannot survive JPEG-LS at P = Bits Stored: the proof refuses, bytes stay."""
    ds = pydicom.dcmread(io.BytesIO(synthetic(bits_stored=12, signed=True)))
    raw = np.frombuffer(ds.PixelData, dtype="<i2").copy()
    raw[5] = np.int16(0x0F00 - 0x1000) & 0x0FFF  # a negative 12-bit value, high bits left 0
    ds.PixelData = raw.tobytes()
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    result = compress_original(out.getvalue(), JPEG_LS_LOSSLESS)
    assert isinstance(result, Refusal)
    assert result.mismatch


def test_overlay_bits_above_bits_stored_survive_htj2k() -> None:
    """HTJ2K codes all 16 allocated bits here, so high bits carrying other data come back."""
    ds = pydicom.dcmread(io.BytesIO(synthetic(bits_stored=12)))
    raw = np.frombuffer(ds.PixelData, dtype="<u2").copy()
    raw[::7] |= 0x8000
    ds.PixelData = raw.tobytes()
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    original = out.getvalue()
    result = compress_original(original, HTJ2K_LOSSLESS)
    assert isinstance(result, CompressedCopy)
    assert _rebuilt(result, original) == original


@pytest.mark.parametrize("name", ["JPEG2000.dcm", "JPEG-lossy.dcm", "MR_small_RLE.dcm",
                                  "MR_small_bigendian.dcm", "rtdose.dcm"])
def test_what_cannot_be_rebuilt_exactly_is_kept_as_received(name: str) -> None:
    """Compressed (lossy or not), big-endian and 32-bit files: refused, no mismatch."""
    result = compress_original(real_file(name), JPEG_LS_LOSSLESS)
    assert isinstance(result, Refusal)
    assert not result.mismatch


def test_a_header_that_is_not_the_files_own_is_refused() -> None:
    original = real_file("CT_small.dcm")
    result = compress_original(original, JPEG_LS_LOSSLESS, kept_header=b"DICM" * 10)
    assert isinstance(result, Refusal)


def test_bytes_that_do_not_match_the_recorded_hash_are_refused() -> None:
    result = compress_original(real_file("CT_small.dcm"), JPEG_LS_LOSSLESS,
                               original_sha256="0" * 64)
    assert isinstance(result, Refusal)
    assert result.mismatch


def test_trailing_elements_and_padding_survive() -> None:
    """Elements after Pixel Data (here Data Set Trailing Padding) are part of the original."""
    ds = pydicom.dcmread(io.BytesIO(synthetic(bits_stored=16, rows=7, columns=9)))
    ds.add_new(0xFFFCFFFC, "OB", b"\0" * 24)
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    original = out.getvalue()
    copy = _check_round_trip(original, JPEG_LS_LOSSLESS)
    assert copy.layout.tail.endswith(b"\0" * 24)


def test_odd_length_8_bit_pixel_data_keeps_its_padding_byte() -> None:
    original = real_file("SC_rgb_small_odd.dcm")  # 3x3 RGB: 27 bytes, padded to 28
    copy = _check_round_trip(original, HTJ2K_LOSSLESS)
    assert copy.layout.pixel_extra == b"\0"
