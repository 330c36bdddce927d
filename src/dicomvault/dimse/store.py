"""C-STORE SCP: a received instance goes to the Archive service as received.

The data set arrives encoded in the negotiated transfer syntax; pynetdicom's
``encoded_dataset()`` prefixes it with the File Meta Information built from
the request (Media Storage SOP Class/Instance from the Affected SOP
Class/Instance, the context's Transfer Syntax), so the archive receives a
Part 10 file whose data set is byte for byte what the modality sent. The
archive's ingest validates it (a data set whose SOP Class UID is not the
request's is refused with 0xA900), writes it sealed and durable, and the
:class:`~dicomvault.batching.GroupCommitter` commits it, with the ledger entry,
before the status is returned: 0x0000 means durable. Any failure leaves
nothing half-stored (the staged blob is removed).
"""

from __future__ import annotations

import logging

from pydicom.dataset import Dataset
from pynetdicom.events import Event

from dicomvault.archive import StoreOutcome
from dicomvault.batching import GroupCommitter
from dicomvault.dimse.session import Sessions
from dicomvault.dimse.status import Status, comment, store_status
from dicomvault.errors import DicomVaultError

log = logging.getLogger(__name__)


class StoreHandler:
    """``evt.EVT_C_STORE`` handler storing through a shared :class:`GroupCommitter`."""

    def __init__(self, committer: GroupCommitter, sessions: Sessions) -> None:
        self._committer = committer
        self._sessions = sessions

    def __call__(self, event: Event) -> int | Dataset:
        ctx = self._sessions.context(event)
        try:
            data = event.encoded_dataset(include_meta=True)
        except (AttributeError, ValueError) as exc:
            log.info("C-STORE from %s: no data set (%s)", ctx.actor, type(exc).__name__)
            return _failure(Status.CANNOT_UNDERSTAND, "no data set in the request")
        try:
            result = self._committer.store(data, ctx)
        except DicomVaultError as exc:
            log.info("C-STORE from %s refused: %s", ctx.actor, exc.message)
            return _failure(store_status(exc), comment(exc))
        if result.outcome is StoreOutcome.DUPLICATE_IGNORED:
            return _failure(Status.WARNING_ELEMENTS_DISCARDED,
                            "already archived with other content; archived copy kept")
        return Status.SUCCESS


def _failure(status: int, text: str) -> Dataset:
    ds = Dataset()
    ds.Status = status
    ds.ErrorComment = text
    return ds
