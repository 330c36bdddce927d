"""The streaming multipart/related parser and writer (RFC 2046 5.1, PS3.18 8.6.1.2)."""

from __future__ import annotations

import asyncio
import io
import itertools
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path

import pydicom
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydicom.data import get_testdata_file

from dicomvault.dicomweb.media import new_boundary
from dicomvault.dicomweb.multipart import (
    Framing,
    MultipartLimits,
    MultipartParser,
    Part,
    PartData,
    PartEnded,
    PartHeaders,
    PartStarted,
    amultipart_related_stream,
    iter_parts,
    multipart_related_length,
    multipart_related_stream,
    parse_multipart,
)
from dicomvault.errors import InvalidInputError, TooLargeError

Parsed = list[tuple[PartHeaders, bytes]]


def _split(body: bytes, cuts: Iterable[int]) -> list[bytes]:
    points = sorted({0, len(body), *(c % (len(body) + 1) for c in cuts)})
    return [body[a:b] for a, b in itertools.pairwise(points)]


def _feed(chunks: Iterable[bytes], boundary: bytes,
          limits: MultipartLimits | None = None) -> Parsed:
    """Parse with the push parser, checking the event order on the way."""
    parser = MultipartParser(boundary, limits)
    parts: Parsed = []
    data: list[bytes] = []
    open_part = False
    for chunk in chunks:
        for event in parser.feed(chunk):
            if isinstance(event, PartStarted):
                assert not open_part
                assert event.index == len(parts) + 1
                open_part, data = True, []
                parts.append((event.headers, b""))
            elif isinstance(event, PartData):
                assert open_part and event.data
                data.append(event.data)
            else:
                assert open_part
                joined = b"".join(data)
                assert event.size == len(joined)
                parts[-1] = (parts[-1][0], joined)
                open_part = False
    parser.close()
    assert parser.complete
    return parts


