"""The auditor's views over the ledger: who accessed a patient, what a user did, and so on.

Each view is a query over the ledger's derived indexes (``ledger_event_index``,
``ledger_subjects``) that returns a page of events read from their leaves,
newest first, with the total for paging. An event whose leaf does not match
its index row (an edited index) raises :class:`IntegrityError` rather than
being shown wrongly.

* :meth:`AuditViews.patient_access`: every event about any study, series or
  instance of a patient, found from the keyed hash of the Patient ID the
  auditor typed: the patient's ``instance_stored`` events name their study,
  series and SOP subjects, and every event naming one of those is an access
  to that patient's images (retrievals, exports, deletions, shares, searches
  for the patient's ID or UIDs).
* :meth:`AuditViews.user_activity`, :meth:`AuditViews.failed_logins`,
  :meth:`AuditViews.exports`, :meth:`AuditViews.events` (any filter),
  :meth:`AuditViews.about_subject` (one keyed hash).

Using a view is itself recorded (``audit_log_used``, DICOM "Audit Log Used"
PS3.15 A.5.3.2), with the view's name, which filters were set and how many
events matched; a patient view names the patient's keyed hash.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from dicomvault.access import RequestContext
from dicomvault.errors import IntegrityError, InvalidInputError
from dicomvault.index.database import write_transaction
from dicomvault.ledger import EventType, Ledger, LedgerEvent, utc_now
from dicomvault.ledger.derived import event_time
from dicomvault.ledger.events import subject_hash
from dicomvault.ledger.identifiers import PATIENT
from dicomvault.ledger.schema import ledger_event_index, ledger_leaves, ledger_subjects

MAX_LIMIT = 1000
DEFAULT_LIMIT = 50


def _integer(params: Mapping[str, str], name: str, default: int) -> int:
    text = params.get(name)
    if text is None or text == "":
        return default
    if not text.isdigit():
        raise InvalidInputError(f"{name} must be a non-negative integer")
    return int(text)


def _when(text: str, name: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInputError(f"{name} must be an ISO 8601 date or date-time") from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Page:
    """Which slice of a view: ``offset`` events skipped, at most ``limit`` returned."""

    offset: int = 0
    limit: int = DEFAULT_LIMIT

    def __post_init__(self) -> None:
        if self.offset < 0 or not 1 <= self.limit <= MAX_LIMIT:
            raise InvalidInputError(f"offset must be >= 0 and limit 1..{MAX_LIMIT}")

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> Page:
        """``?offset=&limit=`` as the web UI sends them."""
        return cls(_integer(params, "offset", 0), _integer(params, "limit", DEFAULT_LIMIT))


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Filters every view accepts (all optional, combined with AND)."""

    types: frozenset[EventType] = frozenset()
    actor: str | None = None
    door: str | None = None
    client: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> AuditFilter:
        """``?type=a,b&actor=&door=&client=&since=&until=`` (ISO 8601 times, UTC by default)."""
        try:
            types = frozenset(EventType(t.strip()) for t in params.get("type", "").split(",")
                              if t.strip())
        except ValueError as exc:
            raise InvalidInputError(f"unknown event type in type={params.get('type')}") from exc
        since, until = params.get("since"), params.get("until")
        return cls(types=types, actor=params.get("actor") or None,
                   door=params.get("door") or None, client=params.get("client") or None,
                   since=_when(since, "since") if since else None,
                   until=_when(until, "until") if until else None)

    def names(self) -> list[str]:
        """Which filters are set (recorded in ``audit_log_used``; values are not)."""
        return [f.name for f in dataclasses.fields(self) if getattr(self, f.name)]

    def clauses(self) -> list[sa.ColumnElement[bool]]:
        index = ledger_event_index.c
        clauses: list[sa.ColumnElement[bool]] = []
        if self.types:
            clauses.append(index.event_type.in_(sorted(t.value for t in self.types)))
        for column, value in ((index.actor, self.actor), (index.door, self.door),
                              (index.client, self.client)):
            if value is not None:
                clauses.append(column == value)
        if self.since is not None:
            clauses.append(index.event_time >= self.since)
        if self.until is not None:
            clauses.append(index.event_time <= self.until)
        return clauses

    def matches(self, event: LedgerEvent) -> bool:
        """The same filter on the decoded event (guards against an edited index)."""
        time = event_time(event.time)
        return ((not self.types or event.type in self.types)
                and self.actor in (None, event.actor[:255])
                and self.door in (None, event.door)
                and self.client in (None, event.client[:255])
                and (self.since is None or time >= self.since)
                and (self.until is None or time <= self.until))


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One event as a view shows it."""

    index: int
    event: LedgerEvent
    recorded_at: datetime

    def to_json(self) -> dict[str, object]:
        return {"index": self.index, "recorded_at": self.recorded_at.isoformat(),
                **self.event.to_dict()}


@dataclass(frozen=True, slots=True)
class AuditPage:
    """A page of a view: its records (newest first) and the total number that matched."""

    view: str
    total: int
    offset: int
    limit: int
    records: Sequence[AuditRecord]


def page_json(page: AuditPage) -> dict[str, object]:
    """The JSON body of a view (what the web UI pages through)."""
    return {"view": page.view, "total": page.total, "offset": page.offset,
            "limit": page.limit, "items": [record.to_json() for record in page.records]}


CSV_COLUMNS = ("index", "time", "type", "actor", "door", "client", "subjects", "details")


def page_csv(page: AuditPage) -> str:
    """The records as CSV (RFC 4180), details as a JSON object in one column."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for record in page.records:
        event = record.event
        writer.writerow([record.index, event.time, event.type.value, event.actor, event.door,
                         event.client, " ".join(event.subjects),
                         json.dumps(dict(event.details), sort_keys=True)])
    return out.getvalue()


