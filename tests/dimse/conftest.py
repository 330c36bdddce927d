"""DIMSE tests run on SQLite nodes of their own, the door served in the test process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.dimse import DimseNode, dimse_node


@pytest.fixture
def node(tmp_path: Path) -> Iterator[DimseNode]:
    with dimse_node(tmp_path / "node") as served:
        yield served