async def _aiter(chunks: Iterable[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        await asyncio.sleep(0)
        yield chunk


def _aparse(chunks: Iterable[bytes], boundary: bytes,
            limits: MultipartLimits | None = None) -> Parsed:
    async def run() -> Parsed:
        return [(part.headers, await part.read())
                async for part in iter_parts(_aiter(chunks), boundary, limits)]

    return asyncio.run(run())


def _body(parts: list[tuple[str, bytes]], boundary: str) -> bytes:
    return b"".join(multipart_related_stream(parts, boundary))


# -- round trips ------------------------------------------------------------------------

_boundaries = st.one_of(
    st.builds(new_boundary),
    st.text(alphabet="0123456789abcdefXYZ'()+_,-./:=?", min_size=1, max_size=70),
)
_tricky_bytes = st.sampled_from([b"\r\n", b"--", b"\r", b"\n", b"-", b"\r\n--", b"\x00", b"\xff"])


@st.composite
def _part_data(draw: st.DrawFn, boundary: str) -> bytes:
    pieces = draw(st.lists(st.one_of(
        st.binary(max_size=40), _tricky_bytes,
        st.just(boundary.encode()[: draw(st.integers(0, len(boundary)))]),
        st.just(b"--" + boundary.encode()),  # the boundary not preceded by CRLF is data
    ), max_size=12))
    return b"".join(pieces)


@st.composite
def _messages(draw: st.DrawFn) -> tuple[str, list[tuple[str, bytes, dict[str, str]]]]:
    boundary = draw(_boundaries)
    assume(not boundary.endswith(" "))
    parts = []
    for index in range(draw(st.integers(0, 4))):
        data = draw(_part_data(boundary))
        assume(b"\r\n--" + boundary.encode() not in data)
        content_type = draw(st.sampled_from([
            "application/dicom", "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1",
            'image/jp2; transfer-syntax="1.2.840.10008.1.2.4.90"']))
        extra = {"Content-Location": f"/frames/{index}"} if draw(st.booleans()) else {}
        parts.append((content_type, data, extra))
    return boundary, parts


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(message=_messages(), cuts=st.lists(st.integers(0, 10_000), max_size=30))
def test_writer_output_split_anywhere_parses_back_to_the_same_parts(
    message: tuple[str, list[tuple[str, bytes, dict[str, str]]]], cuts: list[int]
) -> None:
    boundary, parts = message
    body = b"".join(multipart_related_stream(parts, boundary))
    expected = [(content_type, data, extra.get("Content-Location"))
                for content_type, data, extra in parts]
    for parsed in (_feed(_split(body, cuts), boundary.encode()),
                   _aparse(_split(body, cuts), boundary.encode())):
        assert [(h.content_type, d, h.content_location) for h, d in parsed] == expected


def test_one_byte_chunks_parse_like_one_chunk() -> None:
    body = _body([("application/dicom", b"x\r\n-\r\n--" * 50), ("a/b", b"")], "bnd")
    assert _feed([body[i:i + 1] for i in range(len(body))], b"bnd") == _feed([body], b"bnd")


@pytest.mark.parametrize("names", [["CT_small.dcm"], ["CT_small.dcm", "MR_small.dcm",
                                                      "JPEG2000.dcm", "emri_small_RLE.dcm"]])
def test_real_dicom_files_survive_a_streamed_round_trip(names: list[str]) -> None:
    files = [Path(str(get_testdata_file(name))).read_bytes() for name in names]
    boundary = new_boundary()
    body = _body([("application/dicom", data) for data in files], boundary)
    chunks = [body[i:i + 4093] for i in range(0, len(body), 4093)]
    parsed = _aparse(chunks, boundary.encode())
    assert [data for _, data in parsed] == files
    for (headers, data), name in zip(parsed, names, strict=True):
        assert headers.content_type == "application/dicom"
        ds = pydicom.dcmread(io.BytesIO(data))
        assert ds.SOPInstanceUID == pydicom.dcmread(str(get_testdata_file(name))).SOPInstanceUID


def test_a_large_part_is_handed_on_in_bounded_slices() -> None:
    boundary = new_boundary()
    payload = bytes(range(256)) * 20_000  # 5 MB
    body = _body([("application/dicom", payload)], boundary)
    parser = MultipartParser(boundary.encode())
    chunk_size = 64 * 1024
    largest = 0
    received = 0
    for i in range(0, len(body), chunk_size):
        for event in parser.feed(body[i:i + chunk_size]):
            if isinstance(event, PartData):
                largest = max(largest, len(event.data))
                received += len(event.data)
    parser.close()
    assert received == len(payload)
    assert largest <= chunk_size + len(boundary) + 4


# -- what RFC 2046 allows -----------------------------------------------------------------


def test_preamble_epilogue_padding_and_headerless_parts_are_accepted() -> None:
    body = (b"This is the preamble.\r\n--b  \t\r\n\r\nno headers\r\n--b\r\n"
            b"Content-Type: application/dicom\r\nX-Folded: a\r\n  b\r\n\r\nabc\r\n--b--\r\n"
            b"epilogue that is ignored --b")
    [(first, one), (second, two)] = _feed([body], b"b")
    assert (first.fields, one) == ((), b"no headers")
    assert second.content_type == "application/dicom"
    assert second.get("x-folded") == "a b"
    assert two == b"abc"


def test_header_names_are_case_insensitive_and_content_length_is_checked() -> None:
    body = b"--b\r\ncontent-TYPE: application/dicom\r\nContent-Length: 3\r\n\r\nabc\r\n--b--"
    [(headers, data)] = parse_multipart(body, b"b")
    assert headers.get("Content-Type") == "application/dicom"
    assert headers.content_length == 3 and data == b"abc"


def test_a_body_without_parts_is_well_formed() -> None:
    assert parse_multipart(b"--b--\r\n", b"b") == []
    assert b"".join(multipart_related_stream([], "b")) == b"--b--\r\n"


# -- malformed bodies ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"--b\r\nContent-Type: a/b\r\n\r\ndata without end", "inside part 1"),
        (b"--b\r\nContent-Type: a/b\r\n\r\ndata\r\n--b", "inside a boundary delimiter"),
        (b"--b\r\nContent-Type: a/b\r\n", "inside the headers of part 1"),
        (b"--other\r\n\r\ndata\r\n--other--", "before any boundary"),
        (b"", "before any boundary"),
        (b"--b\r\nContent-Type: a/b\r\nno colon here\r\n\r\nx\r\n--b--", "Name: value"),
        (b"--b\r\nContent-Type : a/b\r\n\r\nx\r\n--b--", "Name: value"),
        (b"--bx\r\n\r\nx\r\n--b--", "followed by other text"),
        (b"--b\r\n\r\nx\r\n--bgarbage\r\n\r\ny\r\n--b--", "followed by other text"),
        (b"--b\r\nContent-Length: 5\r\n\r\nabc\r\n--b--", "Content-Length"),
        (b"--b\r\nContent-Length: x\r\n\r\nabc\r\n--b--", "Content-Length"),
    ],
)
def test_malformed_bodies_are_refused_with_a_reason(body: bytes, reason: str) -> None:
    for chunks in ([body], [body[i:i + 1] for i in range(len(body))]):
        with pytest.raises(InvalidInputError, match=reason):
            _feed(chunks, b"b")
        with pytest.raises(InvalidInputError, match=reason):
            _aparse(chunks, b"b")


