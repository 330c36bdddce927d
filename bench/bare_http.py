"""An HTTP server on dicomvault's stack that does no archive work: the ceiling of any door on it.

``python -m bench.ingest --floor`` runs it beside Orthanc on the same data to
show how fast uvicorn (httptools, uvloop: what ``dicomvault serve`` runs)
alone moves the benchmark's bodies on this machine:

* ``POST /dicom-web/studies`` reads the whole STOW-RS body and drops it; the
  first request's body is kept in memory, as received, to be served back.
  Nothing is parsed, hashed, encrypted, written, indexed or ledgered; the
  answer is an empty DICOM JSON object.
* ``GET /dicom-web/studies/{study}/series/{series}`` answers with the parts of
  that first body (the bench's first series) as ``multipart/related``, one
  write per part, from memory: no lookup, read, decryption or ledger event.
* Any other ``GET`` (the bench's QIDO-RS searches) answers an empty DICOM JSON
  array at once: the price of an HTTP round trip on this stack.

    python -m bench.bare_http --port 8099
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import AbstractContextManager
from typing import Any

import uvicorn

from bench.common import (
    REPO,
    RunningServer,
    dicomvault_node,
    free_port,
    orthanc_peer,
    wait_for_http,
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class BareHttp:
    """The raw ASGI application; see the module docstring."""

    def __init__(self) -> None:
        self._first_body: bytes | None = None
        self._first_type = b""
        self._parts: list[bytes] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["method"] == "POST":
            await self._stow(scope, receive, send)
        elif scope["path"] == "/healthz":
            await _answer(send, 200, b"text/plain", [b"ok"])
        elif scope["path"].rstrip("/").rpartition("/")[2] in ("studies", "series"):
            await _answer(send, 200, b"application/dicom+json", [b"[]"])
        else:
            await self._wado(send)

    async def _stow(self, scope: Scope, receive: Receive, send: Send) -> None:
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
            if self._first_body is None:
                chunks.append(message.get("body", b""))
        if self._first_body is None:
            self._first_body = b"".join(chunks)
            self._first_type = dict(scope["headers"]).get(b"content-type", b"")
        await _answer(send, 200, b"application/dicom+json", [b"{}"])

    async def _wado(self, send: Send) -> None:
        if self._parts is None:
            self._parts = self._split_first_body()
        await _answer(send, 200, b"multipart/related; type=\"application/dicom\"; boundary="
                      + self._boundary(), self._parts)

    def _boundary(self) -> bytes:
        return self._first_type.rpartition(b"boundary=")[2].strip(b'"')

    def _split_first_body(self) -> list[bytes]:
        """The first STOW-RS body cut after each part, closing delimiter last: its parts'
        bytes are sent as received, which is what a WADO-RS answer of them holds."""
        body, delimiter = self._first_body or b"", b"\r\n--" + self._boundary()
        cuts = [0]
        while (found := body.find(delimiter, cuts[-1] + 1)) != -1:
            cuts.append(found)
        cuts.append(len(body))
        return [body[start:end] for start, end in itertools.pairwise(cuts)]


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _answer(send: Send, status: int, content_type: bytes, chunks: list[bytes]) -> None:
    length = str(sum(len(chunk) for chunk in chunks)).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type), (b"content-length", length)]})
    for number, chunk in enumerate(chunks, start=1):
        await send({"type": "http.response.body", "body": chunk,
                    "more_body": number < len(chunks)})


@contextlib.contextmanager
def bare_http_node() -> Iterator[RunningServer]:
    """This server in a subprocess on a free port (what ``bench.ingest --floor`` measures)."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "bench.bare_http", "--port", str(port)],
                               cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    server = RunningServer(f"http://127.0.0.1:{port}/dicom-web", process, REPO, 0)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/healthz", process=process)
        yield server
    finally:
        server.stop()


def side_by_side_servers() -> dict[str, Callable[[], AbstractContextManager[RunningServer]]]:
    """The servers a side-by-side benchmark compares, by name: dicomvault (SQLite), this
    server, and Orthanc (``"orthanc"``, the peer the ratios are to)."""
    return {"dicomvault": dicomvault_node, "bare-uvicorn": bare_http_node,
            "orthanc": orthanc_peer}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(BareHttp(), host="127.0.0.1", port=args.port, log_level="warning",
                access_log=False, lifespan="on")


if __name__ == "__main__":
    main()
