"""Fixtures shared by every test package."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from hypothesis import settings as hypothesis_settings
from tests.support.nodes import open_test_node

from dicomvault.archive import Archive

# Property tests check what holds, not how fast: hypothesis's per-example deadline would
# turn the shared machine's load into failures (a timed assertion in disguise).
hypothesis_settings.register_profile("dicomvault", deadline=None)
hypothesis_settings.load_profile("dicomvault")

POSTGRES_URL = os.environ.get(
    "DICOMVAULT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
_postgres_error: list[str] = []  # filled once per session by _postgres_reason()


def _postgres_reason() -> str | None:
    """Why PostgreSQL cannot be used (``None`` if it can), probed once per session."""
    if not _postgres_error:
        engine = sa.create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        try:
            with engine.connect():
                _postgres_error.append("")
        except sa.exc.OperationalError as exc:
            _postgres_error.append(f"PostgreSQL at {POSTGRES_URL} unreachable: {exc.orig}")
        finally:
            engine.dispose()
    return _postgres_error[0] or None


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of an empty database, once on SQLite and once on PostgreSQL.

    PostgreSQL gets a schema of its own per test (``dv_test_<random>``, set as
    ``search_path`` through the connection options) so that engineers running
    tests at the same time never see each other's tables; it is dropped after
    the test. Without a reachable server the PostgreSQL variant skips, except
    under ``CI=true`` where it fails.
    """
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'index.sqlite3'}"
        return
    reason = _postgres_reason()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    schema = f"dv_test_{secrets.token_hex(6)}"
    admin = sa.create_engine(POSTGRES_URL)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        separator = "&" if "?" in POSTGRES_URL else "?"
        yield f"{POSTGRES_URL}{separator}options={quote(f'-csearch_path={schema}')}"
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        admin.dispose()


@pytest.fixture
def archive(tmp_path: Path, database_url: str) -> Iterator[Archive]:
    """A fresh node (on SQLite and on PostgreSQL) with its data under ``tmp_path/node``."""
    with open_test_node(tmp_path / "node", database_url) as node:
        yield node
