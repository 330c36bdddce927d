"""The Alembic history creates exactly the ledger tables declared in ``ledger.schema``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from dicomvault.index import create_engine_for, upgrade_database
from dicomvault.index.schema import metadata
from dicomvault.ledger.schema import LEDGER_TABLES

NAMES = {table.name for table in LEDGER_TABLES}


def _ledger_only(obj: object, name: str | None, type_: str, reflected: bool,
                 compare_to: object) -> bool:
    if type_ == "table":
        return name in NAMES
    table = getattr(obj, "table", None)
    return table is None or table.name in NAMES


@pytest.fixture
def migrated(database_url: str) -> Iterator[sa.Engine]:
    engine = create_engine_for(database_url)
    upgrade_database(engine)
    yield engine
    engine.dispose()


def test_migrations_create_exactly_the_declared_ledger_schema(migrated: sa.Engine) -> None:
    with migrated.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_object": _ledger_only})
        assert compare_metadata(context, metadata) == []
        assert set(sa.inspect(conn).get_table_names()) >= NAMES
