"""Engines, connection settings and the Alembic migrations."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Engine

from dicomvault.errors import ConfigurationError
from dicomvault.index import create_engine_for, current_revision, upgrade_database
from dicomvault.index.database import write_transaction
from dicomvault.index.schema import instances, metadata, patients, series, studies

INDEX_TABLES = {t.name for t in (patients, studies, series, instances)}


def _index_only(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Restrict the comparison to the four index tables (ledger tables come later)."""
    if type_ == "table":
        return name in INDEX_TABLES
    table = getattr(obj, "table", None)
    return table is None or table.name in INDEX_TABLES


def test_migration_creates_exactly_the_index_schema(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_object": _index_only}
        )
        differences = compare_metadata(context, metadata)
        present = set(sa.inspect(conn).get_table_names())
    assert differences == []
    assert present >= INDEX_TABLES


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
