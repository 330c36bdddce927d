"""A live DICOMweb server over a fresh archive, for the door's tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.support.live import serving

from dicomvault.archive import Archive
from dicomvault.config import load_settings
from dicomvault.node import open_archive


@pytest.fixture
def archive(tmp_path: Path, database_url: str) -> Iterator[Archive]:
    settings = load_settings(data_dir=tmp_path / "node", database_url=database_url,
                             keyring_passphrase="test passphrase", max_part_bytes=8 * 1024 * 1024,
                             max_request_bytes=64 * 1024 * 1024)
    node, _ = open_archive(settings)
    yield node
    node.engine.dispose()


@pytest.fixture
def server(archive: Archive) -> Iterator[str]:
    with serving(archive) as url:
        yield url


@pytest.fixture
def http(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=60) as client:
        yield client
