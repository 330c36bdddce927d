"""A live DICOMweb server over a fresh archive, for the door's tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.support.auth import admin_headers
from tests.support.live import serving
from tests.support.nodes import open_test_node

from dicomvault.archive import Archive


@pytest.fixture
def archive(tmp_path: Path, database_url: str) -> Iterator[Archive]:
    """A node with small size limits, so that the limits can be tested cheaply."""
    with open_test_node(tmp_path / "node", database_url, max_part_bytes=8 * 1024 * 1024,
                        max_request_bytes=64 * 1024 * 1024) as node:
        yield node


@pytest.fixture
def server(archive: Archive) -> Iterator[str]:
    with serving(archive) as url:
        yield url


@pytest.fixture
def http(server: str, archive: Archive) -> Iterator[httpx.Client]:
    """A client of the live server that authenticates as an admin (tests/support/auth.py)."""
    with httpx.Client(base_url=server, timeout=60, headers=admin_headers(archive)) as client:
        yield client
