"""An Archive on a real SQLite (or PostgreSQL) index with a filesystem blob store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dicomvault.archive import Archive
from dicomvault.config import load_settings
from dicomvault.node import open_archive


@pytest.fixture
def archive(tmp_path: Path, database_url: str) -> Iterator[Archive]:
    settings = load_settings(data_dir=tmp_path / "node", database_url=database_url,
                             keyring_passphrase="test passphrase")
    node, _ = open_archive(settings)
    yield node
    node.engine.dispose()
