"""The audit trail: what the Archive service did, as ledger events.

This module is the one place that decides which ledger event an archive
operation leaves and what goes in it. Every method runs inside the
operation's own database transaction (the Archive service passes its
connection), so an acknowledged store always has its event and a rolled-back
one never does (ARCHITECTURE.md, "The ledger").

Identifiers (Patient ID, UIDs) enter the ledger only as keyed hashes; a
search is recorded by the attributes it matched on, never their values.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

import sqlalchemy as sa

from dicomvault.access import RequestContext
from dicomvault.ledger import EventType, IdentifierHasher, Ledger, LedgerEvent

if TYPE_CHECKING:
    from dicomvault.archive import InstanceLocation
    from dicomvault.index import Query
    from dicomvault.ingest import StagedInstance


class _Located(Protocol):
    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class AuditTrail:
    """Turns archive operations into ledger events (see the module docstring)."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._hash: IdentifierHasher = ledger.identifiers

    def _event(self, ctx: RequestContext, kind: EventType, subjects: Sequence[str],
               details: dict[str, str | int | bool]) -> LedgerEvent:
        return LedgerEvent(
            type=kind,
            actor=ctx.actor,
            door=ctx.door.value,
            client=ctx.client_address,
            time=_now(),
            subjects=tuple(subjects),
            details=details,
        )

    def _subjects(self, study: str, series: str | None = None, sop: str | None = None,
                  patient: str | None = None) -> list[str]:
        subjects = [self._hash.hash("study", study)]
        if series:
            subjects.append(self._hash.hash("series", series))
        if sop:
            subjects.append(self._hash.hash("sop", sop))
        if patient is not None:
            subjects.append(self._hash.hash("patient", patient))
        return subjects

    def record(self, conn: sa.Connection, ctx: RequestContext, kind: EventType, *,
               study: str | None = None, series: str | None = None, sop: str | None = None,
               patient: str | None = None,
               details: dict[str, str | int | bool] | None = None) -> None:
        """Append one event of any kind in the caller's transaction.

        The generic entry for operations outside the image path (logins, key
        rotation, backups, shares): identifiers are given raw and hashed here.
        """
        subjects = self._subjects(study, series, sop, patient) if study else (
            [self._hash.hash("patient", patient)] if patient is not None else [])
        self.ledger.append(conn, [self._event(ctx, kind, subjects, details or {})])

    def instances_stored(self, conn: sa.Connection, ctx: RequestContext,
                         staged: Sequence[StagedInstance]) -> None:
        events = [
            self._event(
                ctx,
                EventType.INSTANCE_STORED,
                self._subjects(item.parsed.study.StudyInstanceUID,
                               item.parsed.series.SeriesInstanceUID, item.sop_instance_uid,
                               item.parsed.patient.PatientID),
                {
                    "content_sha256": item.stored.sha256,
                    "size": item.stored.size,
                    "sop_class": item.sop_class_uid,
                    "transfer_syntax": item.parsed.instance.TransferSyntaxUID,
                },
            )
            for item in staged
        ]
        if events:
            self.ledger.append(conn, events)

    def instances_retrieved(self, conn: sa.Connection, ctx: RequestContext,
                            locations: Sequence[InstanceLocation]) -> None:
        self._per_instance(conn, ctx, EventType.INSTANCE_RETRIEVED, locations)

    def instances_deleted(self, conn: sa.Connection, ctx: RequestContext,
                          locations: Sequence[InstanceLocation]) -> None:
        self._per_instance(conn, ctx, EventType.DELETED, locations, with_hash=True)

    def _per_instance(self, conn: sa.Connection, ctx: RequestContext, kind: EventType,
                      locations: Sequence[InstanceLocation], *, with_hash: bool = False) -> None:
        events = []
        for location in locations:
            details: dict[str, str | int | bool] = {"sop_class": location.sop_class_uid}
            if with_hash:
                details["content_sha256"] = location.sha256
            events.append(self._event(
                ctx, kind,
                self._subjects(location.study_instance_uid, location.series_instance_uid,
                               location.sop_instance_uid),
                details,
            ))
        if events:
            self.ledger.append(conn, events)

    def searched(self, conn: sa.Connection, ctx: RequestContext, query: Query,
                 matches: int) -> None:
        """A search: its level and the attributes it matched on, never their values."""
        keys = ",".join(sorted(key for key, value in query.filters.items() if value))
        details: dict[str, str | int | bool] = {
            "level": str(query.level),
            "matching_keys": keys,
            "matches": matches,
        }
        subjects = []
        if query.study_uid:
            subjects = self._subjects(query.study_uid, query.series_uid)
        self.ledger.append(conn, [self._event(ctx, EventType.SEARCHED, subjects, details)])
