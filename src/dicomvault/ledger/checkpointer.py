"""The background job that signs a checkpoint of the ledger at an interval.

ARCHITECTURE.md, "Ingest, step by step", step 6: periodically sign a
checkpoint. A pass signs only when the tree grew since the latest
checkpoint, so an idle node does not fill its checkpoint table; witnesses
fetching ``/api/ledger/checkpoint`` then see a tree head at most one
interval old. ``dicomvault ledger checkpoint`` signs one on demand.
"""

from __future__ import annotations

import logging

from dicomvault.daemon import Daemon
from dicomvault.ledger.service import LedgerService

log = logging.getLogger(__name__)


class CheckpointDaemon(Daemon):
    """Signs a checkpoint every ``interval_seconds`` when the log has grown."""

    name = "checkpoint"

    def __init__(self, service: LedgerService, interval_seconds: float) -> None:
        super().__init__(interval_seconds)
        self.service = service

    def run_once(self) -> None:
        note = self.service.checkpoint_if_grown()
        if note is not None:
            log.info("signed ledger checkpoint of tree size %s", note.split("\n")[1])
