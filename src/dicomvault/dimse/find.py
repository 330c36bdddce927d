"""C-FIND SCP: Patient Root and Study Root, PATIENT to IMAGE level (PS3.4 C.4.1).

The identifier becomes a :class:`~dicomvault.index.Query`
(:meth:`Query.from_identifier`): the same matching engine as QIDO-RS, the
same scope filtering and the same ``searched`` ledger event, through
:meth:`Archive.find`. Each match is returned as a pending response with
exactly the identifier's keys (empty where the index holds nothing);
a C-CANCEL stops the responses with 0xFE00.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from pydicom.dataset import Dataset
from pynetdicom.association import Association
from pynetdicom.events import Event

from dicomvault.archive import Archive
from dicomvault.dimse.contexts import PATIENT_ROOT_MODELS
from dicomvault.dimse.session import Sessions
from dicomvault.dimse.status import Status, query_status
from dicomvault.errors import DicomVaultError, InvalidInputError
from dicomvault.index import Query, QueryLevel, to_dataset

log = logging.getLogger(__name__)

FindResponse = tuple[int | Dataset, Dataset | None]

#: Pending responses between two pauses that let a C-CANCEL in (see let_peer_be_heard).
_CANCEL_CHECK_EVERY = 16
#: Longest a pause waits for the queued responses to go out.
_DRAIN_SECONDS = 5.0


def let_peer_be_heard(assoc: Association) -> None:
    """Wait until the responses queued so far are on the wire, then a moment more.

    pynetdicom's DUL reactor either sends one queued PDU or reads one incoming PDU
    per loop, sending first; a generator that queues responses faster than they
    are sent keeps it from ever reading the peer's C-CANCEL until every match has
    been queued. Draining the outgoing queue every few responses gives it loops
    with nothing to send, in which it reads what the peer sent.
    """
    outgoing = assoc.dul.to_provider_queue
    deadline = time.monotonic() + _DRAIN_SECONDS
    while not outgoing.empty() and assoc.is_established and time.monotonic() < deadline:
        time.sleep(0.0005)
    time.sleep(0.002)  # the reactor's idle loop delay is 1 ms: one read at least


def query_level(identifier: Dataset, model: str) -> QueryLevel:
    """The identifier's QueryRetrieveLevel, checked against the information model."""
    raw = str(identifier.get("QueryRetrieveLevel", "") or "").strip().upper()
    try:
        level = QueryLevel(raw)
    except ValueError:
        raise InvalidInputError("QueryRetrieveLevel must be PATIENT, STUDY, SERIES or "
                                "IMAGE") from None
    if level is QueryLevel.PATIENT and model not in PATIENT_ROOT_MODELS:
        raise InvalidInputError("the PATIENT level exists in the Patient Root model only")
    return level


class FindHandler:
    """``evt.EVT_C_FIND`` handler (a generator of pending responses)."""

    def __init__(self, archive: Archive, sessions: Sessions) -> None:
        self._archive = archive
        self._sessions = sessions

    def __call__(self, event: Event) -> Iterator[FindResponse]:
        ctx = self._sessions.context(event)
        try:
            identifier = event.identifier
            level = query_level(identifier, str(event.request.AffectedSOPClassUID))
            rows = self._archive.find(Query.from_identifier(level, identifier), ctx)
        except DicomVaultError as exc:
            log.info("C-FIND from %s refused: %s", ctx.actor, exc.message)
            yield _failure(query_status(exc), exc.message)
            return
        except (AttributeError, ValueError, TypeError, KeyError) as exc:
            # pydicom decodes the identifier lazily: a malformed one fails here.
            log.info("C-FIND from %s: unreadable identifier (%s)", ctx.actor,
                     type(exc).__name__)
            yield _failure(Status.CANNOT_UNDERSTAND, "the identifier cannot be read")
            return
        charset = identifier.get("SpecificCharacterSet")
        for count, row in enumerate(rows):
            if count and count % _CANCEL_CHECK_EVERY == 0:
                let_peer_be_heard(event.assoc)
            if event.is_cancelled:
                yield Status.CANCELLED, None
                return
            match = to_dataset(row)
            match.QueryRetrieveLevel = level.value
            if charset is not None:
                match.SpecificCharacterSet = charset
            yield Status.PENDING, match
        yield Status.SUCCESS, None


def _failure(status: int, text: str) -> FindResponse:
    ds = Dataset()
    ds.Status = status
    ds.ErrorComment = text[:64]
    return ds, None
