"""The index database goes away (PostgreSQL behind a TCP forwarder the test cuts).

Stores fail with 503 (DIMSE 0xA700), their blobs are removed (nothing
unacknowledged is left behind), searches fail with 503 rather than 500, and
the node recovers by itself when the database returns (stale pooled
connections are replaced: ``pool_pre_ping``).
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from tests.faults.conftest import stow
from tests.support.archive_data import CTX, all_locations, study_files
from tests.support.auth import admin_headers
from tests.support.live import serving
from tests.support.nodes import open_test_node
from tests.support.proxy import cuttable

from dicomvault.errors import OutOfResourcesError
from dicomvault.index import Query, QueryLevel


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_database_that_goes_away_is_503_and_the_node_recovers(tmp_path: Path,
                                                                database_url: str) -> None:
    files = list(study_files(seed=71, count=5).values())
    with cuttable("127.0.0.1", 5432) as proxy:
        url = database_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
        assert url != database_url
        with open_test_node(tmp_path / "node", url) as node, serving(node) as base:
            auth = admin_headers(node)
            assert stow(base, files[:1], auth).status_code == 200
            proxy.cut()
            refused = stow(base, files[1:3], auth)
            assert refused.status_code == 503
            assert "database is unavailable" in refused.json()["reason"]
            search = stow_search(base, auth)
            assert search == 503
            with pytest.raises(OutOfResourcesError) as caught:
                node.store_bytes(files[3], CTX)
            assert caught.value.dimse_status == 0xA700
            assert len(list(node.blobs.names())) == 1  # the refused stores left no blob
            proxy.restore()
            assert stow(base, files[1:], auth).status_code == 200
            assert len(all_locations(node)) == 5
            assert len(node.find(Query(level=QueryLevel.IMAGE), CTX)) == 5


def stow_search(base: str, auth: dict[str, str]) -> int:
    return httpx.get(f"{base}/dicom-web/instances", headers=auth, timeout=60).status_code
