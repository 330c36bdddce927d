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
import queue
import threading
import time
from collections.abc import Callable
from io import BytesIO

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pynetdicom import build_context, build_role, evt
from pynetdicom.ae import ApplicationEntity
from pynetdicom.association import Association
from pynetdicom.dimse_primitives import N_EVENT_REPORT
from pynetdicom.dsutils import encode
from pynetdicom.events import Event
from pynetdicom.pdu_primitives import A_RELEASE

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
#: How long a requester has, after the N-ACTION response, to release its association
#: before the report is sent on it rather than on a new association.
_RELEASE_GRACE_SECONDS = 0.5


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


def _report_unless_released(assoc: Association, report: Dataset, event_type: int,
                            timeout: float | None) -> bool:
    """Send the report on the requester's own association; False if it was not answered.

    A modality may release its association as soon as it has the N-ACTION response,
    so the report and its A-RELEASE-RQ can cross on the wire. pynetdicom's
    ``send_n_event_report`` would then wait the whole DIMSE timeout for an answer
    that never comes (the releasing peer ignores the report), holding the peer's
    release hostage. This sends the same message but stops waiting as soon as the
    peer asks to release, so the reactor answers the release and the report goes
    on a new association instead. The reactor pause is pynetdicom's own mechanism
    for a request sent from outside its thread (``Association.send_n_event_report``).
    """
    context = next((c for c in assoc.accepted_contexts
                    if c.abstract_syntax == STORAGE_COMMITMENT), None)
    if not assoc.is_established or context is None or context.context_id is None:
        return False
    syntax = context.transfer_syntax[0]
    encoded = encode(report, syntax.is_implicit_VR, syntax.is_little_endian,
                     syntax.is_deflated)
    if encoded is None:
        log.warning("storage commitment: the report could not be encoded")
        return False
    request = N_EVENT_REPORT()
    request.MessageID = 1
    request.AffectedSOPClassUID = STORAGE_COMMITMENT
    request.AffectedSOPInstanceUID = PUSH_MODEL_INSTANCE
    request.EventTypeID = event_type
    request.EventInformation = BytesIO(encoded)
    deadline = None if timeout is None else time.monotonic() + timeout
    assoc._reactor_checkpoint.clear()
    try:
        while not assoc._is_paused and assoc.is_established:
            time.sleep(0.0005)
        assoc.dimse.send_msg(request, context.context_id)
        while assoc.is_established and not _release_requested(assoc):
            if deadline is not None and time.monotonic() > deadline:
                log.info("storage commitment: no answer to the report on the same association")
                return False
            try:
                _, response = assoc.dimse.msg_queue.get(timeout=0.05)
            except queue.Empty:
                continue
            return isinstance(response, N_EVENT_REPORT) and response.Status == 0
        return False
    finally:
        assoc._reactor_checkpoint.set()


def _release_requested(assoc: Association) -> bool:
    """Whether the peer's A-RELEASE-RQ waits in the queue the paused reactor will serve."""
    return isinstance(assoc.dul.peek_next_pdu(), A_RELEASE)


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
        # A requester that releases straight after the response wants the report on a
        # new association; give its A-RELEASE-RQ a moment to arrive rather than cross it.
        deadline = time.monotonic() + _RELEASE_GRACE_SECONDS
        while assoc.is_established and time.monotonic() < deadline:
            time.sleep(0.01)
        timeout = self._archive.settings.dimse_dimse_timeout_seconds
        if not _report_unless_released(assoc, report, event_type, timeout):
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