def test_garbage_longer_than_the_preamble_limit_is_refused_early() -> None:
    parser = MultipartParser(b"b", MultipartLimits(max_preamble_bytes=100))
    with pytest.raises(InvalidInputError, match="first 100 bytes"):
        parser.feed(b"x" * 101)
    with pytest.raises(InvalidInputError, match="already found malformed"):
        parser.feed(b"--b--")


def test_unterminated_headers_are_refused_at_the_header_limit() -> None:
    parser = MultipartParser(b"b", MultipartLimits(max_header_bytes=64))
    parser.feed(b"--b\r\n")
    with pytest.raises(InvalidInputError, match="not ended by a blank line within 64"):
        parser.feed(b"DICM" + b"\x00" * 100)


def test_a_part_over_the_limit_is_refused_as_soon_as_it_is_exceeded() -> None:
    limits = MultipartLimits(max_part_bytes=1000)
    parser = MultipartParser(b"b", limits)
    parser.feed(b"--b\r\nContent-Type: application/dicom\r\n\r\n")
    parser.feed(b"x" * 900)
    with pytest.raises(TooLargeError, match="limit of 1000 bytes") as caught:
        for _ in range(100):
            parser.feed(b"x" * 100)
    assert caught.value.http_status == 413


def test_a_declared_content_length_over_the_limit_is_refused_before_the_data() -> None:
    parser = MultipartParser(b"b", MultipartLimits(max_part_bytes=10))
    with pytest.raises(TooLargeError):
        parser.feed(b"--b\r\nContent-Length: 11\r\n\r\n")


def test_too_many_parts_are_refused() -> None:
    body = _body([("a/b", b"x")] * 4, "b")
    assert len(parse_multipart(body, b"b", MultipartLimits(max_parts=4))) == 4
    with pytest.raises(TooLargeError, match="more than 3 parts"):
        parse_multipart(body, b"b", MultipartLimits(max_parts=3))


@pytest.mark.parametrize("boundary", [b"", b"x" * 71, b"bad\r\n", b"trailing ", b"semi;colon"])
def test_boundaries_that_rfc_2046_forbids_are_refused(boundary: bytes) -> None:
    with pytest.raises(InvalidInputError, match="boundary"):
        MultipartParser(boundary)


# -- the async reader ---------------------------------------------------------------------


def test_unread_part_data_is_skipped_and_a_part_reads_once() -> None:
    body = _body([("a/one", b"1" * 10_000), ("a/two", b"second"), ("a/three", b"3")], "bb")

    async def run() -> list[tuple[str | None, bytes]]:
        seen: list[tuple[str | None, bytes]] = []
        async for part in iter_parts(_aiter([body[i:i + 7] for i in range(0, len(body), 7)]),
                                     b"bb"):
            if part.index == 1:
                continue  # never read
            if part.index == 2:
                seen.append((part.content_type, await part.read()))
                with pytest.raises(RuntimeError):
                    await part.read()
            else:
                chunks = part.chunks()
                first = await anext(chunks)  # read partly, then abandon
                await chunks.aclose()
                seen.append((part.content_type, first))
        return seen

    assert asyncio.run(run()) == [("a/two", b"second"), ("a/three", b"3")]


def test_the_reader_stops_at_the_close_delimiter() -> None:
    pulled: list[bytes] = []

    async def source() -> AsyncIterator[bytes]:
        for chunk in (b"--b\r\n\r\nx\r\n--b--", b"epilogue", b"never needed"):
            pulled.append(chunk)
            yield chunk

    async def run() -> list[Part]:
        return [part async for part in iter_parts(source(), b"b")]

    assert len(asyncio.run(run())) == 1
    assert pulled == [b"--b\r\n\r\nx\r\n--b--"]


