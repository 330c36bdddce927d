"""The sealed-blob envelope: round trips, and every kind of tampering is refused."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dicomvault.errors import IntegrityError
from dicomvault.storage.envelope import (
    HEADER_LEN,
    TAG_LEN,
    SealingWriter,
    open_bytes,
    open_sealed,
    seal_bytes,
)

SEGMENT = 64


def _seal(key: bytes, plaintext: bytes, segment: int = SEGMENT) -> bytes:
    out: list[bytes] = []
    writer = SealingWriter(key, out.append, segment_size=segment)
    writer.write(plaintext)
    writer.close()
    return b"".join(out)


def _chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)] or [b""]


@settings(max_examples=60, deadline=None)
@given(plaintext=st.binary(max_size=600), chunk=st.integers(min_value=1, max_value=200))
def test_round_trip_any_size_any_chunking(plaintext: bytes, chunk: int) -> None:
    key = os.urandom(32)
    blob = _seal(key, plaintext)
    assert b"".join(open_sealed(key, _chunks(blob, chunk))) == plaintext


def test_writer_reports_sha256_and_size() -> None:
    import hashlib

    out: list[bytes] = []
    writer = SealingWriter(os.urandom(32), out.append, segment_size=SEGMENT)
    writer.write(b"a" * 100)
    writer.write(b"b" * 100)
    assert writer.close() == hashlib.sha256(b"a" * 100 + b"b" * 100).hexdigest()
    assert writer.size == 200


def test_plaintext_does_not_appear_in_blob() -> None:
    secret = b"DOE^JANE-SECRET-NAME" * 10
    blob = _seal(os.urandom(32), secret)
    assert b"DOE^JANE" not in blob


@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_any_single_byte_flip_is_refused(data: st.DataObject) -> None:
    key = os.urandom(32)
    blob = bytearray(_seal(key, os.urandom(300)))
    position = data.draw(st.integers(min_value=0, max_value=len(blob) - 1))
    blob[position] ^= data.draw(st.integers(min_value=1, max_value=255))
    with pytest.raises(IntegrityError):
        b"".join(open_sealed(key, [bytes(blob)]))


def test_truncation_at_a_segment_boundary_is_refused() -> None:
    key = os.urandom(32)
    blob = _seal(key, os.urandom(SEGMENT * 3))
    segment_len = SEGMENT + TAG_LEN
    truncated = blob[: HEADER_LEN + 2 * segment_len]
    with pytest.raises(IntegrityError):
        b"".join(open_sealed(key, [truncated]))


def test_reordered_segments_are_refused() -> None:
    key = os.urandom(32)
    blob = _seal(key, os.urandom(SEGMENT * 3))
    seg = SEGMENT + TAG_LEN
    body = blob[HEADER_LEN:]
    swapped = blob[:HEADER_LEN] + body[seg : 2 * seg] + body[:seg] + body[2 * seg :]
    with pytest.raises(IntegrityError):
        b"".join(open_sealed(key, [swapped]))


def test_appended_bytes_are_refused() -> None:
    key = os.urandom(32)
    blob = _seal(key, os.urandom(SEGMENT * 2))
    with pytest.raises(IntegrityError):
        b"".join(open_sealed(key, [blob + blob[HEADER_LEN:]]))


def test_wrong_key_is_refused() -> None:
    blob = _seal(os.urandom(32), b"pixels")
    with pytest.raises(IntegrityError):
        b"".join(open_sealed(os.urandom(32), [blob]))


def test_sealed_small_values_round_trip_and_detect_tampering() -> None:
    key = os.urandom(32)
    sealed = seal_bytes(key, b"header bytes")
    assert open_bytes(key, sealed) == b"header bytes"
    tampered = bytearray(sealed)
    tampered[-1] ^= 1
    with pytest.raises(IntegrityError):
        open_bytes(key, bytes(tampered))
