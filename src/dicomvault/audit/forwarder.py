"""The background job that forwards every ledger event to the audit record repository.

Reads the ledger from where it stopped (a cursor in the database, so a
restart resumes and several server processes share one position), turns
each event into a DICOM audit message (:mod:`.atna`) and sends it over
syslog (:mod:`.syslog`). The cursor advances only after a batch was sent:
delivery is at least once (a crash between sending and advancing resends a
batch; each message carries its ledger index and leaf hash, so the collector
can drop duplicates). ``dicomvault audit send`` runs one pass by hand.
"""

from __future__ import annotations

import logging

from dicomvault.audit.atna import to_atna_xml
from dicomvault.audit.codes import SUCCESS, describe
from dicomvault.audit.syslog import NOTICE, WARNING, SyslogSender
from dicomvault.config import Settings
from dicomvault.daemon import Daemon
from dicomvault.ledger.service import LedgerService

log = logging.getLogger(__name__)

CURSOR = "atna-syslog"
BATCH = 500


class AuditForwarder(Daemon):
    """Sends ledger events as ATNA syslog messages every ``interval_seconds``."""

    name = "audit-forwarder"

    def __init__(self, service: LedgerService, sender: SyslogSender,
                 interval_seconds: float) -> None:
        super().__init__(interval_seconds)
        self.service = service
        self.sender = sender

    def run_once(self) -> None:
        self.forward()

    def forward(self) -> int:
        """Send every event not sent yet; how many were sent."""
        origin = self.service.ledger.origin
        sent = 0
        while True:
            start = self.service.cursor(CURSOR)
            entries = self.service.entries(start, BATCH)
            if not entries:
                return sent
            messages = []
            for entry in entries:
                event = entry.event
                severity = NOTICE if describe(event).outcome == SUCCESS else WARNING
                messages.append((to_atna_xml(event, index=entry.index, origin=origin), severity))
            sent += self.sender.send(messages)
            self.service.advance_cursor(CURSOR, entries[-1].index + 1)
            log.info("forwarded %d audit messages (ledger entries %d..%d)", len(entries),
                     start, entries[-1].index)


def forwarder_for(settings: Settings, service: LedgerService) -> AuditForwarder | None:
    """The forwarder the settings ask for (``audit_syslog_*``), ``None`` if no collector."""
    if not settings.audit_syslog_url:
        return None
    sender = SyslogSender(settings.audit_syslog_url, ca_file=settings.audit_syslog_ca_file,
                          client_cert=settings.audit_syslog_client_cert,
                          client_key=settings.audit_syslog_client_key)
    return AuditForwarder(service, sender, settings.audit_syslog_interval_seconds)