def test_a_truncated_stream_raises_from_the_part_being_read() -> None:
    body = _body([("application/dicom", b"a" * 1000)], "b")[:-20]

    async def run() -> None:
        async for part in iter_parts(_aiter([body]), b"b"):
            async for _ in part.chunks():
                pass

    with pytest.raises(InvalidInputError, match="inside part 1"):
        asyncio.run(run())


# -- the writer ---------------------------------------------------------------------------


def test_the_writer_streams_bodies_without_joining_them() -> None:
    big = [b"a" * 1000, b"b" * 1000]
    produced = list(multipart_related_stream([("application/dicom", iter(big))], "bnd"))
    assert big[0] in produced and big[1] in produced
    assert produced[0] == b"--bnd\r\nContent-Type: application/dicom\r\n\r\n"
    assert produced[-1] == b"\r\n--bnd--\r\n"


@given(st.lists(st.tuples(st.sampled_from(["application/dicom", "a/b; transfer-syntax=1.2"]),
                          st.binary(max_size=64)), max_size=5))
def test_the_announced_length_is_the_length_of_the_written_body(
        parts: list[tuple[str, bytes]]) -> None:
    written = b"".join(multipart_related_stream(parts, "bnd"))
    sizes = [(content_type, len(body)) for content_type, body in parts]
    assert multipart_related_length(sizes, "bnd") == len(written)


@given(st.lists(st.tuples(st.sampled_from(["application/dicom", "a/b; transfer-syntax=1.2"]),
                          st.binary(max_size=64)), max_size=5))
def test_a_framing_joined_with_its_parts_is_the_written_body(
        parts: list[tuple[str, bytes]]) -> None:
    """A door that puts each head into its part's own buffer sends the same bytes."""
    framing = Framing.of([content_type for content_type, _ in parts], "bnd")
    joined = b"".join(head + body for head, (_, body) in zip(framing.heads, parts, strict=True))
    assert joined + framing.closing == b"".join(multipart_related_stream(parts, "bnd"))
    assert framing.length(len(body) for _, body in parts) == len(joined + framing.closing)


def test_a_framing_refuses_a_bad_boundary_and_header_injection() -> None:
    with pytest.raises(InvalidInputError):
        Framing.of(["a/b"], "bad boundary ")
    with pytest.raises(ValueError, match="line break"):
        Framing.of(["a/b\r\nX-Evil: 1"], "bnd")


def test_async_writer_matches_the_sync_writer() -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b"ab"
        yield b""
        yield b"cd"

    async def parts() -> AsyncIterator[tuple[str, object]]:
        yield "a/b", body()
        yield "c/d", [b"x", b"y"]

    async def run() -> bytes:
        return b"".join([c async for c in amultipart_related_stream(
            parts(), "bnd")])  # type: ignore[arg-type]

    expected = _body([("a/b", b"abcd"), ("c/d", b"xy")], "bnd")
    assert asyncio.run(run()) == expected
    assert [d for _, d in parse_multipart(expected, b"bnd")] == [b"abcd", b"xy"]


def test_header_injection_is_refused() -> None:
    with pytest.raises(ValueError, match="line break"):
        list(multipart_related_stream([("a/b\r\nX-Evil: 1", b"")], "b"))
    with pytest.raises(ValueError, match="line break"):
        list(multipart_related_stream([("a/b", b"", {"X": "1\n2"})], "b"))


def test_writer_refuses_a_body_that_is_not_bytes() -> None:
    def parts() -> Iterator[tuple[str, object]]:
        yield "a/b", 42

    with pytest.raises(TypeError):
        list(multipart_related_stream(parts(), "b"))  # type: ignore[arg-type]


def test_events_have_the_part_size() -> None:
    parser = MultipartParser(b"b")
    events = parser.feed(b"--b\r\n\r\nhello\r\n--b--")
    assert events[-1] == PartEnded(5)


def test_part_data_is_handed_on_as_views_of_the_received_chunk() -> None:
    payload = bytes(range(256)) * 400
    body = _body([("application/dicom", payload)], "bnd")
    middle = 50_000
    first, second = body[:middle], body[middle:]
    parser = MultipartParser(b"bnd")
    events = parser.feed(first) + parser.feed(second)
    parser.close()
    data = [event.data for event in events if isinstance(event, PartData)]
    assert b"".join(data) == payload
    # Not copied: the large slices are views into the chunks the parser was given.
    large = [piece for piece in data if len(piece) > 1000]
    assert large and all(isinstance(piece, memoryview) and piece.obj in (first, second)
                         for piece in large)
