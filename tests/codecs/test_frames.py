"""Frame by frame: one frame of a multi-frame instance is decoded alone, and a corrupt
compressed frame is refused with an error naming it, never served as garbage."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate, generate_frames
from tests.codecs.images import pixel_array, real_file, synthetic

from dicomvault.codecs import bitstreams, decode_frame, native_frame, transcode
from dicomvault.codecs.syntaxes import (
    HTJ2K_LOSSLESS,
    HTJ2K_LOSSLESS_RPCL,
    JPEG_2000_LOSSLESS,
    JPEG_LS_LOSSLESS,
    RLE_LOSSLESS,
)
from dicomvault.errors import InvalidInputError, NotFoundError

ENCODED = [RLE_LOSSLESS, JPEG_LS_LOSSLESS, JPEG_2000_LOSSLESS, HTJ2K_LOSSLESS,
           HTJ2K_LOSSLESS_RPCL]


@pytest.fixture
def decode_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the frames :mod:`dicomvault.codecs.bitstreams` decodes."""
    calls: list[int] = []
    real: Callable[..., Any] = bitstreams.decode_frame

    def counting(syntax: str, bitstream: bytes, fmt: Any, *, frame: int = 1) -> Any:
        calls.append(frame)
        return real(syntax, bitstream, fmt, frame=frame)

    monkeypatch.setattr(bitstreams, "decode_frame", counting)
    return calls


@pytest.mark.parametrize("target", ENCODED)
def test_one_frame_of_a_multi_frame_instance_is_decoded_alone(target: str,
                                                              decode_calls: list[int]) -> None:
    original = real_file("emri_small.dcm")  # 10 frames
    ds = pydicom.dcmread(io.BytesIO(transcode(original, target)))
    decode_calls.clear()
    array, _ = decode_frame(ds, 7)
    assert decode_calls == [7]
    assert np.array_equal(array, pixel_array(original)[6])


def test_native_frame_of_a_compressed_cine_equals_the_original_frame() -> None:
    original = synthetic(bits_stored=8, samples=3, photometric="RGB", frames=4, seed=3)
    compressed = transcode(original, HTJ2K_LOSSLESS)
    frame_length = 96 * 80 * 3
    raw = pydicom.dcmread(io.BytesIO(original)).PixelData
    assert native_frame(compressed, 3) == raw[2 * frame_length:3 * frame_length]


def test_a_frame_that_does_not_exist_is_not_found() -> None:
    ds = pydicom.dcmread(io.BytesIO(transcode(real_file("emri_small.dcm"), JPEG_LS_LOSSLESS)))
    with pytest.raises(NotFoundError):
        decode_frame(ds, 11)


def _with_frame(data: bytes, change: Callable[[bytes], bytes]) -> pydicom.Dataset:
    """The instance with its first frame's bitstream changed by ``change``."""
    ds = pydicom.dcmread(io.BytesIO(data))
    frames = list(generate_frames(ds.PixelData, number_of_frames=1))
    ds.PixelData = encapsulate([change(frames[0])], has_bot=True)
    return ds


CORRUPTIONS = {
    "truncated": lambda b: b[: len(b) // 3],
    "header destroyed": lambda b: b"\x00" * 64 + b[64:],
    "emptied": lambda b: b"\0\0",
}


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
@pytest.mark.parametrize("target", ENCODED)
def test_a_corrupt_compressed_frame_is_refused_clearly(target: str, corruption: str) -> None:
    data = transcode(real_file("CT_small.dcm"), target)
    ds = _with_frame(data, CORRUPTIONS[corruption])
    with pytest.raises(InvalidInputError, match="frame 1"):
        decode_frame(ds, 1)


def test_a_frame_decoding_to_another_size_is_refused() -> None:
    """A bitstream of the wrong image (here 64x64 in a 128x128 instance) is not served."""
    small = pydicom.dcmread(io.BytesIO(transcode(real_file("MR_small.dcm"), JPEG_LS_LOSSLESS)))
    [foreign] = generate_frames(small.PixelData, number_of_frames=1)
    ds = _with_frame(transcode(real_file("CT_small.dcm"), JPEG_LS_LOSSLESS), lambda _: foreign)
    with pytest.raises(InvalidInputError, match="declares"):
        decode_frame(ds, 1)
