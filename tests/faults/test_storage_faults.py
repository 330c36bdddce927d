"""Storage faults: disk full, read-only storage, an unreachable S3 endpoint.

Each: the client gets a clear error (HTTP 503, OutOfResourcesError whose DIMSE
status is 0xA700), nothing unacknowledged is indexed or left behind, and the
archive recovers by itself when the fault clears (no restart).

Disk full and read-only storage are real filesystem states (a tiny tmpfs,
filled or remounted read-only), not injected errors; the S3 endpoint goes
away behind a TCP forwarder the test cuts.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.faults.conftest import fill, remount, stow, tmpfs
from tests.support.archive_data import CTX, all_locations, study_files
from tests.support.auth import admin_headers
from tests.support.live import serving
from tests.support.nodes import open_test_node
from tests.support.proxy import cuttable
from tests.support.s3 import moto_s3

from dicomvault.archive import Archive
from dicomvault.errors import OutOfResourcesError
from dicomvault.storage import FilesystemBlobStore


def _no_debris(node: Archive) -> None:
    """Every blob present is indexed, nothing is staged."""
    indexed = {loc.blob_name for loc in all_locations(node)}
    assert set(node.blobs.names()) == indexed
    if isinstance(node.blobs, FilesystemBlobStore):
        assert list(node.blobs.staging_dir.iterdir()) == []


def test_disk_full_is_503_and_stores_resume_when_space_returns(tmp_path: Path) -> None:
    files = list(study_files(seed=61, count=6).values())
    with tmpfs(tmp_path / "node" / "blobs", "512k") as blobs, open_test_node(
            tmp_path / "node", f"sqlite:///{tmp_path / 'i.sqlite3'}") as node, \
            serving(node) as url:
        auth = admin_headers(node)
        assert stow(url, files[:2], auth).status_code == 200
        filler = fill(blobs)
        refused = stow(url, files[2:4], auth)
        assert refused.status_code == 503
        assert "ENOSPC" in refused.json()["reason"]
        with pytest.raises(OutOfResourcesError) as caught:
            node.store_bytes(files[4], CTX)  # what the DIMSE door calls
        assert caught.value.dimse_status == 0xA700
        assert len(all_locations(node)) == 2
        _no_debris(node)
        filler.unlink()  # the operator frees space: no restart needed
        assert stow(url, files[2:], auth).status_code == 200
        assert len(all_locations(node)) == 6
        _no_debris(node)


def test_read_only_storage_is_503_and_stores_resume_when_writable(tmp_path: Path) -> None:
    files = list(study_files(seed=62, count=4).values())
    with tmpfs(tmp_path / "node" / "blobs", "4m") as blobs, open_test_node(
            tmp_path / "node", f"sqlite:///{tmp_path / 'i.sqlite3'}") as node, \
            serving(node) as url:
        auth = admin_headers(node)
        assert stow(url, files[:1], auth).status_code == 200
        remount(blobs, "ro")
        try:
            refused = stow(url, files[1:3], auth)
            assert refused.status_code == 503
            assert "EROFS" in refused.json()["reason"]
            assert len(all_locations(node)) == 1
        finally:
            remount(blobs, "rw")
        assert stow(url, files[1:], auth).status_code == 200
        assert len(all_locations(node)) == 4
        _no_debris(node)


def test_unreachable_s3_is_503_and_stores_resume_when_it_returns(tmp_path: Path) -> None:
    files = list(study_files(seed=63, count=4).values())
    with moto_s3() as s3:
        bucket = s3.bucket("faults")
        port = int(s3.endpoint_url.rsplit(":", 1)[1])
        with cuttable("127.0.0.1", port) as proxy:
            settings = {**s3.settings(), "s3_endpoint_url": f"http://127.0.0.1:{proxy.port}",
                        "s3_max_attempts": 2}
            with open_test_node(tmp_path / "node", f"sqlite:///{tmp_path / 'i.sqlite3'}",
                                blob_backend="s3", s3_bucket=bucket, **settings) as node, \
                    serving(node) as url:
                auth = admin_headers(node)
                assert stow(url, files[:1], auth).status_code == 200
                proxy.cut()
                refused = stow(url, files[1:3], auth)
                assert refused.status_code == 503
                assert "object storage is unreachable" in refused.json()["reason"]
                with pytest.raises(OutOfResourcesError):
                    node.read_instance(all_locations(node)[0])  # retrieve: 503 too
                assert len(all_locations(node)) == 1
                proxy.restore()
                assert stow(url, files[1:], auth).status_code == 200
                assert len(all_locations(node)) == 4
                _no_debris(node)
