"""In-memory blob store: the unit-test twin of the filesystem store."""

from __future__ import annotations

import time
from collections.abc import Iterator

from dicomvault.errors import IntegrityError
from dicomvault.storage.blobstore import BlobStore, BlobWriter


class _MemoryWriter(BlobWriter):
    def __init__(self, store: MemoryBlobStore, name: str) -> None:
        self.name = name
        self._store = store
        self._parts: list[bytes] | None = []

    def write(self, data: bytes) -> None:
        if self._parts is None:
            raise IntegrityError("write to a finished blob writer")
        self._parts.append(bytes(data))

    def commit(self) -> None:
        if self._parts is None:
            raise IntegrityError("commit of a finished blob writer")
        self._store.objects[self.name] = b"".join(self._parts)
        self._store.commit_times[self.name] = time.time()
        self._parts = None

    def abort(self) -> None:
        self._parts = None


class MemoryBlobStore(BlobStore):
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.commit_times: dict[str, float] = {}

    def begin(self, name: str) -> BlobWriter:
        return _MemoryWriter(self, name)

    def read(self, name: str) -> Iterator[bytes]:
        try:
            data = self.objects[name]
        except KeyError as exc:
            raise IntegrityError("a stored object is missing from blob storage") from exc
        yield data

    def delete(self, name: str) -> None:
        self.objects.pop(name, None)
        self.commit_times.pop(name, None)

    def exists(self, name: str) -> bool:
        return name in self.objects

    def names(self) -> Iterator[str]:
        yield from sorted(self.objects)

    def committed_at(self, name: str) -> float:
        try:
            return self.commit_times[name]
        except KeyError as exc:
            raise IntegrityError("a stored object is missing from blob storage") from exc

    def discard_incomplete(self, older_than_seconds: float = 0.0) -> int:
        return 0  # staged parts live in the writer and vanish with it
