"""The sealed-blob envelope: round trips, and every kind of tampering is refused."""

from __future__ import annotations

import hashlib
import itertools
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
    open_sealed_into,
    seal_bytes,
)

SEGMENT = 64


def _seal(key: bytes, plaintext: bytes, segment: int = SEGMENT, *,
          bind_content: bool = True) -> bytes:
    out: list[bytes] = []
    writer = SealingWriter(key, out.append, segment_size=segment, bind_content=bind_content)
    writer.write(plaintext)
    writer.close()
    return b"".join(out)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)] or [b""]


@settings(max_examples=60, deadline=None)
@given(plaintext=st.binary(max_size=600), chunk=st.integers(min_value=1, max_value=200))
def test_round_trip_any_size_any_chunking(plaintext: bytes, chunk: int) -> None:
    key = os.urandom(32)
    blob = _seal(key, plaintext)
    assert b"".join(open_sealed(key, _chunks(blob, chunk), content_sha256=_sha(plaintext))) \
        == plaintext
    unbound = _seal(key, plaintext, bind_content=False)
    assert b"".join(open_sealed(key, _chunks(unbound, chunk))) == plaintext


def test_writer_reports_sha256_and_size() -> None:
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
    plaintext = os.urandom(300)
    bound = data.draw(st.booleans())
    blob = bytearray(_seal(key, plaintext, bind_content=bound))
    position = data.draw(st.integers(min_value=0, max_value=len(blob) - 1))
    blob[position] ^= data.draw(st.integers(min_value=1, max_value=255))
    with pytest.raises(IntegrityError):  # the magic included: DVB2 <-> DVB1 is refused too
        b"".join(open_sealed(key, [bytes(blob)], content_sha256=_sha(plaintext)))


def test_truncation_at_a_segment_boundary_is_refused() -> None:
    key = os.urandom(32)
    plaintext = os.urandom(SEGMENT * 3)
    blob = _seal(key, plaintext)
    segment_len = SEGMENT + TAG_LEN
    truncated = blob[: HEADER_LEN + 2 * segment_len]
    with pytest.raises(IntegrityError):
        b"".join(open_sealed(key, [truncated], content_sha256=_sha(plaintext)))


def test_reordered_segments_are_refused() -> None:
    key = os.urandom(32)
    plaintext = os.urandom(SEGMENT * 3)
    blob = _seal(key, plaintext)
    seg = SEGMENT + TAG_LEN
    body = blob[HEADER_LEN:]
    swapped = blob[:HEADER_LEN] + body[seg : 2 * seg] + body[:seg] + body[2 * seg :]
    with pytest.raises(IntegrityError):
        b"".join(open_sealed(key, [swapped], content_sha256=_sha(plaintext)))


def test_appended_bytes_are_refused() -> None:
    key = os.urandom(32)
    plaintext = os.urandom(SEGMENT * 2)
    blob = _seal(key, plaintext)
    with pytest.raises(IntegrityError):
        b"".join(open_sealed(key, [blob + blob[HEADER_LEN:]], content_sha256=_sha(plaintext)))


def test_wrong_key_is_refused() -> None:
    blob = _seal(os.urandom(32), b"pixels")
    with pytest.raises(IntegrityError):
        b"".join(open_sealed(os.urandom(32), [blob], content_sha256=_sha(b"pixels")))


@pytest.mark.parametrize("size", [10, SEGMENT * 3 + 5])
def test_a_bound_blob_opens_only_as_the_content_it_was_sealed_from(size: int) -> None:
    key = os.urandom(32)
    plaintext = os.urandom(size)
    blob = _seal(key, plaintext)
    assert blob[:4] == b"DVB2"
    with pytest.raises(IntegrityError, match="recorded content"):
        list(open_sealed(key, [blob]))  # no hash to open it as: refused, nothing released
    other = _sha(plaintext + b"x")
    released = []
    with pytest.raises(IntegrityError):
        for segment in open_sealed(key, [blob], content_sha256=other):
            released.append(segment)
    assert b"".join(released) != plaintext  # the last segment never comes out


def test_a_blob_put_in_place_of_another_is_refused_even_under_the_same_key() -> None:
    """What the index says (key, content hash) decides what a blob may be opened as:
    another instance's blob is refused by its key and, were a key ever shared, by
    the content hash its last tag is bound to."""
    key = os.urandom(32)
    mine, theirs = os.urandom(200), os.urandom(200)
    their_blob = _seal(key, theirs)
    with pytest.raises(IntegrityError):
        b"".join(open_sealed(key, [their_blob], content_sha256=_sha(mine)))
    with pytest.raises(IntegrityError):
        b"".join(open_sealed(os.urandom(32), [_seal(os.urandom(32), mine)],
                             content_sha256=_sha(mine)))


def test_an_unbound_blob_opened_as_a_content_is_hashed_and_checked() -> None:
    key = os.urandom(32)
    plaintext = os.urandom(SEGMENT * 2 + 3)
    blob = _seal(key, plaintext, bind_content=False)
    assert blob[:4] == b"DVB1"
    assert b"".join(open_sealed(key, [blob], content_sha256=_sha(plaintext))) == plaintext
    with pytest.raises(IntegrityError, match="hash recorded at ingest"):
        b"".join(open_sealed(key, [blob], content_sha256=_sha(b"something else")))


