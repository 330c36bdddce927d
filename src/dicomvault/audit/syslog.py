"""RFC 5424 syslog messages over TLS (RFC 5425) or UDP (RFC 5426), as IHE ATNA sends them.

IHE ITI-20 "Record Audit Event" sends each DICOM audit message (PS3.15 A.5)
as the MSG of one RFC 5424 syslog message: facility 10 (authpriv),
``APP-NAME`` the application, ``MSGID`` ``IHE+RFC-3881``, no structured
data, and the XML as UTF-8 after a byte order mark (RFC 5424 6.4).

* ``tls://host:port``: a TLS connection (certificate of the collector
  verified against ``ca_file`` or the system's CAs; a client certificate for
  mutual authentication, which ATNA asks for), each message framed by
  octet counting, ``MSG-LEN SP SYSLOG-MSG`` (RFC 5425 4.3).
* ``udp://host:port``: one message per datagram (RFC 5426 3.1). Datagrams
  are not acknowledged: prefer TLS outside a trusted network.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from dicomvault.errors import ConfigurationError, OutOfResourcesError

AUTHPRIV = 10
NOTICE, WARNING = 5, 4
APP_NAME = "dicomvault"
MSGID = "IHE+RFC-3881"
_BOM = b"\xef\xbb\xbf"
_TIMEOUT_SECONDS = 10.0
_MAX_HOSTNAME = 255


def syslog_message(msg: bytes, *, severity: int, hostname: str, procid: str = "-",
                   timestamp: datetime | None = None) -> bytes:
    """One RFC 5424 message: ``<PRI>1 TIMESTAMP HOSTNAME APP PROCID MSGID - BOM MSG``."""
    when = (timestamp or datetime.now(UTC)).astimezone(UTC)
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    host = "".join(c for c in hostname if "!" <= c <= "~")[:_MAX_HOSTNAME] or "-"
    header = f"<{AUTHPRIV * 8 + severity}>1 {stamp} {host} {APP_NAME} {procid} {MSGID} - "
    return header.encode("ascii") + _BOM + msg


def octet_counted(message: bytes) -> bytes:
    """RFC 5425 4.3 framing: the length in decimal, a space, the message."""
    return str(len(message)).encode("ascii") + b" " + message


@dataclass(frozen=True, slots=True)
class SyslogTarget:
    """Where audit messages go: ``tls://host:port`` or ``udp://host:port``."""

    transport: str
    host: str
    port: int

    @classmethod
    def parse(cls, url: str) -> SyslogTarget:
        scheme, _, rest = url.partition("://")
        host, _, port = rest.rpartition(":")
        if scheme not in ("tls", "udp") or not host or not port.isdigit():
            raise ConfigurationError("audit syslog URL must be tls://host:port or udp://host:port")
        return cls(scheme, host.strip("[]"), int(port))


class SyslogSender:
    """Sends syslog messages to one collector; a TLS connection lasts one :meth:`send` call."""

    def __init__(self, url: str, *, ca_file: Path | None = None,
                 client_cert: Path | None = None, client_key: Path | None = None,
                 hostname: str | None = None) -> None:
        self.target = SyslogTarget.parse(url)
        self.hostname = hostname or socket.getfqdn()
        self._context: ssl.SSLContext | None = None
        if self.target.transport == "tls":
            context = ssl.create_default_context(
                cafile=str(ca_file) if ca_file is not None else None)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            if client_cert is not None:
                context.load_cert_chain(str(client_cert),
                                        str(client_key) if client_key is not None else None)
            self._context = context

    def send(self, messages: Iterable[tuple[bytes, int]]) -> int:
        """Send ``(msg, severity)`` pairs in order; how many were sent.

        Raises :class:`OutOfResourcesError` when the collector cannot be
        reached (the forwarder retries from where it stopped).
        """
        frames = [syslog_message(msg, severity=severity, hostname=self.hostname)
                  for msg, severity in messages]
        if not frames:
            return 0
        try:
            if self._context is None:
                self._send_udp(frames)
            else:
                self._send_tls(frames, self._context)
        except (OSError, ssl.SSLError) as exc:
            raise OutOfResourcesError(
                f"audit collector {self.target.host}:{self.target.port} unreachable: {exc}"
            ) from exc
        return len(frames)

    def _send_udp(self, frames: list[bytes]) -> None:
        address = socket.getaddrinfo(self.target.host, self.target.port, type=socket.SOCK_DGRAM)
        family, kind, proto, _, sockaddr = address[0]
        with socket.socket(family, kind, proto) as sock:
            for frame in frames:
                sock.sendto(frame, sockaddr)

    def _send_tls(self, frames: list[bytes], context: ssl.SSLContext) -> None:
        with socket.create_connection((self.target.host, self.target.port),
                                      timeout=_TIMEOUT_SECONDS) as raw:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with context.wrap_socket(raw, server_hostname=self.target.host) as tls:
                tls.sendall(b"".join(octet_counted(frame) for frame in frames))
