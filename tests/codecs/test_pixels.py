"""Native frames as codecs see them and back, bit for bit (property-based)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dicomvault.codecs import PixelFormat, bitstreams
from dicomvault.codecs.syntaxes import HTJ2K_LOSSLESS, JPEG_LS_LOSSLESS, RLE_LOSSLESS


@st.composite
def frames(draw: st.DrawFn) -> tuple[PixelFormat, bytes]:
    bits_stored = draw(st.integers(2, 16))
    signed = draw(st.booleans())
    # pyjpegls allots twice the raw size for its output: frames of a few pixels do not fit
    # their own JPEG-LS headers and are refused (kept as received), so they start at 16x16.
    rows, columns = draw(st.integers(16, 40)), draw(st.integers(16, 40))
    allocated = 8 if bits_stored <= 8 else 16
    low, high = (-(2 ** (bits_stored - 1)), 2 ** (bits_stored - 1) - 1) if signed \
        else (0, 2**bits_stored - 1)
    seed = draw(st.integers(0, 2**32 - 1))
    values = np.random.default_rng(seed).integers(low, high, size=(rows, columns),
                                                  endpoint=True)
    fmt = PixelFormat(rows, columns, 1, allocated, bits_stored, int(signed), "MONOCHROME2")
    return fmt, values.astype(fmt.dtype).tobytes()


@settings(max_examples=40, deadline=None)
@given(frames(), st.sampled_from([RLE_LOSSLESS, JPEG_LS_LOSSLESS, HTJ2K_LOSSLESS]))
def test_any_grayscale_frame_survives_encode_and_decode(frame: tuple[PixelFormat, bytes],
                                                        syntax: str) -> None:
    fmt, raw = frame
    encoded = bitstreams.encode_frame(syntax, fmt.frame_array(raw), fmt)
    assert fmt.frame_bytes(bitstreams.decode_frame(syntax, encoded, fmt)) == raw


def test_planar_colour_frames_come_back_planar() -> None:
    fmt = PixelFormat(5, 7, 3, 8, 8, 0, "RGB", planar_configuration=1, number_of_frames=2)
    raw = bytes(range(256))[:fmt.frame_length] * 2
    second = fmt.frame_array(raw, 1)
    assert second.shape == (5, 7, 3)
    assert fmt.frame_bytes(second) == raw[fmt.frame_length:]
    assert second[0, 0].tolist() == [raw[0], raw[35], raw[70]]


def test_a_decoded_frame_of_another_shape_is_refused() -> None:
    fmt = PixelFormat(4, 4, 1, 16, 12, 0, "MONOCHROME2")
    with pytest.raises(ValueError, match="shape"):
        fmt.frame_bytes(np.zeros((4, 5), dtype=np.uint16))
