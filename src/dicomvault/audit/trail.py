"""The audit trail: what the Archive service did, as ledger events.

This module is the one place that decides which ledger event an archive
operation leaves and what goes in it (the members per type are listed in
:data:`dicomvault.ledger.events.DETAILS`). Every method runs inside the
operation's own database transaction (the Archive service passes its
connection), so an acknowledged store always has its event and a rolled-back
one never does (ARCHITECTURE.md, "The ledger").

Identifiers (Patient ID, UIDs) enter the ledger only as typed keyed hashes
(``"study:<hmac>"``); a search is recorded by the attributes it matched on,
never their values, and by the keyed hashes of the identifiers it named
exactly (so a search for one patient shows in that patient's access history).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import sqlalchemy as sa

from dicomvault.access import RequestContext
from dicomvault.ledger import EventType, IdentifierHasher, Ledger, LedgerEvent, utc_now
from dicomvault.ledger.identifiers import PATIENT, SERIES, SOP, STUDY
from dicomvault.ledger.schema import ledger_event_index, ledger_leaves

if TYPE_CHECKING:
    from dicomvault.archive import InstanceLocation
    from dicomvault.index import Query
    from dicomvault.ingest import StagedInstance

Details = dict[str, str | int | bool]

#: Query keys naming one identifier exactly (no wildcard) become subjects of a search.
_IDENTIFYING_KEYS = {"PatientID": PATIENT, "StudyInstanceUID": STUDY,
                     "SeriesInstanceUID": SERIES, "SOPInstanceUID": SOP}
_WILDCARDS = frozenset("*?")


def _named(patient: str | None, study: str | None, series: str | None, sop: str | None
           ) -> tuple[tuple[str, str | None], ...]:
    """Identifiers with their subject kinds, in the order events list them."""
    return (PATIENT, patient), (STUDY, study), (SERIES, series), (SOP, sop)


class AuditTrail:
    """Turns archive operations into ledger events (see the module docstring)."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._hash: IdentifierHasher = ledger.identifiers

    def _event(self, ctx: RequestContext, kind: EventType, subjects: Sequence[str],
               details: Details, *, time: str | None = None) -> LedgerEvent:
        return LedgerEvent(
            type=kind,
            actor=ctx.actor,
            door=ctx.door.value,
            client=ctx.client_address,
            time=time or utc_now(),
            subjects=tuple(subjects),
            details=details,
        )

    def subjects(self, *, study: str | None = None, series: str | None = None,
                 sop: str | None = None, patient: str | None = None) -> list[str]:
        """The typed keyed-hash subjects of the identifiers given (raw values in, no PHI out)."""
        return [self._hash.subject(kind, value)
                for kind, value in _named(patient, study, series, sop) if value]

    def record(self, conn: sa.Connection, ctx: RequestContext, kind: EventType, *,
               study: str | None = None, series: str | None = None, sop: str | None = None,
               patient: str | None = None, details: Details | None = None) -> None:
        """Append one event of any kind in the caller's transaction.

        The generic entry for operations outside the image path (logins, key
        rotation, backups, shares, transcoding): identifiers are given raw and
        hashed here.
        """
        subjects = self.subjects(study=study, series=series, sop=sop, patient=patient)
        self.ledger.append(conn, [self._event(ctx, kind, subjects, details or {})])

    def instances_stored(self, conn: sa.Connection, ctx: RequestContext,
                         staged: Sequence[StagedInstance],
                         replaced: Iterable[str] = ()) -> None:
        """One ``instance_stored`` per instance written (``replaced``: SOP UIDs overwritten)."""
        overwritten = set(replaced)
        subject = functools.cache(self._hash.subject)  # a batch is mostly one study, series
        events = []
        for item in staged:
            details: Details = {
                "content_sha256": item.stored.sha256,
                "size": item.stored.size,
                "sop_class": item.sop_class_uid,
                "transfer_syntax": item.parsed.instance.TransferSyntaxUID,
                "outcome": "replaced" if item.sop_instance_uid in overwritten else "stored",
            }
            if item.pixel_sha256 is not None:
                details["pixel_sha256"] = item.pixel_sha256
            subjects = [subject(kind, value) for kind, value in _named(
                item.parsed.patient.PatientID, item.parsed.study.StudyInstanceUID,
                item.parsed.series.SeriesInstanceUID, item.sop_instance_uid) if value]
            events.append(self._event(ctx, EventType.INSTANCE_STORED, subjects, details))
        if events:
            self.ledger.append(conn, events)

    def instances_retrieved(self, conn: sa.Connection, ctx: RequestContext,
                            locations: Sequence[InstanceLocation]) -> None:
        self._per_instance(conn, ctx, EventType.INSTANCE_RETRIEVED, locations,
                           lambda loc: {"transfer_syntax": loc.transfer_syntax_uid})

    def instances_exported(self, conn: sa.Connection, ctx: RequestContext,
                           locations: Sequence[InstanceLocation], destination: str) -> None:
        """Instances released as files outside the archive (``destination``: ``file``...)."""
        self._per_instance(conn, ctx, EventType.EXPORTED, locations,
                           lambda _: {"destination": destination})

    def instances_deleted(self, conn: sa.Connection, ctx: RequestContext,
                          locations: Sequence[InstanceLocation]) -> None:
        self._per_instance(conn, ctx, EventType.DELETED, locations, lambda _: {})

    def _per_instance(self, conn: sa.Connection, ctx: RequestContext, kind: EventType,
                      instances: Sequence[InstanceLocation],
                      extra: Callable[[InstanceLocation], Details]) -> None:
        # A series' instances share their study and series: hash each of those once. One
        # operation, one time for all its events (a retrieve waits for them to commit).
        subject = functools.cache(self._hash.subject)
        now = utc_now()
        events = [
            self._event(ctx, kind,
                        (subject(STUDY, item.study_instance_uid),
                         subject(SERIES, item.series_instance_uid),
                         self._hash.subject(SOP, item.sop_instance_uid)),
                        {"content_sha256": item.sha256, "sop_class": item.sop_class_uid,
                         **extra(item)}, time=now)
            for item in instances
        ]
        if events:
            self.ledger.append(conn, events)

    def searched(self, conn: sa.Connection, ctx: RequestContext, query: Query,
                 matches: int) -> None:
        """A search: its level and the attributes it matched on, never their values."""
        keys = ",".join(sorted(key for key, value in query.filters.items() if value))
        details: Details = {"level": str(query.level), "matching_keys": keys, "matches": matches}
        subjects = self.subjects(study=query.study_uid, series=query.series_uid)
        for key, kind in _IDENTIFYING_KEYS.items():
            for value in _exact_values(query.filters.get(key, "")):
                subjects.append(self._hash.subject(kind, value))
        self.ledger.append(conn, [self._event(ctx, EventType.SEARCHED,
                                              list(dict.fromkeys(subjects)), details)])

    def settings_in_force(self, conn: sa.Connection, ctx: RequestContext,
                          settings: Mapping[str, object]) -> bool:
        """Record ``settings_changed`` if ``settings`` differ from the last recorded ones.

        Called when a node opens: the ledger then says when the configuration
        of the archive changed and which settings changed. Values stay out of
        the ledger (they may name hosts or paths): each is kept as a short
        hash, enough to tell next time which ones changed. Returns whether an
        event was appended.
        """
        hashes = {key: hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()
                                      ).hexdigest()[:16] for key, value in settings.items()}
        canonical = json.dumps(hashes, sort_keys=True)
        digest = hashlib.sha256(canonical.encode()).hexdigest()
        previous = conn.execute(
            sa.select(ledger_leaves.c.event)
            .join(ledger_event_index, ledger_event_index.c.leaf_idx == ledger_leaves.c.idx)
            .where(ledger_event_index.c.event_type == EventType.SETTINGS_CHANGED.value)
            .order_by(ledger_leaves.c.idx.desc()).limit(1)).scalar_one_or_none()
        old: dict[str, str] = {}
        if previous is not None:
            recorded = LedgerEvent.from_json(bytes(previous)).details
            if recorded.get("settings_sha256") == digest:
                return False
            old = json.loads(str(recorded.get("setting_hashes", "{}")))
        changed = sorted(key for key in set(old) | set(hashes) if old.get(key) != hashes.get(key))
        self.ledger.append(conn, [self._event(ctx, EventType.SETTINGS_CHANGED, [], {
            "changed": ",".join(changed), "settings_sha256": digest,
            "setting_hashes": canonical})])
        return True


def _exact_values(value: str) -> list[str]:
    """The single values of a matching key that names identifiers exactly (PS3.4 C.2.2.2.2)."""
    if not value or _WILDCARDS & set(value):
        return []
    return [part.strip() for part in value.replace(",", "\\").split("\\") if part.strip()]
