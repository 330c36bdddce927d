"""Streaming ``multipart/related`` bodies: STOW-RS requests in, WADO-RS responses out.

PS3.18 8.6.1.2 carries DICOM instances, frames and bulk data as
``multipart/related`` (RFC 2387) in the framing of RFC 2046 5.1::

    [preamble CRLF] --boundary [LWSP] CRLF  headers CRLF CRLF  data
    CRLF --boundary [LWSP] CRLF  headers CRLF CRLF  data
    CRLF --boundary-- [epilogue]

**Parsing without holding a part in memory.** :class:`MultipartParser` is a
push parser: ``feed(chunk)`` returns the events that chunk completes
(:class:`PartStarted` with the part's headers, :class:`PartData` slices,
:class:`PartEnded`); ``close()`` checks the body ended properly. Inside a
part it searches the chunk itself for ``CRLF--boundary`` with ``bytes.find``
(C speed) and hands on views of it (:class:`PartData` holds a
``memoryview``, not a copy), except the last ``len(delimiter) - 1`` bytes,
which may be the start of a delimiter split across two chunks: it keeps just
those and checks them against the start of the next chunk. Part data is
therefore searched once and never copied; memory is bounded by the chunk
size plus 73 bytes, whatever the size of a part. The framing (preamble,
delimiter lines, header blocks) goes through a buffer, fed a slice of the
chunk at a time so that the part data after it does not; it is searched from
where the previous search stopped, so even one-byte chunks stay linear, and
capped by :class:`MultipartLimits` (as are the part size and the number of
parts).

:func:`iter_parts` wraps the parser for an ASGI body: it yields :class:`Part`
objects whose ``chunks()`` pull the request stream on demand, so a 2 GB part
flows straight into an encrypting writer. Data a consumer leaves unread is
skipped before the next part is yielded.

**Writing.** :func:`multipart_related_stream` (sync, for generators that do
blocking I/O in Starlette's thread pool) and
:func:`amultipart_related_stream` (async) frame parts whose bodies are bytes
or iterables of chunks, without joining them. The boundary from
:func:`~dicomvault.dicomweb.media.new_boundary` is random enough (128 bits)
that no data is scanned for it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Iterable,
    Iterator,
    Mapping,
)
from dataclasses import dataclass

from dicomvault.dicomweb.media import new_boundary
from dicomvault.errors import InvalidInputError, TooLargeError

CRLF = b"\r\n"
_BCHARS = frozenset(b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'()+_,-./:=? ")
_MAX_PADDING = 256  # transport padding (LWSP) tolerated after a delimiter
_FRAMING_SLICE = 1024  # bytes of a chunk put in the framing buffer at a time


@dataclass(frozen=True, slots=True)
class MultipartLimits:
    """Limits enforced while parsing; exceeding one raises at once.

    ``max_part_bytes`` and ``max_parts`` raise TooLargeError (413);
    over-long headers or preamble mean a malformed body (InvalidInputError).
    """

    max_part_bytes: int = 4 * 1024**3
    max_header_bytes: int = 16 * 1024
    max_parts: int = 100_000
    max_preamble_bytes: int = 16 * 1024


@dataclass(frozen=True, slots=True)
class PartHeaders:
    """The MIME headers of one part, names lower-cased, in the order sent."""

    fields: tuple[tuple[str, str], ...] = ()

    def get(self, name: str) -> str | None:
        wanted = name.lower()
        return next((value for key, value in self.fields if key == wanted), None)

    @property
    def content_type(self) -> str | None:
        return self.get("content-type")

    @property
    def content_location(self) -> str | None:
        return self.get("content-location")

    @property
    def content_length(self) -> int | None:
        value = self.get("content-length")
        return int(value) if value is not None else None


@dataclass(frozen=True, slots=True)
class PartStarted:
    headers: PartHeaders
    index: int  # 1-based position of the part in the body


@dataclass(frozen=True, slots=True)
class PartData:
    #: A slice of the received chunk: a view into it, not a copy (join or hash it as is).
    data: bytes | memoryview


@dataclass(frozen=True, slots=True)
class PartEnded:
    size: int


Event = PartStarted | PartData | PartEnded


def check_boundary(boundary: bytes) -> None:
    """RFC 2046 5.1.1: 1 to 70 characters from ``bchars``, not ending in a space."""
    if not 1 <= len(boundary) <= 70 or boundary.endswith(b" ") or not set(boundary) <= _BCHARS:
        raise InvalidInputError("multipart boundary must be 1-70 characters allowed by RFC 2046")


def _parse_headers(block: bytes, index: int, limits: MultipartLimits) -> PartHeaders:
    fields: list[tuple[str, str]] = []
    for line in block.decode("latin-1").split("\r\n") if block else ():
        if line[:1] in (" ", "\t") and fields:  # obsolete line folding (RFC 5322 2.2.3)
            name, value = fields[-1]
            fields[-1] = (name, f"{value} {line.strip()}")
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip() or name != name.rstrip():
            raise InvalidInputError(f"part {index} has a header line that is not 'Name: value'")
        fields.append((name.strip().lower(), value.strip()))
    headers = PartHeaders(tuple(fields))
    length = headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise InvalidInputError(f"part {index} has an invalid Content-Length")
        if int(length) > limits.max_part_bytes:
            raise TooLargeError(
                f"part {index} is larger than the limit of {limits.max_part_bytes} bytes")
    return headers


class MultipartParser:
    """Incremental RFC 2046 multipart parser; see the module docstring for the design.

    >>> parser = MultipartParser(b"b")
    >>> events = parser.feed(b"--b\\r\\nContent-Type: x\\r\\n\\r\\nhi\\r\\n--b--")
    >>> [type(e).__name__ for e in events]
    ['PartStarted', 'PartData', 'PartEnded']
    """

    _PREAMBLE, _DELIMITER, _HEADERS, _BODY, _DONE, _FAILED = range(6)

    def __init__(self, boundary: bytes, limits: MultipartLimits | None = None) -> None:
        check_boundary(boundary)
        self._limits = limits or MultipartLimits()
        self._dash_boundary = b"--" + boundary
        self._delimiter = CRLF + self._dash_boundary
        self._buffer = bytearray()  # framing (preamble, delimiters, headers) not yet parsed
        self._held = b""  # part data held back: it may be the start of a delimiter
        self._state = self._PREAMBLE
        self._scan_from = 0  # where the next search of a preamble or header block starts
        self._parts = 0
        self._part_size = 0
        self._declared: int | None = None

    @property
    def complete(self) -> bool:
        """True once the close delimiter has been seen; later bytes are epilogue."""
        return self._state == self._DONE

    @property
    def parts(self) -> int:
        return self._parts

    def feed(self, chunk: bytes) -> list[Event]:
        """Consume ``chunk``; return the events it completes, in order."""
        if self._state == self._FAILED:
            raise InvalidInputError("multipart body already found malformed")
        if self._state == self._DONE:
            return []
        events: list[Event] = []
        try:
            self._consume(chunk if isinstance(chunk, bytes) else bytes(chunk), events)
        except InvalidInputError:
            self._state = self._FAILED
            raise
        return events

    def close(self) -> None:
        """Signal the end of the body; raise if it ended before the close delimiter."""
        if self._state == self._DONE:
            return
        where = {
            self._PREAMBLE: "before any boundary delimiter (is the boundary right?)",
            self._DELIMITER: "inside a boundary delimiter line",
            self._HEADERS: f"inside the headers of part {self._parts}",
            self._BODY: f"inside part {self._parts}",
        }.get(self._state, "after an error")
        self._state = self._FAILED
        raise InvalidInputError(
            f"multipart body ended {where}, without the closing delimiter '--boundary--'")

    # -- one state transition per call; True when it consumed something ------------------

    def _consume(self, data: bytes, events: list[Event]) -> None:
        """Parse ``data``: part data straight from it, delimiters and headers through the
        buffer (see the module docstring)."""
        position = 0
        while position < len(data) and self._state != self._DONE:
            if self._state == self._BODY:
                position = self._body(data, position, events)
                continue
            # Framing is small: it goes through the buffer a slice at a time, so that the
            # part data after it is not copied there too.
            end = min(len(data), position + _FRAMING_SLICE)
            self._buffer += memoryview(data)[position:end]
            while self._state not in (self._BODY, self._DONE) and self._step(events):
                pass
            if self._state != self._BODY:
                position = end
                continue
            # The part's data begins in the slice just appended: go on in ``data`` itself.
            body_start = end - len(self._buffer)
            self._buffer.clear()
            position = body_start

    def _step(self, events: list[Event]) -> bool:
        if self._state == self._HEADERS:
            return self._headers(events)
        if self._state == self._DELIMITER:
            return self._after_delimiter()
        if self._state == self._PREAMBLE:
            return self._preamble()
        return False

    def _preamble(self) -> bool:
        buf = self._buffer
        if buf.startswith(self._dash_boundary):  # no preamble at all
            position = 0
        else:
            found = buf.find(self._delimiter, self._scan_from)
            if found < 0:
                if self._dash_boundary.startswith(bytes(buf)):
                    return False  # the very first bytes may still become the boundary
                if len(buf) > self._limits.max_preamble_bytes:
                    raise InvalidInputError(
                        f"no multipart boundary delimiter within the first "
                        f"{self._limits.max_preamble_bytes} bytes (is the boundary right?)")
                self._scan_from = max(0, len(buf) - len(self._delimiter) + 1)
                return False
            position = found + len(CRLF)
        if position > self._limits.max_preamble_bytes:
            raise InvalidInputError("multipart preamble is longer than allowed")
        del buf[: position + len(self._dash_boundary)]
        self._state = self._DELIMITER
        return True

    def _after_delimiter(self) -> bool:
        buf = self._buffer
        if len(buf) < 2:
            return False
        if buf.startswith(b"--"):
            self._state = self._DONE
            buf.clear()
            return False
        end = buf.find(CRLF, 0, _MAX_PADDING + 2)
        if end < 0:
            if len(buf) > _MAX_PADDING + 1:
                raise InvalidInputError("multipart boundary delimiter is followed by other text")
            return False
        if bytes(buf[:end]).strip(b" \t"):
            raise InvalidInputError(
                "multipart boundary delimiter is followed by other text (boundary inside data?)")
        del buf[: end + 2]
        self._parts += 1
        if self._parts > self._limits.max_parts:
            raise TooLargeError(f"multipart body has more than {self._limits.max_parts} parts")
        self._state = self._HEADERS
        self._scan_from = 0
        return True

    def _headers(self, events: list[Event]) -> bool:
        buf = self._buffer
        if len(buf) < 2:
            return False
        if buf.startswith(CRLF):
            block, skip = b"", 2  # no headers at all: RFC 2046 allows it
        else:
            end = buf.find(CRLF * 2, self._scan_from)
            if end < 0:
                if len(buf) > self._limits.max_header_bytes:
                    raise InvalidInputError(
                        f"headers of part {self._parts} are not ended by a blank line within "
                        f"{self._limits.max_header_bytes} bytes")
                self._scan_from = max(0, len(buf) - 3)
                return False
            if end > self._limits.max_header_bytes:
                raise InvalidInputError(
                    f"headers of part {self._parts} exceed {self._limits.max_header_bytes} bytes")
            block, skip = bytes(buf[:end]), end + 4
        headers = _parse_headers(block, self._parts, self._limits)
        del buf[:skip]
        self._declared = headers.content_length
        self._part_size = 0
        self._state = self._BODY
        events.append(PartStarted(headers, self._parts))
        return True

    def _emit(self, events: list[Event], data: bytes | memoryview) -> None:
        if not data:
            return
        self._part_size += len(data)
        if self._part_size > self._limits.max_part_bytes:
            raise TooLargeError(
                f"part {self._parts} is larger than the limit of "
                f"{self._limits.max_part_bytes} bytes")
        events.append(PartData(data))

    def _end_part(self, events: list[Event]) -> None:
        self._held = b""
        if self._declared is not None and self._declared != self._part_size:
            raise InvalidInputError(
                f"part {self._parts} has {self._part_size} bytes but its Content-Length "
                f"says {self._declared}")
        events.append(PartEnded(self._part_size))
        self._state = self._DELIMITER

    def _body(self, data: bytes, position: int, events: list[Event]) -> int:
        """Hand on part data from ``data[position:]``; where the part's framing resumes
        (``len(data)`` if the part goes on in the next chunk)."""
        delimiter = self._delimiter
        if self._held:  # a delimiter may start in the bytes held back from the last chunk
            held = self._held
            probe = held + data[position:position + len(delimiter) - 1]
            found = probe.find(delimiter)
            if found >= 0:
                self._emit(events, probe[:found])
                self._end_part(events)
                return position + found + len(delimiter) - len(held)
            if len(probe) < len(held) + len(delimiter) - 1:  # all of data is in the probe
                keep = max(0, len(probe) - len(delimiter) + 1)
                self._emit(events, probe[:keep])
                self._held = probe[keep:]
                return len(data)
            self._emit(events, held)
            self._held = b""
        found = data.find(delimiter, position)
        if found >= 0:
            self._emit(events, memoryview(data)[position:found])
            self._end_part(events)
            return found + len(delimiter)
        # Everything but what may be the start of a delimiter split across two chunks.
        end = max(position, len(data) - len(delimiter) + 1)
        self._emit(events, data if (position, end) == (0, len(data)) else
                   memoryview(data)[position:end])
        self._held = data[end:]
        return len(data)


def parse_multipart(body: bytes, boundary: bytes,
                    limits: MultipartLimits | None = None) -> list[tuple[PartHeaders, bytes]]:
    """Parse a whole body held in memory (small responses, tests)."""
    parser = MultipartParser(boundary, limits)
    parts: list[tuple[PartHeaders, bytes]] = []
    chunks: list[bytes | memoryview] = []
    for event in parser.feed(body):
        if isinstance(event, PartStarted):
            parts.append((event.headers, b""))
            chunks = []
        elif isinstance(event, PartData):
            chunks.append(event.data)
        else:
            parts[-1] = (parts[-1][0], b"".join(chunks))
    parser.close()
    return parts


# -- async reading ------------------------------------------------------------------------


class _EventSource:
    """Pulls chunks from the request only when the consumer wants the next event."""

    def __init__(self, chunks: AsyncIterable[bytes], parser: MultipartParser) -> None:
        self._chunks = chunks.__aiter__()
        self._parser = parser
        self._events: deque[Event] = deque()

    async def next_event(self) -> Event | None:
        while not self._events:
            if self._parser.complete:
                return None  # the epilogue is not read
            try:
                chunk = await anext(self._chunks)
            except StopAsyncIteration:
                self._parser.close()  # raises: the body ended early
                return None
            self._events.extend(self._parser.feed(chunk))
        return self._events.popleft()


class Part:
    """One part of a streamed multipart body; its data is read once, in order."""

    def __init__(self, started: PartStarted, source: _EventSource) -> None:
        self.headers = started.headers
        self.index = started.index
        self._source = source
        self._reading = False
        self._ended = False

    @property
    def content_type(self) -> str | None:
        return self.headers.content_type

    @property
    def content_location(self) -> str | None:
        return self.headers.content_location

    @property
    def content_length(self) -> int | None:
        return self.headers.content_length

    async def chunks(self) -> AsyncGenerator[bytes | memoryview, None]:
        """The part's data in the slices the request delivered (never joined): views into
        the received chunks, valid as long as they are referenced."""
        if self._reading:
            raise RuntimeError("a part's data can be read only once")
        self._reading = True
        while not self._ended:
            event = await self._source.next_event()
            if isinstance(event, PartData):
                yield event.data
            else:
                self._ended = True

    async def read(self) -> bytes:
        """The whole part; only for parts known to be small (limits still apply)."""
        return b"".join([chunk async for chunk in self.chunks()])

    async def skip(self) -> None:
        """Discard whatever of the part's data has not been read."""
        while not self._ended:
            event = await self._source.next_event()
            self._ended = not isinstance(event, PartData)