def test_sealed_small_values_round_trip_and_detect_tampering() -> None:
    key = os.urandom(32)
    sealed = seal_bytes(key, b"header bytes")
    assert open_bytes(key, sealed) == b"header bytes"
    tampered = bytearray(sealed)
    tampered[-1] ^= 1
    with pytest.raises(IntegrityError):
        open_bytes(key, bytes(tampered))


# -- open_sealed_into: a whole blob decrypted in place, after a door's framing ---------


def _opened(key: bytes, blob: bytes, sha: str) -> bytes | None:
    """What open_sealed releases in all, or None when it refuses the blob (the oracle)."""
    try:
        return b"".join(open_sealed(key, [blob], content_sha256=sha))
    except IntegrityError:
        return None


def _into(key: bytes, blob: bytes, size: int, sha: str, lead: bytes = b"") -> bytes:
    """``lead`` then the blob opened into the rest of one buffer, as a door frames a part."""
    buffer = bytearray(len(lead) + size)
    buffer[:len(lead)] = lead
    open_sealed_into(key, blob, memoryview(buffer)[len(lead):], content_sha256=sha)
    return bytes(buffer)


@settings(max_examples=60, deadline=None)
@given(plaintext=st.binary(max_size=600), lead=st.binary(max_size=40), bound=st.booleans())
def test_into_a_buffer_after_a_lead_round_trips(plaintext: bytes, lead: bytes,
                                                bound: bool) -> None:
    key = os.urandom(32)
    blob = _seal(key, plaintext, bind_content=bound)
    assert _into(key, blob, len(plaintext), _sha(plaintext), lead) == lead + plaintext


@settings(max_examples=120, deadline=None)
@given(data=st.data())
def test_into_refuses_exactly_what_the_streaming_reader_refuses(data: st.DataObject) -> None:
    """Cut anywhere, a byte flipped or bytes appended: refused, as the streaming reader
    refuses it, bound or not."""
    key = os.urandom(32)
    plaintext = os.urandom(data.draw(st.integers(min_value=0, max_value=SEGMENT * 4)))
    blob = bytearray(_seal(key, plaintext, bind_content=data.draw(st.booleans())))
    change = data.draw(st.sampled_from(["cut", "flip", "append"]))
    if change == "cut":
        del blob[data.draw(st.integers(min_value=0, max_value=len(blob) - 1)):]
    elif change == "flip":
        blob[data.draw(st.integers(min_value=0, max_value=len(blob) - 1))] ^= 0x5A
    else:
        blob += data.draw(st.binary(min_size=1, max_size=SEGMENT + TAG_LEN + 1))
    sha = _sha(plaintext)
    assert _opened(key, bytes(blob), sha) is None
    with pytest.raises(IntegrityError):
        _into(key, bytes(blob), len(plaintext), sha, b"--")


def test_into_opens_a_blob_only_as_its_recorded_content_and_size() -> None:
    key = os.urandom(32)
    plaintext = os.urandom(SEGMENT * 3 + 5)
    blob = _seal(key, plaintext)
    with pytest.raises(IntegrityError):
        _into(key, blob, len(plaintext), _sha(plaintext + b"x"))
    with pytest.raises(IntegrityError):
        _into(os.urandom(32), blob, len(plaintext), _sha(plaintext))
    with pytest.raises(IntegrityError, match="size recorded"):
        _into(key, blob, len(plaintext) + 1, _sha(plaintext))
    unbound = _seal(key, plaintext, bind_content=False)
    with pytest.raises(IntegrityError, match="hash recorded at ingest"):
        _into(key, unbound, len(plaintext), _sha(b"something else"))


@settings(max_examples=60, deadline=None)
@given(plaintext=st.binary(max_size=600), cuts=st.lists(st.integers(0, 600), max_size=8),
       mutable=st.booleans())
def test_pieces_written_in_any_split_seal_like_one_write(
        plaintext: bytes, cuts: list[int], mutable: bool) -> None:
    """The writer keeps what it is given by reference only when it cannot change: a
    caller reusing its buffer (bytearray) after the call leaves the blob intact."""
    key = os.urandom(32)
    out: list[bytes] = []
    writer = SealingWriter(key, out.append, segment_size=SEGMENT)
    points = sorted({0, len(plaintext), *(c % (len(plaintext) + 1) for c in cuts)})
    for start, stop in itertools.pairwise(points):
        piece: bytes = plaintext[start:stop]
        if mutable:
            buffer = bytearray(piece)
            writer.write(buffer)  # type: ignore[arg-type]  # callers may pass a buffer
            buffer[:] = b"\0" * len(buffer)
        else:
            writer.write(piece)
    assert writer.close() == _sha(plaintext)
    assert b"".join(open_sealed(key, [b"".join(out)], content_sha256=_sha(plaintext))) \
        == plaintext
