"""Transport security of the HTTP server: HTTPS from settings, plain HTTP only on localhost.

``tls_certfile`` / ``tls_keyfile`` (PEM) turn HTTPS on (uvicorn's
``ssl_certfile`` / ``ssl_keyfile``; TLS 1.2+ as Python's default context).
Without them the server refuses to listen beyond the loopback interface,
unless ``allow_plain_http`` says a TLS-terminating proxy stands in front;
plain HTTP on localhost is allowed and said at start. HSTS is sent on every
HTTPS response (``hsts_seconds``, dicomweb/security_headers.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dicomvault.config import Settings
from dicomvault.errors import ConfigurationError

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True, slots=True)
class Transport:
    scheme: str
    uvicorn_options: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


def transport_for(settings: Settings) -> Transport:
    """The scheme, uvicorn's TLS options and the warnings to print at start."""
    if settings.tls_certfile is not None and settings.tls_keyfile is not None:
        for path in (settings.tls_certfile, settings.tls_keyfile):
            if not path.is_file():
                raise ConfigurationError(f"TLS file {path} does not exist")
        return Transport("https", {"ssl_certfile": str(settings.tls_certfile),
                                   "ssl_keyfile": str(settings.tls_keyfile)})
    if settings.host in LOOPBACK:
        return Transport("http", {}, (
            "serving plain HTTP on localhost only; set tls_certfile and tls_keyfile for HTTPS",))
    if settings.allow_plain_http:
        return Transport("http", {}, (
            f"serving plain HTTP on {settings.host}: allowed by allow_plain_http, so a "
            "TLS-terminating proxy must stand in front",))
    raise ConfigurationError(
        f"refusing to serve plain HTTP on {settings.host}: set tls_certfile and tls_keyfile, "
        "or allow_plain_http behind a TLS-terminating proxy")