async def iter_parts(receive_chunks: AsyncIterable[bytes], boundary: bytes,
                     limits: MultipartLimits | None = None) -> AsyncIterator[Part]:
    """Yield the parts of a streamed ``multipart/related`` body (PS3.18 8.6.1.2).

    Raises InvalidInputError for a malformed body and TooLargeError past a
    limit, at the point of the stream where the problem shows.
    """
    source = _EventSource(receive_chunks, MultipartParser(boundary, limits))
    while (event := await source.next_event()) is not None:
        if isinstance(event, PartStarted):
            part = Part(event, source)
            yield part
            await part.skip()


# -- writing ------------------------------------------------------------------------------

Body = bytes | Iterable[bytes]
AsyncBody = bytes | Iterable[bytes] | AsyncIterable[bytes]
PartSpec = tuple[str, Body] | tuple[str, Body, Mapping[str, str]]
AsyncPartSpec = tuple[str, AsyncBody] | tuple[str, AsyncBody, Mapping[str, str]]


def _part_head(index: int, boundary: bytes, content_type: str,
               extra: Mapping[str, str]) -> bytes:
    lines = [f"Content-Type: {content_type}", *(f"{k}: {v}" for k, v in extra.items())]
    if any(c in line for line in lines for c in "\r\n\0"):
        raise ValueError("multipart part header contains a line break")
    opening = (CRLF if index else b"") + b"--" + boundary + CRLF
    return opening + "".join(f"{line}\r\n" for line in lines).encode("latin-1") + CRLF


