"""Derived tables of the ledger: the subject index and the event index.

Both are written with every append and hold nothing that is not in the
events themselves, so they can always be checked against (and rebuilt from)
the leaves. They are not covered by the Merkle tree: an attacker who edits
them can hide an event from an audit view, never change what it says,
because the views read every event from its leaf. :func:`check` catches
such edits during :meth:`~dicomvault.ledger.Ledger.check_integrity`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa

from dicomvault.errors import IntegrityError
from dicomvault.ledger.events import LedgerEvent, subject_hash
from dicomvault.ledger.schema import ledger_event_index, ledger_subjects

_INDEX_TEXT = 255
# Built once: constructing and cache-keying an insert costs more than running it.
_INSERT_SUBJECTS = sa.insert(ledger_subjects)
_INSERT_EVENT_INDEX = sa.insert(ledger_event_index)


def event_time(text: str) -> datetime:
    """An event's RFC 3339 UTC ``time`` as an aware datetime (fraction cut to microseconds)."""
    stamp, _, fraction = text.rstrip("Z").partition(".")
    # fromisoformat: the same value as strptime "%Y-%m-%dT%H:%M:%S" for the RFC 3339
    # times events hold (LedgerEvent checks them), several times faster.
    parsed = datetime.fromisoformat(stamp).replace(tzinfo=UTC)
    return parsed.replace(microsecond=int((fraction + "000000")[:6]))


def _index_row(index: int, event: LedgerEvent) -> dict[str, object]:
    return {
        "leaf_idx": index,
        "event_type": event.type.value,
        "actor": event.actor[:_INDEX_TEXT],
        "door": event.door,
        "client": event.client[:_INDEX_TEXT],
        "event_time": event_time(event.time),
    }


def _subject_rows(index: int, event: LedgerEvent) -> list[dict[str, object]]:
    return [{"subject": subject_hash(s), "leaf_idx": index}
            for s in dict.fromkeys(subject_hash(s) for s in event.subjects)]


def insert(conn: sa.Connection, first_index: int, events: Sequence[LedgerEvent]) -> None:
    """Write the derived rows of ``events``, the first of which is entry ``first_index``."""
    subjects = [row for offset, event in enumerate(events)
                for row in _subject_rows(first_index + offset, event)]
    if subjects:
        conn.execute(_INSERT_SUBJECTS, subjects)
    conn.execute(_INSERT_EVENT_INDEX,
                 [_index_row(first_index + offset, event) for offset, event in enumerate(events)])


def _normalised(row: dict[str, object]) -> tuple[object, ...]:
    time = row["event_time"]
    if isinstance(time, datetime) and time.tzinfo is None:  # SQLite keeps no offset
        time = time.replace(tzinfo=UTC)
    return (row["leaf_idx"], row["event_type"], row["actor"], row["door"], row["client"], time)


def check(conn: sa.Connection, start: int, events: Sequence[LedgerEvent]) -> None:
    """Raise :class:`IntegrityError` unless the derived rows of entries ``start...`` match."""
    if not events:
        return
    stop = start + len(events)
    expected_index = [_normalised(_index_row(start + i, e)) for i, e in enumerate(events)]
    stored_index = [_normalised(dict(row._mapping)) for row in conn.execute(
        sa.select(ledger_event_index)
        .where(ledger_event_index.c.leaf_idx >= start, ledger_event_index.c.leaf_idx < stop)
        .order_by(ledger_event_index.c.leaf_idx))]
    if stored_index != expected_index:
        raise IntegrityError(f"ledger event index of entries {start}..{stop - 1} was altered")
    expected_subjects = {(row["subject"], row["leaf_idx"]) for i, e in enumerate(events)
                         for row in _subject_rows(start + i, e)}
    stored_subjects = set(conn.execute(
        sa.select(ledger_subjects.c.subject, ledger_subjects.c.leaf_idx)
        .where(ledger_subjects.c.leaf_idx >= start, ledger_subjects.c.leaf_idx < stop)).all())
    if {(s, int(i)) for s, i in stored_subjects} != expected_subjects:
        raise IntegrityError(f"ledger subject index of entries {start}..{stop - 1} was altered")
