"""A live node for the UI's non-browser tests (static shell, its API doors, wiring)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.live import serving
from tests.support.nodes import open_test_node

from dicomvault.archive import Archive


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[Archive]:
    with open_test_node(tmp_path / "node", f"sqlite:///{tmp_path / 'index.sqlite3'}",
                        backup_target=str(tmp_path / "backup")) as node:
        yield node


@pytest.fixture
def server(archive: Archive) -> Iterator[str]:
    with serving(archive) as url:
        yield url