def _closing(parts: int, boundary: bytes) -> bytes:
    return (CRLF if parts else b"") + b"--" + boundary + b"--" + CRLF


@dataclass(frozen=True, slots=True)
class Framing:
    """The bytes around the parts of a body whose parts are known up front: before each
    part its delimiter and headers (``heads``), after the last the close delimiter.

    The same bytes :func:`multipart_related_stream` writes; a door that makes each
    part's bytes itself puts its head into the same buffer, so each part is one send.
    """

    heads: tuple[bytes, ...]
    closing: bytes

    @classmethod
    def of(cls, content_types: Iterable[str], boundary: str) -> Framing:
        """The framing of parts of these content types (no extra headers)."""
        raw = boundary.encode("ascii")
        check_boundary(raw)
        heads = tuple(_part_head(index, raw, content_type, {})
                      for index, content_type in enumerate(content_types))
        return cls(heads, _closing(len(heads), raw))

    def length(self, sizes: Iterable[int]) -> int:
        """The body's length given each part's size, in order."""
        return sum(len(head) for head in self.heads) + sum(sizes) + len(self.closing)


def multipart_related_length(parts: Iterable[tuple[str, int]], boundary: str) -> int:
    """The length of the body :func:`multipart_related_stream` frames from parts of
    ``(content_type, body size)`` with no extra headers: the response's Content-Length
    when every size is known beforehand (the client then reads the body as it is,
    without chunked framing, and the server sends each part without re-framing it)."""
    known = list(parts)
    return Framing.of((content_type for content_type, _ in known), boundary).length(
        size for _, size in known)


