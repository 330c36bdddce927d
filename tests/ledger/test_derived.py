"""The derived tables (subject and event indexes): checked against the leaves, filled by
migration 0003 from an existing log, and the settings_changed event of a node's opening."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.ledger.conftest import make_event
from tests.support.nodes import open_test_node

from dicomvault.errors import IntegrityError
from dicomvault.index.database import create_engine_for, upgrade_database, write_transaction
from dicomvault.ledger import EventType, Ledger
from dicomvault.ledger.schema import ledger_event_index, ledger_subjects


def test_an_edited_or_missing_index_row_fails_the_integrity_check(engine: sa.Engine,
                                                                  ledger: Ledger) -> None:
    study = ledger.identifiers.subject("study", "1.2.3")
    with write_transaction(engine) as conn:
        ledger.append(conn, [make_event(i, (study,)) for i in range(5)])
    with engine.connect() as conn:
        assert ledger.check_integrity(conn) == 5
    edits = [
        sa.update(ledger_event_index).where(ledger_event_index.c.leaf_idx == 2)
        .values(actor="someone else"),
        sa.delete(ledger_subjects).where(ledger_subjects.c.leaf_idx == 3),
    ]
    for edit in edits:
        with engine.connect() as conn:
            transaction = conn.begin()
            conn.execute(edit)
            with pytest.raises(IntegrityError, match="index"):
                ledger.check_integrity(conn)
            transaction.rollback()


def test_migration_fills_the_event_index_of_an_existing_log(tmp_path: Path,
                                                            ledger: Ledger) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    upgrade_database(engine, "0002_ledger_tables")
    events = [make_event(i) for i in range(7)]
    leaves = sa.table("ledger_leaves", sa.column("idx"), sa.column("leaf_hash"),
                      sa.column("event"), sa.column("event_type"),
                      sa.column("recorded_at", sa.DateTime(timezone=True)))
    with engine.begin() as conn:  # a log written before revision 0003 (no event index)
        conn.execute(sa.insert(leaves), [
            {"idx": i, "leaf_hash": b"\0" * 32, "event": e.to_json(),
             "event_type": e.type.value, "recorded_at": datetime.now(UTC)}
            for i, e in enumerate(events)])
    upgrade_database(engine)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(ledger_event_index.c.leaf_idx, ledger_event_index.c.actor)
                            .order_by(ledger_event_index.c.leaf_idx)).all()
    assert [(int(i), a) for i, a in rows] == [(i, e.actor) for i, e in enumerate(events)]
    engine.dispose()


def test_opening_a_node_records_settings_changes_by_name_only(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'index.sqlite3'}"

    def settings_events() -> list[dict[str, object]]:
        with open_test_node(tmp_path, url) as node, node.engine.connect() as conn:
            return [dict(e.event.details) for e in node.audit.ledger.entries(conn, 0, 100)
                    if e.event.type is EventType.SETTINGS_CHANGED]

    first = settings_events()
    assert len(first) == 1 and "duplicate_policy" in str(first[0]["changed"])
    assert settings_events() == first  # same settings: nothing new
    with open_test_node(tmp_path, url, duplicate_policy="reject",
                        ledger_checkpoint_interval_seconds=60):
        pass
    changed = settings_events()  # opened with new settings, then back with the defaults
    assert len(changed) == 3
    names = "duplicate_policy,ledger_checkpoint_interval_seconds"
    assert changed[1]["changed"] == changed[2]["changed"] == names
    assert changed[2]["settings_sha256"] == first[0]["settings_sha256"]
    assert "reject" not in str(changed[1])  # values stay out of the ledger
