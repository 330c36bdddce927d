"""Filesystem blob store: one file per object under a two-level fan-out.

Layout: ``<root>/<n[0:3]>/<name>`` for committed objects (4,096 fan-out
directories, created once with the store, so that a store never pays for a
``mkdir`` and its directory fsyncs: about 2,500 objects per directory at ten
million objects) and ``<root>/.staging/<name>`` while an object is written.
Commit = fsync the file, rename it into place (atomic on POSIX), fsync the
target directory.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Iterator
from pathlib import Path

from dicomvault.errors import IntegrityError, OutOfResourcesError
from dicomvault.storage.blobstore import BlobStore, BlobWriter, check_blob_name

_READ_CHUNK = 4 * 1024 * 1024
#: Objects up to this size are read in one call (one copy, no segment split across
#: chunks for the envelope to join); larger ones in chunks of ``_READ_CHUNK``.
_READ_WHOLE = 16 * 1024 * 1024
_FANOUT_DIGITS = 3
_RESOURCE_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EIO, errno.EACCES, errno.EPERM}


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _resource_error(exc: OSError) -> OutOfResourcesError:
    reason = errno.errorcode.get(exc.errno or 0, "I/O error")
    return OutOfResourcesError(f"blob storage cannot write ({reason}); retry later")


class _FileWriter(BlobWriter):
    def __init__(self, store: FilesystemBlobStore, name: str) -> None:
        self.name = name
        self._store = store
        self._staging = store.staging_dir / name
        self._final = store.path_of(name)
        try:
            self._fd: int | None = os.open(
                self._staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600
            )
        except OSError as exc:
            raise _resource_error(exc) from exc
        self._committed = False

    def write(self, data: bytes) -> None:
        if self._fd is None:
            raise OutOfResourcesError("write to a closed blob writer")
        try:
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        except OSError as exc:
            self.abort()
            raise _resource_error(exc) from exc

    def commit(self) -> None:
        if self._fd is None:
            raise OutOfResourcesError("commit of an aborted blob writer")
        try:
            if self._store.fsync:
                os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
            self._store.ensure_dir(self._final.parent)
            self._staging.rename(self._final)
            if self._store.fsync:
                _fsync_dir(self._final.parent)
        except OSError as exc:
            self.abort()
            raise _resource_error(exc) from exc
        self._committed = True

    def abort(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if not self._committed:
            self._staging.unlink(missing_ok=True)


class FilesystemBlobStore(BlobStore):
    """Objects as files under ``root``; durable commit via fsync + rename."""

    def __init__(self, root: Path, *, fsync: bool = True) -> None:
        self.root = root
        self.fsync = fsync
        self.staging_dir = root / ".staging"
        self._root = str(root)  # the read path joins strings: see _location()
        self._known_dirs: set[Path] = set()
        if not self.staging_dir.is_dir():
            self._create_layout()

    def _create_layout(self) -> None:
        """Create the staging and every fan-out directory, durably, once per store."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        for number in range(16**_FANOUT_DIGITS):
            (self.root / f"{number:0{_FANOUT_DIGITS}x}").mkdir(exist_ok=True, mode=0o700)
        self.staging_dir.mkdir(exist_ok=True, mode=0o700)  # last: marks the layout complete
        if self.fsync:
            _fsync_dir(self.root)
            _fsync_dir(self.root.parent)

    def path_of(self, name: str) -> Path:
        return Path(self._location(name))

    def _location(self, name: str) -> str:
        """Where blob ``name`` lives, as a string (the read path opens it without pathlib)."""
        check_blob_name(name)
        return f"{self._root}{os.sep}{name[:_FANOUT_DIGITS]}{os.sep}{name}"

    def ensure_dir(self, directory: Path) -> None:
        """Recreate a fan-out directory someone removed (normally they all exist)."""
        if directory in self._known_dirs:
            return
        if not directory.is_dir():
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            if self.fsync:
                _fsync_dir(directory.parent)
        self._known_dirs.add(directory)

    def begin(self, name: str) -> BlobWriter:
        return _FileWriter(self, name)

    def read(self, name: str) -> Iterator[bytes]:
        # os-level calls on a string path: a retrieve reads one blob per instance, and
        # pathlib plus a buffered file object cost more than the read of 0.5 MB itself.
        location = self._location(name)
        try:
            fd = os.open(location, os.O_RDONLY)
        except FileNotFoundError as exc:
            raise IntegrityError("a stored object is missing from blob storage") from exc
        try:
            size = os.fstat(fd).st_size
            ask = size if 0 < size <= _READ_WHOLE else _READ_CHUNK
            while chunk := os.read(fd, ask):
                yield chunk
                ask = _READ_CHUNK
        finally:
            os.close(fd)

    def delete(self, name: str) -> None:
        self.path_of(name).unlink(missing_ok=True)

    def exists(self, name: str) -> bool:
        return self.path_of(name).is_file()

    def names(self) -> Iterator[str]:
        for fanout in sorted(self.root.iterdir()):
            if fanout.name.startswith(".") or not fanout.is_dir():
                continue
            for blob in sorted(fanout.iterdir()):
                yield blob.name

    def committed_at(self, name: str) -> float:
        try:
            return self.path_of(name).stat().st_mtime
        except FileNotFoundError as exc:
            raise IntegrityError("a stored object is missing from blob storage") from exc

    def discard_incomplete(self, older_than_seconds: float = 0.0) -> int:
        cutoff = time.time() - older_than_seconds
        count = 0
        for leftover in self.staging_dir.iterdir():
            try:
                if older_than_seconds and leftover.stat().st_mtime > cutoff:
                    continue  # an upload in flight
                leftover.unlink()
            except FileNotFoundError:
                continue  # committed or aborted meanwhile
            count += 1
        return count
