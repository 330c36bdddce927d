"""Storage Commitment Push Model SCP (PS3.4 Annex J): N-ACTION in, N-EVENT-REPORT out.

A modality asks (N-ACTION, Action Type 1) whether the archive has taken
responsibility for a list of instances. The answer comes in an
N-EVENT-REPORT: each instance is committed only if its index row is
committed, which in dicomvault means its sealed blob was durable and its
ledger entry committed in the same transaction (the Archive's store order).
The check is a search through the Archive (:meth:`Archive.find` at IMAGE
level on the SOP Instance UIDs): the search permission and scope apply and
the request is a ``searched`` ledger event.

The report goes on the same association if the modality keeps it open,
otherwise on a new association to the calling AE title's entry in
``dimse_destinations`` with the SCP/SCU role reversed (PS3.4 J.3.3).
Failure reasons (PS3.4 J.3.2.1.1.2): 0x0112 no such object instance,
0x0119 class/instance conflict, 0x0110 processing failure.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pynetdicom import build_context, build_role, evt
from pynetdicom.ae import ApplicationEntity
from pynetdicom.association import Association
from pynetdicom.events import Event

from dicomvault.access import RequestContext
from dicomvault.archive import Archive
from dicomvault.dimse.contexts import NATIVE_TRANSFER_SYNTAXES, STORAGE_COMMITMENT
from dicomvault.dimse.session import Sessions, set_no_delay
from dicomvault.dimse.status import Status, comment
from dicomvault.dimse.transport import client_context
from dicomvault.errors import DicomVaultError, InvalidInputError
from dicomvault.index import Query, QueryLevel

log = logging.getLogger(__name__)

#: The well-known SOP Instance UID of the Storage Commitment Push Model (PS3.4 J.3.5).
PUSH_MODEL_INSTANCE = "1.2.840.10008.1.20.1.1"
_REQUEST_COMMITMENT = 1
_ALL_COMMITTED, _SOME_FAILED = 1, 2


def commitment_report(archive: Archive, ctx: RequestContext, request: Dataset) -> Dataset:
    """The Event Information of the N-EVENT-REPORT answering ``request``."""
    wanted: list[tuple[str, str]] = []
    for item in request.get("ReferencedSOPSequence", []):
        wanted.append((str(item.get("ReferencedSOPClassUID", "")),
                       str(item.get("ReferencedSOPInstanceUID", ""))))
    if not wanted or not all(uid for _, uid in wanted):
        raise InvalidInputError("ReferencedSOPSequence must list SOP Instance UIDs")
    query = Query(level=QueryLevel.IMAGE,
                  filters={"SOPInstanceUID": "\\".join(uid for _, uid in wanted)},
                  include_fields=frozenset({"SOPClassUID"}))
    archived = {str(row.get("SOPInstanceUID")): str(row.get("SOPClassUID"))
                for row in archive.find(query, ctx)}
    report = Dataset()
    report.TransactionUID = request.TransactionUID
    committed, failed = DicomSequence(), DicomSequence()
    for sop_class, sop_instance in wanted:
        item = Dataset()
        item.ReferencedSOPClassUID = sop_class
        item.ReferencedSOPInstanceUID = sop_instance
        if archived.get(sop_instance) == sop_class:
            committed.append(item)
            continue
        item.FailureReason = (Status.CLASS_INSTANCE_CONFLICT if sop_instance in archived
                              else Status.NO_SUCH_OBJECT_INSTANCE)
        failed.append(item)
    if committed:
        report.ReferencedSOPSequence = committed
    if failed:
        report.FailedSOPSequence = failed
    return report


class CommitmentHandler:
    """``evt.EVT_N_ACTION`` handler; the report is sent from a thread after the response."""

    def __init__(self, archive: Archive, sessions: Sessions, ae: ApplicationEntity) -> None:
        self._archive = archive
        self._sessions = sessions
        self._ae = ae

    def __call__(self, event: Event) -> tuple[int | Dataset, Dataset | None]:
        ctx = self._sessions.context(event)
        if str(getattr(event.request, "RequestedSOPClassUID", "")) != STORAGE_COMMITMENT:
            return Status.CANNOT_UNDERSTAND, None
        if event.action_type != _REQUEST_COMMITMENT:
            return 0x0123, None  # No such action
        try:
            request = event.action_information
            if not request.get("TransactionUID"):
                raise InvalidInputError("TransactionUID is required")
            report = commitment_report(self._archive, ctx, request)
        except DicomVaultError as exc:
            status = Dataset()
            status.Status = (Status.NOT_AUTHORISED if exc.dimse_status == 0xA801
                             else Status.PROCESSING_FAILURE)
            status.ErrorComment = comment(exc)
            return status, None
        except (AttributeError, ValueError, TypeError, KeyError):
            return Status.PROCESSING_FAILURE, None
        responded = threading.Event()

        def on_sent(sent: Event) -> None:
            if type(sent.message).__name__ == "N_ACTION_RSP":
                responded.set()

        event.assoc.bind(evt.EVT_DIMSE_SENT, on_sent)
        threading.Thread(target=self._report,
                         args=(event.assoc, ctx.actor, report, responded, on_sent),
                         name="dicomvault-commitment", daemon=True).start()
        return Status.SUCCESS, None

    def _report(self, assoc: Association, calling_ae: str, report: Dataset,
                responded: threading.Event, on_sent: Callable[[Event], None]) -> None:
        event_type = _SOME_FAILED if "FailedSOPSequence" in report else _ALL_COMMITTED
        # The report must follow the N-ACTION response on the wire (the requester waits
        # for that response first): wait until pynetdicom has encoded and is sending it.
        responded.wait(self._archive.settings.dimse_dimse_timeout_seconds)
        assoc.unbind(evt.EVT_DIMSE_SENT, on_sent)
        if assoc.is_established:
            try:
                status, _ = assoc.send_n_event_report(
                    report, event_type, STORAGE_COMMITMENT, PUSH_MODEL_INSTANCE)
                if status.get("Status") == 0:
                    return
            except (RuntimeError, ValueError) as exc:
                log.info("commitment report on the same association failed: %s", exc)
        self._report_on_new_association(calling_ae, report, event_type)

    def _report_on_new_association(self, calling_ae: str, report: Dataset,
                                   event_type: int) -> None:
        settings = self._archive.settings
        destination = settings.dimse_destinations.get(calling_ae)
        if destination is None:
            log.warning("storage commitment: no destination configured for the calling AE; "
                        "the report was not delivered")
            return
        tls = (client_context(settings), destination.host) if destination.tls else None
        assoc = self._ae.associate(
            destination.host, destination.port, ae_title=calling_ae,
            contexts=[build_context(STORAGE_COMMITMENT, list(NATIVE_TRANSFER_SYNTAXES))],
            ext_neg=[build_role(STORAGE_COMMITMENT, scp_role=True)],
            evt_handlers=[(evt.EVT_CONN_OPEN, lambda e: set_no_delay(e.assoc))],
            tls_args=tls)
        if not assoc.is_established:
            log.warning("storage commitment: the calling AE's destination refused the report")
            return
        try:
            assoc.send_n_event_report(report, event_type, STORAGE_COMMITMENT,
                                      PUSH_MODEL_INSTANCE)
        finally:
            assoc.release()
