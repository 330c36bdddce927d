"""An index database, migrated by Alembic, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from dicomvault.index import create_engine_for, upgrade_database


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_engine_for(database_url)
    upgrade_database(engine)
    yield engine
    engine.dispose()
