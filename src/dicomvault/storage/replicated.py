"""Replication: a primary blob store and a second, independent one.

Two modes (``replication_mode`` in the settings):

* ``mirror``: every object is written to both stores; ``commit()`` returns
  only when both have committed, so an acknowledged store survives the loss
  of either. If the replica cannot take the object the store fails (503 /
  0xA700) and the primary's copy is removed: nothing half-replicated is
  acknowledged.
* ``async``: the object is committed to the primary, then its name is put
  on a :class:`ReplicationQueue` that lives in the index database (so it
  survives restarts) before ``commit()`` returns; a background job
  (:class:`dicomvault.backup.replication.ReplicationDaemon`) copies queued
  objects to the replica. Deletes are queued the same way.

Reads come from the primary and fall back to the replica when the primary
has lost the object. Scrub (:mod:`dicomvault.backup.scrub`) repairs either
side from the other.
"""

from __future__ import annotations

import enum
import hashlib
import logging
from collections.abc import Iterator
from typing import Protocol

from dicomvault.config import ReplicationMode
from dicomvault.errors import DicomVaultError, OutOfResourcesError
from dicomvault.storage.blobstore import BlobStore, BlobWriter

log = logging.getLogger(__name__)


class ReplicaOp(enum.StrEnum):
    """What a queued replication entry asks for."""

    PUT = "put"
    DELETE = "delete"


class ReplicationQueue(Protocol):
    """Where asynchronous replication work waits (the database, see ``backup.replication``)."""

    def enqueue(self, name: str, op: ReplicaOp) -> None: ...


def copy_blob(source: BlobStore, target: BlobStore, name: str) -> tuple[str, int]:
    """Copy one sealed object as it is; the SHA-256 (hex) and size of its bytes.

    The target's staged write makes the copy appear whole or not at all.
    """
    digest = hashlib.sha256()
    size = 0
    writer = target.begin(name)
    try:
        for chunk in source.read(name):
            digest.update(chunk)
            size += len(chunk)
            writer.write(chunk)
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    return digest.hexdigest(), size


class _MirrorWriter(BlobWriter):
    def __init__(self, primary: BlobWriter, replica: BlobWriter, store: ReplicatedBlobStore
                 ) -> None:
        self.name = primary.name
        self._primary = primary
        self._replica = replica
        self._store = store

    def write(self, data: bytes) -> None:
        try:
            self._primary.write(data)
            self._replica.write(data)
        except DicomVaultError:
            self.abort()
            raise

    def commit(self) -> None:
        try:
            self._primary.commit()
            self._replica.commit()
        except DicomVaultError:
            self.abort()
            self._store.primary.delete(self.name)
            raise

    def abort(self) -> None:
        self._primary.abort()
        self._replica.abort()


class _QueuedWriter(BlobWriter):
    commit_uses_index = True  # queue_put writes the replication queue

    def __init__(self, primary: BlobWriter, store: ReplicatedBlobStore) -> None:
        self.name = primary.name
        self._primary = primary
        self._store = store

    def write(self, data: bytes) -> None:
        self._primary.write(data)

    def commit(self) -> None:
        self._primary.commit()
        try:
            self._store.queue_put(self.name)
        except DicomVaultError:
            # Not acknowledged unless the replication work is durable too.
            self._store.primary.delete(self.name)
            raise

    def abort(self) -> None:
        self._primary.abort()


class ReplicatedBlobStore(BlobStore):
    """A primary and a replica; see the module docstring."""

    def __init__(self, primary: BlobStore, replica: BlobStore, mode: ReplicationMode,
                 queue: ReplicationQueue | None = None) -> None:
        if mode is ReplicationMode.ASYNC and queue is None:
            raise ValueError("asynchronous replication needs a queue")
        self.primary = primary
        self.replica = replica
        self.mode = mode
        self._queue = queue

    def queue_put(self, name: str) -> None:
        if self._queue is not None:
            self._queue.enqueue(name, ReplicaOp.PUT)

    def begin(self, name: str) -> BlobWriter:
        if self.mode is ReplicationMode.MIRROR:
            primary = self.primary.begin(name)
            try:
                replica = self.replica.begin(name)
            except DicomVaultError:
                primary.abort()
                raise
            return _MirrorWriter(primary, replica, self)
        return _QueuedWriter(self.primary.begin(name), self)

    def read(self, name: str) -> Iterator[bytes]:
        if self.primary.exists(name) or not self.replica.exists(name):
            return self.primary.read(name)
        log.warning("a blob missing from primary storage is read from the replica")
        return self.replica.read(name)

    def delete(self, name: str) -> None:
        self.primary.delete(name)
        if self.mode is ReplicationMode.MIRROR or self._queue is None:
            self.replica.delete(name)
            return
        try:
            self._queue.enqueue(name, ReplicaOp.DELETE)
        except OutOfResourcesError:
            # The index no longer refers to it: a replica orphan that fsck removes later.
            log.warning("could not queue a replica delete; fsck will remove the orphan")

    def exists(self, name: str) -> bool:
        return self.primary.exists(name)

    def names(self) -> Iterator[str]:
        return self.primary.names()

    def committed_at(self, name: str) -> float:
        return self.primary.committed_at(name)

    def discard_incomplete(self, older_than_seconds: float = 0.0) -> int:
        return (self.primary.discard_incomplete(older_than_seconds)
                + self.replica.discard_incomplete(older_than_seconds))
