"""Running the ASGI app of an Archive on a real socket, in a thread of the test process."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import uvicorn

from dicomvault.access.transport import transport_for
from dicomvault.archive import Archive
from dicomvault.server import create_http_app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serving(archive: Archive) -> Iterator[str]:
    """Serve ``archive`` on a free port, with the transport its settings ask for (HTTPS
    when ``tls_certfile``/``tls_keyfile`` are set); yields the base URL (no trailing /)."""
    port = free_port()
    transport = transport_for(archive.settings)
    config = uvicorn.Config(create_http_app(archive), host="127.0.0.1", port=port,
                            log_level="warning", access_log=False, lifespan="off",
                            **transport.uvicorn_options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    try:
        yield f"{transport.scheme}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def http_status(url: str) -> int:
    """The status of a GET of ``url`` without credentials; 0 when nothing answers."""
    try:
        return httpx.get(url, timeout=5).status_code
    except httpx.HTTPError:
        return 0


def wait_until(condition: Callable[[], bool], what: str, seconds: float = 90) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
