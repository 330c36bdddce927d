"""The S3 blob store against real S3-protocol servers: moto's standalone server and
OpenStack Swift's s3api (a production S3 implementation, from Debian)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.archive_data import CTX, contents, study_files
from tests.support.nodes import open_test_node
from tests.support.s3 import S3Server, moto_s3
from tests.support.swift import swift_s3

from dicomvault.errors import IntegrityError
from dicomvault.storage import new_blob_name
from dicomvault.storage.s3 import MIN_PART_SIZE, S3BlobStore


@pytest.fixture(scope="module", params=["moto", "swift"])
def s3(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
       ) -> Iterator[S3Server]:
    if request.param == "moto":
        with moto_s3() as server:
            yield server
    else:
        with swift_s3(tmp_path_factory.mktemp("swift")) as server:
            yield server


@pytest.fixture
def store(s3: S3Server) -> S3BlobStore:
    return S3BlobStore(s3.connection(), s3.bucket("blobs"), f"t{time.monotonic_ns()}/",
                       part_size=MIN_PART_SIZE)


def _put(store: S3BlobStore, data: bytes, chunk: int = 1 << 20) -> str:
    writer = store.begin(new_blob_name())
    for start in range(0, len(data), chunk):
        writer.write(data[start:start + chunk])
    writer.commit()
    return writer.name


def test_small_object_round_trip_and_listing(store: S3BlobStore) -> None:
    name = _put(store, b"sealed bytes")
    assert b"".join(store.read(name)) == b"sealed bytes"
    assert store.exists(name) and list(store.names()) == [name]
    assert abs(store.committed_at(name) - time.time()) < 600
    store.delete(name)
    store.delete(name)  # deleting a missing object is not an error
    assert not store.exists(name)
    with pytest.raises(IntegrityError, match="missing"):
        b"".join(store.read(name))


def test_large_object_goes_up_as_a_multipart_upload(store: S3BlobStore) -> None:
    data = os.urandom(2 * MIN_PART_SIZE + 12345)
    name = _put(store, data)
    head = store.objects.client.head_object(Bucket=store.objects.bucket,
                                            Key=store.objects.key(name))
    assert head["ETag"].strip('"').endswith("-3")  # three parts, completed as one object
    assert b"".join(store.read(name)) == data


def test_an_interrupted_upload_is_invisible_and_fsck_aborts_it(store: S3BlobStore) -> None:
    writer = store.begin(new_blob_name())
    writer.write(os.urandom(MIN_PART_SIZE + 1))  # first part sent: a multipart upload is open
    assert not store.exists(writer.name)
    assert list(store.names()) == []
    # The process dies here (no commit, no abort): only an incomplete upload remains.
    # (moto reports a fixed initiation time for uploads, so the age filter is not tested here)
    assert store.discard_incomplete() == 1
    uploads = store.objects.client.list_multipart_uploads(Bucket=store.objects.bucket,
                                                          Prefix=store.objects.prefix)
    assert uploads.get("Uploads", []) == []


def test_abort_leaves_nothing(store: S3BlobStore) -> None:
    writer = store.begin(new_blob_name())
    writer.write(os.urandom(MIN_PART_SIZE + 1))
    writer.abort()
    writer.abort()
    assert store.discard_incomplete() == 0
    assert list(store.names()) == []


def test_an_archive_on_s3_stores_only_ciphertext(s3: S3Server, tmp_path: Path) -> None:
    files = study_files(seed=11, count=4)
    with open_test_node(tmp_path / "node", f"sqlite:///{tmp_path / 'i.sqlite3'}",
                        blob_backend="s3", s3_bucket=s3.bucket("archive"), s3_prefix="node1",
                        **s3.settings()) as node:
        assert isinstance(node.blobs, S3BlobStore)
        for data in files.values():
            node.store_bytes(data, CTX)
        assert contents(node) == files
        names = list(node.blobs.names())
        stored = [b"".join(node.blobs.read(name)) for name in names]
    assert len(names) == len(files)
    assert not (tmp_path / "node" / "blobs").exists() or not any(
        (tmp_path / "node" / "blobs").rglob("*/*/*"))
    for blob in stored:
        assert blob.startswith(b"DVB2")  # the envelope, not a Part 10 preamble
        assert b"DICM" not in blob and b"SYNTHETIC^PATIENT" not in blob


def test_transient_failures_are_retried_with_backoff(s3: S3Server) -> None:
    from tests.support.proxy import cuttable

    from dicomvault.errors import OutOfResourcesError
    from dicomvault.storage.s3 import S3Connection

    port = int(s3.endpoint_url.rsplit(":", 1)[1])
    bucket = s3.bucket("flaky")
    with cuttable("127.0.0.1", port) as proxy:
        def store(attempts: int) -> S3BlobStore:
            connection = S3Connection(endpoint_url=f"http://127.0.0.1:{proxy.port}",
                                      region="us-east-1", access_key_id=s3.access_key,
                                      secret_access_key=s3.secret_key,
                                      max_attempts=attempts)
            return S3BlobStore(connection, bucket, f"r{attempts}/")

        proxy.cut()
        with pytest.raises(OutOfResourcesError, match="unreachable"):
            _put(store(3), b"every attempt refused")
        proxy.restore()
        proxy.drop_next(2)  # two connections fail, later attempts get through
        patient = store(5)
        name = _put(patient, b"a later attempt gets through")
        assert proxy.dropped == 2
        assert b"".join(patient.read(name)) == b"a later attempt gets through"
