"""Nodes with a storage policy, on SQLite and PostgreSQL, for the archive-level codec tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.nodes import open_test_node

from dicomvault.archive import Archive


@pytest.fixture
def ingest_archive(tmp_path: Path, database_url: str) -> Iterator[Archive]:
    """A node whose default policy compresses on ingest (JPEG-LS; colour modalities HTJ2K)."""
    with open_test_node(tmp_path / "node", database_url,
                        storage_compression_when="ingest") as node:
        yield node
