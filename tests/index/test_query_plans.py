"""Typical study searches use an index on SQLite instead of scanning a table.

The latency target (well under 5 ms median on 100,000 instances) holds only
while these plans do; a full scan of ``patients`` or ``studies`` here means an
index is missing from ``schema.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from tests.index.factories import make_records

from dicomvault.index import (
    Query,
    QueryLevel,
    create_engine_for,
    insert_instances,
    run_query,
    upgrade_database,
)


@pytest.fixture(scope="module")
def sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = create_engine_for(f"sqlite:///{tmp_path_factory.mktemp('plans') / 'i.sqlite3'}")
    upgrade_database(engine)
    with engine.begin() as conn:
        insert_instances(
            conn,
            make_records(
                seed=60,
                patients=40,
                studies_per_patient=2,
                series_per_study=2,
                instances_per_series=2,
            ),
        )
        conn.exec_driver_sql("ANALYZE")
    yield engine
    engine.dispose()


def plan_of(engine: Engine, query: Query) -> list[str]:
    captured: list[tuple[str, Any]] = []

    def capture(
        _conn: object, _cursor: object, statement: str, parameters: Any, *_rest: object
    ) -> None:
        captured.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        with engine.connect() as conn:
            run_query(conn, query)
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)
    statement, parameters = captured[-1]
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
    return [row[-1] for row in rows]


@pytest.mark.parametrize(
    ("params", "index"),
    [
        ([("PatientID", "PID06000003")], "sqlite_autoindex_patients_1"),
        ([("PatientName", "DOE^J*")], "ix_patients_name_norm"),
        ([("PatientName", "doe^jane")], "ix_patients_name_norm"),
        ([("StudyDate", "20240301-20240331")], "ix_studies_date"),
        ([("AccessionNumber", "A60*")], "ix_studies_accession"),
        ([("ModalitiesInStudy", "MR")], "ix_series_study"),
    ],
)
def test_typical_study_searches_use_an_index(
    sqlite_engine: Engine, params: list[tuple[str, str]], index: str
) -> None:
    plan = plan_of(
        sqlite_engine, Query.from_qido_params(QueryLevel.STUDY, [*params, ("limit", "100")])
    )
    assert any(index in step for step in plan), plan
    assert not any(
        step.startswith(("SCAN patients", "SCAN studies")) and "USING" not in step for step in plan
    ), plan
