"""C-MOVE and C-GET SCP: instances out of the archive, to a configured AE or back to the caller.

The identifier's unique keys (PS3.4 C.4.2.2.1) name studies, series or
instances; :meth:`Archive.locate` checks the retrieve permission and the
study scope and records each instance's ``instance_retrieved`` ledger event
before anything leaves (over-reported if the transfer fails, never hidden).
A PATIENT level request, or a relational one without the higher keys, is
first resolved by the matching engine (:meth:`Archive.find`, a ``searched``
event).

Each instance goes in the transfer syntax it was received in if the peer
accepted it for that SOP class; otherwise uncompressed, decoded by the codecs
(:func:`dicomvault.codecs.retrieve.instance_as`). C-MOVE destinations are
looked up by AE title in ``dimse_destinations`` (0xA801 if unknown);
pending responses carry the sub-operation counts, and a C-CANCEL stops the
sub-operations with 0xFE00.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pydicom
from pydicom.dataset import Dataset
from pynetdicom import build_context, evt
from pynetdicom.association import Association
from pynetdicom.events import Event
from pynetdicom.presentation import PresentationContext

from dicomvault.access import RequestContext
from dicomvault.archive import Archive, InstanceLocation
from dicomvault.codecs.retrieve import instance_as
from dicomvault.codecs.transcode import can_transcode
from dicomvault.dimse import reactor
from dicomvault.dimse.contexts import Verification, choose_syntax, sub_operation_contexts
from dicomvault.dimse.find import query_level
from dicomvault.dimse.session import Sessions, set_no_delay
from dicomvault.dimse.status import Status, retrieve_status
from dicomvault.dimse.transport import client_context
from dicomvault.errors import DicomVaultError, InvalidInputError, NotFoundError
from dicomvault.index import Query, QueryLevel

log = logging.getLogger(__name__)

Response = tuple[int | Dataset, Dataset | None]
_UNIQUE_KEY = {QueryLevel.PATIENT: "PatientID", QueryLevel.STUDY: "StudyInstanceUID",
               QueryLevel.SERIES: "SeriesInstanceUID", QueryLevel.IMAGE: "SOPInstanceUID"}
_HIERARCHY = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
Target = tuple[str, str | None, str | None]


def _values(identifier: Dataset, keyword: str) -> list[str]:
    value = identifier.get(keyword)
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split("\\") if v.strip()]
    return [str(v).strip() for v in value if str(v).strip()]


def _targets(archive: Archive, ctx: RequestContext, level: QueryLevel,
             identifier: Dataset) -> list[Target]:
    """(study, series, instance) addresses the identifier names."""
    study, series, sops = (_values(identifier, k) for k in _HIERARCHY)
    if level is QueryLevel.STUDY and study:
        return [(uid, None, None) for uid in study]
    if level is QueryLevel.SERIES and len(study) == 1 and series:
        return [(study[0], uid, None) for uid in series]
    if level is QueryLevel.IMAGE and len(study) == 1 and len(series) == 1 and sops:
        return [(study[0], series[0], uid) for uid in sops]
    key = _UNIQUE_KEY[level]
    values = _values(identifier, key)
    if not values:
        raise InvalidInputError(f"{key} (the unique key of the {level} level) is required")
    query_at = QueryLevel.STUDY if level is QueryLevel.PATIENT else level
    query = Query(level=query_at, filters={key: "\\".join(values)},
                  include_fields=frozenset(_HIERARCHY[:list(QueryLevel).index(query_at)]))
    found: list[Target] = []
    for row in archive.find(query, ctx):
        address = [str(row.get(k)) if row.get(k) else None for k in _HIERARCHY]
        if address[0]:
            found.append((address[0], address[1] if query_at is not QueryLevel.STUDY else None,
                          address[2] if query_at is QueryLevel.IMAGE else None))
    return list(dict.fromkeys(found))


def locate(archive: Archive, ctx: RequestContext, event: Event) -> list[InstanceLocation]:
    """The instances a C-MOVE / C-GET request names, access recorded (see module docstring)."""
    identifier = event.identifier
    level = query_level(identifier, str(event.request.AffectedSOPClassUID))
    locations: list[InstanceLocation] = []
    for target in _targets(archive, ctx, level, identifier):
        try:
            locations.extend(archive.locate(ctx, *target))
        except NotFoundError:
            continue  # no match is not a failure: zero sub-operations
    return list({loc.sop_instance_uid: loc for loc in locations}.values())


def dataset_for(archive: Archive, location: InstanceLocation,
                accepted: Sequence[PresentationContext]) -> Dataset | None:
    """The instance as the peer accepts it, or ``None`` if it accepts no syntax we can make."""
    stored = location.transfer_syntax_uid
    target = choose_syntax(accepted, location.sop_class_uid, stored)
    if target is None or (target != stored and not can_transcode(stored, target)):
        return None
    data = b"".join(instance_as(archive, location, target))
    return pydicom.dcmread(io.BytesIO(data))


@dataclass
class _SubAssociation:
    """Captures the association pynetdicom opens to a C-MOVE destination."""

    assoc: Association | None = None
    handlers: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.handlers = [(evt.EVT_ACCEPTED, self._accepted),
                         (evt.EVT_ACCEPTED, reactor.on_accepted),
                         (evt.EVT_CONN_OPEN, lambda event: set_no_delay(event.assoc))]

    def _accepted(self, event: Event) -> None:
        self.assoc = event.assoc


class RetrieveHandlers:
    """``evt.EVT_C_MOVE`` and ``evt.EVT_C_GET`` handlers."""

    def __init__(self, archive: Archive, sessions: Sessions, max_pdu: int) -> None:
        self._archive = archive
        self._sessions = sessions
        self._max_pdu = max_pdu

    def move(self, event: Event) -> Iterator[Any]:
        ctx = self._sessions.context(event)
        settings = self._archive.settings
        name = str(event.move_destination or "").strip()
        destination = settings.dimse_destinations.get(name)
        if destination is None:
            log.info("C-MOVE from %s to unknown destination", ctx.actor)
            yield None, None
            return
        try:
            locations = locate(self._archive, ctx, event)
        except DicomVaultError as exc:
            log.info("C-MOVE from %s refused: %s", ctx.actor, exc.message)
            # pynetdicom associates with the destination before it takes a status:
            # propose only Verification (every SCP supports it), since nothing will be sent.
            yield destination.host, destination.port, {
                "contexts": [build_context(Verification)],
                "evt_handlers": _SubAssociation().handlers}
            yield 1
            yield _failure(retrieve_status(exc), exc.message), None
            return
        sub = _SubAssociation()
        options: dict[str, Any] = {
            "contexts": sub_operation_contexts(
                (loc.sop_class_uid, loc.transfer_syntax_uid) for loc in locations),
            "evt_handlers": sub.handlers, "max_pdu": self._max_pdu}
        if destination.tls:
            options["tls_args"] = (client_context(settings), destination.host)
        yield destination.host, destination.port, options
        yield len(locations)
        yield from self._send(event, locations, lambda: sub.assoc)

    def get(self, event: Event) -> Iterator[Any]:
        ctx = self._sessions.context(event)
        try:
            locations = locate(self._archive, ctx, event)
        except DicomVaultError as exc:
            log.info("C-GET from %s refused: %s", ctx.actor, exc.message)
            yield 1
            yield _failure(retrieve_status(exc), exc.message), None
            return
        yield len(locations)
        yield from self._send(event, locations, lambda: event.assoc)

    def _send(self, event: Event, locations: list[InstanceLocation],
              peer: Any) -> Iterator[Response]:
        for location in locations:
            if event.is_cancelled:
                yield Status.CANCELLED, None
                return
            assoc: Association | None = peer()
            accepted = assoc.accepted_contexts if assoc is not None else []
            try:
                dataset = dataset_for(self._archive, location, accepted)
            except DicomVaultError as exc:
                log.warning("retrieve: an instance could not be read: %s", exc.message)
                dataset = None
            # A stub pynetdicom cannot send counts as a failed sub-operation and lands in
            # the Failed SOP Instance UID List; the next one goes on.
            yield Status.PENDING, dataset if dataset is not None else _unsendable(location)


def _unsendable(location: InstanceLocation) -> Dataset:
    stub = Dataset()
    stub.SOPClassUID = location.sop_class_uid
    stub.SOPInstanceUID = location.sop_instance_uid
    return stub


def _failure(status: int, text: str) -> Dataset:
    ds = Dataset()
    ds.Status = status
    ds.ErrorComment = text[:64]
    return ds
