"""Opening a real node (index, keyring, blob store, ledger) in a test's own directory."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dicomvault.archive import Archive
from dicomvault.config import load_settings
from dicomvault.node import open_archive

TEST_PASSPHRASE = "test passphrase"


@contextmanager
def open_test_node(data_dir: Path, database_url: str, **overrides: Any) -> Iterator[Archive]:
    """An archive on ``database_url`` with its data under ``data_dir``; closed afterwards."""
    settings = load_settings(data_dir=data_dir, database_url=database_url,
                             keyring_passphrase=TEST_PASSPHRASE, **overrides)
    node, _ = open_archive(settings)
    try:
        yield node
    finally:
        node.close()
