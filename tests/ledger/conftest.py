"""Fixtures of the ledger tests: keys, a ledger, a database holding only the ledger tables."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from dicomvault.index.database import create_engine_for
from dicomvault.index.schema import metadata
from dicomvault.ledger import EventType, Ledger, LedgerEvent, LedgerKeys
from dicomvault.ledger.schema import LEDGER_TABLES

ORIGIN = "archive.example-hospital.org/ledger"


@pytest.fixture
def keys() -> LedgerKeys:
    return LedgerKeys.generate()


@pytest.fixture
def ledger(keys: LedgerKeys) -> Ledger:
    return Ledger(keys, origin=ORIGIN)


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    """The ledger tables on SQLite and on PostgreSQL (a schema per test, see tests/conftest.py)."""
    engine = create_engine_for(database_url)
    metadata.create_all(engine, tables=list(LEDGER_TABLES))
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[sa.Engine]:
    """The ledger tables in a SQLite file (for tamper drills that edit rows by hand)."""
    engine = create_engine_for(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    metadata.create_all(engine, tables=list(LEDGER_TABLES))
    yield engine
    engine.dispose()


def make_event(number: int, subjects: tuple[str, ...] = (), *,
               kind: EventType = EventType.SEARCHED, **details: str | int | bool) -> LedgerEvent:
    """A valid event that differs from others by ``number``."""
    return LedgerEvent(
        type=kind,
        actor=f"user{number % 7}",
        door="DICOMweb",
        client="127.0.0.1",
        time=f"2025-01-01T00:00:{number % 60:02d}.{number:06d}Z",
        subjects=subjects,
        details={"n": number, **details},
    )


@pytest.fixture
def event_factory() -> Callable[..., LedgerEvent]:
    return make_event
