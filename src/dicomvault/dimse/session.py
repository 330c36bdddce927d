"""Who is on the other end of an association: the RequestContext of every DIMSE request.

The actor is the calling AE title. Over plain TCP the access policy maps it
to roles through ``dimse_ae_roles`` (``*``: any other AE title; without
``*`` only the listed AE titles may associate at all, see
:mod:`dicomvault.dimse.server`). Over DICOM TLS the peer proved who it is
with a client certificate signed by ``dimse_tls_ca_file``: the principal is
then the certificate's subject common name with the roles
``dimse_tls_cert_roles`` gives it (none: every operation refused), whatever
AE title it calls with (:mod:`dicomvault.dimse.transport`).

An AE title is only a name any peer can claim. ``dimse_ae_hosts`` binds an
AE title to the addresses or networks it may call from (Orthanc's
``DicomCheckModalityHost``, per AE title): a listed AE title calling from
another address gets a principal without roles, so every request is refused
in the service's own status, and a warning names the AE title and address.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import ssl
import weakref
from collections.abc import Mapping, Sequence
from ipaddress import IPv4Network, IPv6Network

from pynetdicom.association import Association
from pynetdicom.events import Event

from dicomvault.access import Door, Principal, PrincipalKind, RequestContext
from dicomvault.access.roles import parse_roles
from dicomvault.dimse.transport import certificate_name

log = logging.getLogger(__name__)


class Sessions:
    """Turns an association into the RequestContext its requests run under."""

    def __init__(self, cert_roles: Mapping[str, Sequence[str]],
                 ae_hosts: Mapping[str, Sequence[IPv4Network | IPv6Network]]) -> None:
        self._cert_roles = {name: parse_roles(roles) for name, roles in cert_roles.items()}
        self._ae_hosts = {title.strip(): tuple(networks) for title, networks in ae_hosts.items()}
        self._warned: weakref.WeakSet[Association] = weakref.WeakSet()

    def on_connection_open(self, event: Event) -> None:
        """``EVT_CONN_OPEN``: turn Nagle off (about 40 ms per response on loopback
        otherwise, shared/PEERS.md) on our side of every connection, in and out."""
        set_no_delay(event.assoc)

    def context(self, event: Event) -> RequestContext:
        assoc = event.assoc
        actor = str(assoc.requestor.ae_title).strip() or "unknown-ae"
        address = str(assoc.requestor.address)
        principal = self._tls_principal(assoc)
        if principal is None and not self._calls_from_its_host(actor, address):
            if assoc not in self._warned:  # once per association, not per request
                self._warned.add(assoc)
                log.warning("DIMSE: AE title %s called from %s, not from its configured "
                            "hosts; every request refused", actor[:16], address[:64])
            principal = Principal(name=f"ae:{actor[:16]}@{address[:45]}", kind=PrincipalKind.AE,
                                  roles=frozenset())
        return RequestContext(actor=actor[:64], door=Door.DIMSE, client_address=address[:64],
                              principal=principal)

    def _calls_from_its_host(self, actor: str, address: str) -> bool:
        networks = self._ae_hosts.get(actor)
        if networks is None:
            return True
        try:
            peer = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(peer in network for network in networks)

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
