"""The blob-store contract, run against the filesystem store and its in-memory twin."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from dicomvault.errors import IntegrityError, OutOfResourcesError
from dicomvault.storage import BlobStore, FilesystemBlobStore, MemoryBlobStore, new_blob_name


@pytest.fixture(params=["filesystem", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    if request.param == "filesystem":
        yield FilesystemBlobStore(tmp_path / "blobs")
    else:
        yield MemoryBlobStore()


def test_committed_object_reads_back(store: BlobStore) -> None:
    name = new_blob_name()
    writer = store.begin(name)
    writer.write(b"abc")
    writer.write(b"def")
    assert not store.exists(name)
    writer.commit()
    assert store.exists(name)
    assert b"".join(store.read(name)) == b"abcdef"
    assert list(store.names()) == [name]


def test_aborted_object_leaves_nothing(store: BlobStore) -> None:
    name = new_blob_name()
    writer = store.begin(name)
    writer.write(b"partial")
    writer.abort()
    assert not store.exists(name)
    assert list(store.names()) == []
    assert store.discard_incomplete() == 0


def test_missing_object_is_an_integrity_error(store: BlobStore) -> None:
    with pytest.raises(IntegrityError):
        b"".join(store.read(new_blob_name()))


def test_delete_is_idempotent(store: BlobStore) -> None:
    name = new_blob_name()
    writer = store.begin(name)
    writer.write(b"x")
    writer.commit()
    store.delete(name)
    store.delete(name)
    assert not store.exists(name)


def test_names_are_random_and_carry_nothing_else() -> None:
    names = {new_blob_name() for _ in range(1000)}
    assert len(names) == 1000
    assert all(len(n) == 32 and all(c in "0123456789abcdef" for c in n) for n in names)


def test_filesystem_layout_and_modes(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path / "blobs")
    name = new_blob_name()
    writer = store.begin(name)
    writer.write(b"x")
    writer.commit()
    path = tmp_path / "blobs" / name[:3] / name
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    fanout = sorted(p.name for p in (tmp_path / "blobs").iterdir() if p.name != ".staging")
    assert (fanout[0], fanout[-1], len(fanout)) == ("000", "fff", 4096)
    assert stat.S_IMODE((tmp_path / "blobs" / "abc").stat().st_mode) == 0o700


def test_filesystem_discards_crash_leftovers(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path / "blobs")
    writer = store.begin(new_blob_name())
    writer.write(b"half written")
    # Simulate a crash: the writer is never committed or aborted.
    assert store.discard_incomplete() == 1
    assert list((tmp_path / "blobs" / ".staging").iterdir()) == []


@pytest.mark.parametrize("error", [errno.ENOSPC, errno.EROFS])
def test_full_or_read_only_disk_is_out_of_resources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: int
) -> None:
    store = FilesystemBlobStore(tmp_path / "blobs")
    writer = store.begin(new_blob_name())

    def failing_write(fd: int, data: object) -> int:
        raise OSError(error, os.strerror(error))

    monkeypatch.setattr(os, "write", failing_write)
    with pytest.raises(OutOfResourcesError, match="retry later"):
        writer.write(b"pixels")
    monkeypatch.undo()
    assert list((tmp_path / "blobs" / ".staging").iterdir()) == []


def test_rejects_names_that_could_escape(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path / "blobs")
    with pytest.raises(IntegrityError):
        store.exists("../../etc/passwd")