def _spec(spec: PartSpec | AsyncPartSpec) -> tuple[str, AsyncBody, Mapping[str, str]]:
    if len(spec) == 3:
        return spec[0], spec[1], spec[2]
    return spec[0], spec[1], {}


def multipart_related_stream(parts: Iterable[PartSpec], boundary: str) -> Iterator[bytes]:
    """Frame ``(content_type, body[, extra_headers])`` parts as one body, lazily."""
    raw = boundary.encode("ascii")
    check_boundary(raw)
    count = 0
    for spec in parts:
        content_type, body, extra = _spec(spec)
        yield _part_head(count, raw, content_type, extra)
        if isinstance(body, bytes):
            yield body
        elif isinstance(body, Iterable):
            yield from (chunk for chunk in body if chunk)
        else:
            raise TypeError("a part body must be bytes or an iterable of bytes")
        count += 1
    yield _closing(count, raw)


async def amultipart_related_stream(
    parts: Iterable[AsyncPartSpec] | AsyncIterable[AsyncPartSpec], boundary: str
) -> AsyncIterator[bytes]:
    """As :func:`multipart_related_stream`, for async parts or async part bodies."""
    raw = boundary.encode("ascii")
    check_boundary(raw)

    async def each() -> AsyncIterator[AsyncPartSpec]:
        if isinstance(parts, AsyncIterable):
            async for spec in parts:
                yield spec
        else:
            for spec in parts:
                yield spec

    count = 0
    async for spec in each():
        content_type, body, extra = _spec(spec)
        yield _part_head(count, raw, content_type, extra)
        if isinstance(body, bytes):
            yield body
        elif isinstance(body, AsyncIterable):
            async for chunk in body:
                if chunk:
                    yield chunk
        else:
            for chunk in body:
                if chunk:
                    yield chunk
        count += 1
    yield _closing(count, raw)


__all__ = [
    "Event", "Framing", "MultipartLimits", "MultipartParser", "Part", "PartData", "PartEnded",
    "PartHeaders", "PartStarted", "amultipart_related_stream", "check_boundary", "iter_parts",
    "multipart_related_length", "multipart_related_stream", "new_boundary", "parse_multipart",
]
