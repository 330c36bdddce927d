"""A live node for the security tests (SQLite; the scope tests also run on PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from tests.support.live import serving

from dicomvault.archive import Archive


@pytest.fixture
def server(archive: Archive) -> Iterator[str]:
    with serving(archive) as url:
        yield url


@pytest.fixture
def anonymous(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=60) as client:
        yield client
