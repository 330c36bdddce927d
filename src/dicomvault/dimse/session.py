"""Who is on the other end of an association: the RequestContext of every DIMSE request.

The actor is the calling AE title. Over plain TCP the access policy maps it
to roles through ``dimse_ae_roles`` (``*``: any other AE title; without
``*`` only the listed AE titles may associate at all, see
:mod:`dicomvault.dimse.server`). Over DICOM TLS the peer proved who it is
with a client certificate signed by ``dimse_tls_ca_file``: the principal is
then the certificate's subject common name with the roles
``dimse_tls_cert_roles`` gives it (none: every operation refused), whatever
AE title it calls with (:mod:`dicomvault.dimse.transport`).
"""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Mapping, Sequence

from pynetdicom.association import Association
from pynetdicom.events import Event

from dicomvault.access import Door, Principal, PrincipalKind, RequestContext
from dicomvault.access.roles import parse_roles
from dicomvault.dimse.transport import certificate_name

log = logging.getLogger(__name__)


class Sessions:
    """Turns an association into the RequestContext its requests run under."""

    def __init__(self, cert_roles: Mapping[str, Sequence[str]]) -> None:
        self._cert_roles = {name: parse_roles(roles) for name, roles in cert_roles.items()}

    def on_connection_open(self, event: Event) -> None:
        """``EVT_CONN_OPEN``: turn Nagle off (about 40 ms per response on loopback
        otherwise, shared/PEERS.md) on our side of every connection, in and out."""
        set_no_delay(event.assoc)

    def context(self, event: Event) -> RequestContext:
        assoc = event.assoc
        actor = str(assoc.requestor.ae_title).strip() or "unknown-ae"
        return RequestContext(actor=actor[:64], door=Door.DIMSE,
                              client_address=str(assoc.requestor.address)[:64],
                              principal=self._tls_principal(assoc))

    def _tls_principal(self, assoc: Association) -> Principal | None:
        sock = _socket_of(assoc)
        if not isinstance(sock, ssl.SSLSocket):
            return None
        name = certificate_name(sock.getpeercert())
        roles = self._cert_roles.get(name, frozenset())
        return Principal(name=f"cert:{name}", kind=PrincipalKind.AE, roles=roles)


def _socket_of(assoc: Association) -> socket.socket | None:
    transport = getattr(assoc.dul, "socket", None)
    return getattr(transport, "socket", None)


def set_no_delay(assoc: Association) -> None:
    sock = _socket_of(assoc)
    if sock is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as exc:  # the peer already went away
            log.debug("cannot set TCP_NODELAY: %s", exc)
