"""The DIMSE door: one pynetdicom Application Entity serving the Archive.

:class:`DimseServer` registers a handler per DIMSE service and nothing else
(each handler module turns its protocol into Archive calls): C-ECHO,
C-STORE (:mod:`.store`), C-FIND (:mod:`.find`), C-MOVE and C-GET
(:mod:`.retrieve`), Storage Commitment (:mod:`.commitment`). It listens on
``dicom_port`` (plain TCP) and, when configured, on ``dimse_tls_port``
(DICOM TLS, :mod:`.transport`), with the limits and timeouts of the
``dimse_*`` settings. Calling AE titles: if ``dimse_ae_roles`` has no ``*``
entry, only the AE titles it lists may associate (others are rejected with
"calling AE title not recognised"); what each may do is the access policy's
decision on every request (:mod:`.session`).

``dicomvault serve`` starts it beside the HTTP server (``--no-dimse`` not to).
"""

from __future__ import annotations

import logging
from typing import Any

from pynetdicom import AE, evt
from pynetdicom.events import Event
from pynetdicom.transport import ThreadedAssociationServer

from dicomvault.archive import Archive
from dicomvault.batching import GroupCommitter
from dicomvault.dimse import reactor
from dicomvault.dimse.commitment import CommitmentHandler
from dicomvault.dimse.contexts import supported_contexts
from dicomvault.dimse.find import FindHandler
from dicomvault.dimse.retrieve import RetrieveHandlers
from dicomvault.dimse.session import Sessions
from dicomvault.dimse.status import Status
from dicomvault.dimse.store import StoreHandler
from dicomvault.dimse.transport import server_context
from dicomvault.errors import ConfigurationError

log = logging.getLogger(__name__)


def _echo(event: Event) -> int:
    return Status.SUCCESS


class DimseServer:
    """The node's DICOM SCP; :meth:`start` listens, :meth:`stop` closes everything."""

    def __init__(self, archive: Archive, *, port: int | None = None) -> None:
        """``port`` overrides ``dicom_port`` (tests serve a node on a free port: 0)."""
        settings = archive.settings
        self._port = settings.dicom_port if port is None else port
        # pynetdicom logs every message at INFO: per instance, that is most of a C-STORE's
        # cost and floods the log. Its warnings and errors still show.
        logging.getLogger("pynetdicom").setLevel(max(logging.WARNING, log.getEffectiveLevel()))
        self.archive = archive
        self.ae = AE(ae_title=settings.ae_title)
        self.ae.maximum_associations = settings.dimse_max_associations
        self.ae.acse_timeout = settings.dimse_acse_timeout_seconds
        self.ae.dimse_timeout = settings.dimse_dimse_timeout_seconds
        self.ae.network_timeout = settings.dimse_network_timeout_seconds
        self.ae.maximum_pdu_size = settings.dimse_max_pdu_bytes
        for cx in supported_contexts():
            assert cx.abstract_syntax is not None
            self.ae.add_supported_context(cx.abstract_syntax, cx.transfer_syntax,
                                          scu_role=cx.scu_role, scp_role=cx.scp_role)
        if "*" not in settings.dimse_ae_roles:
            self.ae.require_calling_aet = list(settings.dimse_ae_roles)
        sessions = Sessions(settings.dimse_tls_cert_roles, settings.dimse_ae_hosts)
        retrieve = RetrieveHandlers(archive, sessions, settings.dimse_max_pdu_bytes)
        self.handlers: list[Any] = [
            (evt.EVT_CONN_OPEN, sessions.on_connection_open),
            (evt.EVT_CONN_OPEN, reactor.on_connection_open),
            (evt.EVT_C_ECHO, _echo),
            (evt.EVT_C_STORE, StoreHandler(GroupCommitter(archive), sessions)),
            (evt.EVT_C_FIND, FindHandler(archive, sessions)),
            (evt.EVT_C_MOVE, retrieve.move),
            (evt.EVT_C_GET, retrieve.get),
            (evt.EVT_N_ACTION, CommitmentHandler(archive, sessions, self.ae)),
        ]
        self._servers: list[ThreadedAssociationServer] = []

    def start(self) -> None:
        settings = self.archive.settings
        tls = server_context(settings) if settings.dimse_tls_port is not None else None
        self._servers.append(self._listen(self._port, None))
        if tls is not None and settings.dimse_tls_port is not None:
            self._servers.append(self._listen(settings.dimse_tls_port, tls))

    def _listen(self, port: int, tls: Any) -> ThreadedAssociationServer:
        try:
            server = self.ae.start_server((self.archive.settings.host, port), block=False,
                                          ssl_context=tls, evt_handlers=self.handlers)
        except OSError as exc:
            self.stop()
            raise ConfigurationError(f"cannot listen for DIMSE on port {port}: {exc.strerror}; "
                                     "set dicom_port, or serve with --no-dimse") from exc
        assert server is not None
        log.info("DIMSE %s listening on %s:%d as %s", "TLS" if tls else "TCP",
                 self.archive.settings.host, server.server_address[1],
                 self.archive.settings.ae_title)
        return server

    @property
    def ports(self) -> list[int]:
        """The ports actually listened on (``0`` in the settings picks a free one)."""
        return [int(server.server_address[1]) for server in self._servers]

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
        self._servers.clear()

    def __enter__(self) -> DimseServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
