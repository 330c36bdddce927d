"""Engines, connection settings and the Alembic migrations."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Engine

from dicomvault.errors import ConfigurationError
from dicomvault.index import create_engine_for, current_revision, upgrade_database
from dicomvault.index.database import flush_log, write_transaction
from dicomvault.index.schema import instances, metadata, patients, series, studies
from dicomvault.ledger.schema import LEDGER_TABLES

INDEX_TABLES = {t.name for t in (patients, studies, series, instances)}
LEDGER_TABLE_NAMES = {t.name for t in LEDGER_TABLES}


def test_migrations_create_exactly_the_declared_schema(engine: Engine) -> None:
    """Every table declared on the shared metadata (index, ledger, and whatever later
    subsystems add) is created by the migrations, column for column."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)
        present = set(sa.inspect(conn).get_table_names())
    assert differences == []
    assert present >= INDEX_TABLES | LEDGER_TABLE_NAMES


def test_upgrade_is_idempotent_and_records_the_revision(engine: Engine) -> None:
    first = current_revision(engine)
    upgrade_database(engine)
    assert first is not None
    assert current_revision(engine) == first


def test_sqlite_connections_are_durable_and_strict(tmp_path: object) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path}/x.sqlite3")
    try:
        with engine.connect() as conn:
            pragma = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
            }
            like_is_case_sensitive = conn.exec_driver_sql("SELECT 'a' LIKE 'A'").scalar() == 0
    finally:
        engine.dispose()
    assert pragma == {
        "journal_mode": "wal",
        "synchronous": 2,
        "foreign_keys": 1,
        "busy_timeout": 30000,
    }
    assert like_is_case_sensitive


def test_sqlite_foreign_keys_are_enforced(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("foreign_keys pragma is SQLite only; PostgreSQL always enforces them")
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(
            series.insert().values(
                study_pk=999,
                SeriesInstanceUID="1.2",
                Modality="CT",
                SeriesDescription="",
                BodyPartExamined="",
                PerformedProcedureStepStartDate="",
                PerformedProcedureStepStartTime="",
                ScheduledProcedureStepID="",
                RequestedProcedureID="",
                NumberOfSeriesRelatedInstances=0,
            )
        )


def test_write_transaction_rolls_back_on_error(engine: Engine) -> None:
    with pytest.raises(RuntimeError), write_transaction(engine) as conn:
        conn.execute(
            patients.insert().values(
                PatientID="X",
                IssuerOfPatientID="",
                PatientName="",
                PatientName_norm="",
                PatientBirthDate="",
                PatientSex="",
                NumberOfPatientRelatedStudies=0,
                NumberOfPatientRelatedSeries=0,
                NumberOfPatientRelatedInstances=0,
            )
        )
        raise RuntimeError("abort")
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(patients)).scalar() == 0


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("postgresql://u@h/db", "postgresql+psycopg"),
        ("postgres://u@h/db", "postgresql+psycopg"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg"),
        ("sqlite:///x.db", "sqlite"),
    ],
)
def test_urls_are_pinned_to_the_supported_drivers(url: str, driver: str) -> None:
    engine = create_engine_for(url)
    assert engine.url.drivername == driver
    engine.dispose()


@pytest.mark.parametrize("url", ["mysql://u@h/db", "not a url"])
def test_unsupported_urls_are_refused(url: str) -> None:
    with pytest.raises(ConfigurationError):
        create_engine_for(url)


def _synchronous_setting(conn: sa.Connection) -> str:
    if conn.dialect.name == "sqlite":
        level = conn.exec_driver_sql("PRAGMA synchronous").scalar_one()
        return {1: "deferred", 2: "flushed"}[level]
    value = conn.exec_driver_sql("SHOW synchronous_commit").scalar_one()
    return "deferred" if value == "off" else "flushed"


def test_access_records_may_commit_without_waiting_for_the_flush(engine: Engine) -> None:
    with write_transaction(engine, flush=False) as conn:
        assert _synchronous_setting(conn) == "deferred"
    with write_transaction(engine) as conn:  # the pooled connection is set back
        assert _synchronous_setting(conn) == "flushed"
    flush_log(engine)


def test_a_deferred_commit_survives_a_killed_process(tmp_path: Path) -> None:
    """Committed with flush=False, then the process dies at once (like kill -9): the row
    is there when the database is opened again."""
    url = f"sqlite:///{tmp_path / 'index.sqlite3'}"
    upgrade_database(create_engine_for(url))
    script = textwrap.dedent(f"""
        import os
        from dicomvault.index import create_engine_for
        from dicomvault.index.database import write_transaction
        engine = create_engine_for({url!r})
        with write_transaction(engine, flush=False) as conn:
            conn.exec_driver_sql(
                "INSERT INTO ledger_head (id, tree_size, root_hash) VALUES (7, 1, x'00')")
        os._exit(9)
    """)
    result = subprocess.run([sys.executable, "-c", script], check=False)
    assert result.returncode == 9
    with create_engine_for(url).connect() as conn:
        assert conn.exec_driver_sql("SELECT tree_size FROM ledger_head WHERE id = 7").scalar() == 1


def test_the_log_flusher_checkpoints_deferred_commits(tmp_path: Path) -> None:
    from dicomvault.index.flusher import LogFlusher

    engine = create_engine_for(f"sqlite:///{tmp_path / 'index.sqlite3'}")
    upgrade_database(engine)
    with write_transaction(engine, flush=False) as conn:
        conn.exec_driver_sql("INSERT INTO ledger_head (id, tree_size, root_hash) "
                             "VALUES (8, 1, x'00')")
    LogFlusher(engine).run_once()
    with engine.connect() as conn:
        busy, log_frames, checkpointed = conn.exec_driver_sql(
            "PRAGMA wal_checkpoint(PASSIVE)").one()
    assert busy == 0 and log_frames == checkpointed  # nothing left unflushed in the WAL