class AuditViews:
    """The views (see the module docstring); each call records its own use."""

    def __init__(self, engine: sa.Engine, ledger: Ledger) -> None:
        self.engine = engine
        self.ledger = ledger

    def events(self, ctx: RequestContext, filters: AuditFilter, page: Page) -> AuditPage:
        return self._view(ctx, "events", [], filters, page)

    def patient_access(self, ctx: RequestContext, patient: str, filters: AuditFilter,
                       page: Page) -> AuditPage:
        """Events about the patient's studies; ``patient`` is the keyed hash of its Patient ID
        (``"patient:<hash>"`` or the bare hash)."""
        wanted = subject_hash(patient)
        subjects = ledger_subjects.alias("patient_entries")
        related = ledger_subjects.alias("related")
        named = (sa.select(related.c.subject)
                 .where(related.c.leaf_idx.in_(
                     sa.select(subjects.c.leaf_idx).where(subjects.c.subject == wanted))))
        touching = sa.select(ledger_subjects.c.leaf_idx).where(
            sa.or_(ledger_subjects.c.subject.in_(named), ledger_subjects.c.subject == wanted))
        return self._view(ctx, "patient_access", [ledger_event_index.c.leaf_idx.in_(touching)],
                          filters, page, subjects=[f"{PATIENT}:{wanted}"])

    def user_activity(self, ctx: RequestContext, actor: str, filters: AuditFilter,
                      page: Page) -> AuditPage:
        return self._view(ctx, "user_activity", [],
                          dataclasses.replace(filters, actor=actor), page)

    def failed_logins(self, ctx: RequestContext, filters: AuditFilter, page: Page) -> AuditPage:
        return self._view(ctx, "failed_logins", [], dataclasses.replace(
            filters, types=frozenset({EventType.LOGIN_FAILED})), page)

    def exports(self, ctx: RequestContext, filters: AuditFilter, page: Page) -> AuditPage:
        return self._view(ctx, "exports", [], dataclasses.replace(
            filters, types=frozenset({EventType.EXPORTED})), page)

    def about_subject(self, ctx: RequestContext, subject: str, page: Page) -> AuditPage:
        """Events naming one keyed hash (a UID or Patient ID hashed with the node's key)."""
        wanted = subject_hash(subject)
        clause = ledger_event_index.c.leaf_idx.in_(
            sa.select(ledger_subjects.c.leaf_idx).where(ledger_subjects.c.subject == wanted))
        typed = [subject] if ":" in subject else []
        return self._view(ctx, "about_subject", [clause], AuditFilter(), page, subjects=typed)

    def _view(self, ctx: RequestContext, name: str, clauses: list[sa.ColumnElement[bool]],
              filters: AuditFilter, page: Page, *, subjects: Sequence[str] = ()) -> AuditPage:
        where = sa.and_(sa.true(), *clauses, *filters.clauses())
        index = ledger_event_index.c
        with write_transaction(self.engine) as conn:
            total = conn.execute(sa.select(sa.func.count()).select_from(ledger_event_index)
                                 .where(where)).scalar_one()
            rows = conn.execute(
                sa.select(ledger_leaves.c.idx, ledger_leaves.c.event, ledger_leaves.c.recorded_at)
                .join(ledger_event_index, index.leaf_idx == ledger_leaves.c.idx)
                .where(where).order_by(ledger_leaves.c.idx.desc())
                .offset(page.offset).limit(page.limit)).all()
            records = [_record(int(idx), bytes(data), recorded, filters)
                       for idx, data, recorded in rows]
            self.ledger.append(conn, [LedgerEvent(
                type=EventType.AUDIT_LOG_USED, actor=ctx.actor, door=ctx.door.value,
                client=ctx.client_address, time=utc_now(), subjects=tuple(subjects),
                details={"view": name, "filters": ",".join(filters.names()),
                         "results": int(total)})])
        return AuditPage(name, int(total), page.offset, page.limit, records)


def _record(index: int, data: bytes, recorded: datetime, filters: AuditFilter) -> AuditRecord:
    event = LedgerEvent.from_json(data)
    if not filters.matches(event):
        raise IntegrityError(f"ledger event index of entry {index} does not match its event")
    if recorded.tzinfo is None:
        recorded = recorded.replace(tzinfo=UTC)
    return AuditRecord(index, event, recorded)
