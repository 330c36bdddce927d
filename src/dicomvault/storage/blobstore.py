"""The blob-store contract.

A blob store keeps opaque, already-encrypted objects under names chosen by the
archive (random identifiers: no UID or PHI ever appears in a name). Writing is
staged, as in OpenStack Swift's diskfile: ``begin(name)`` returns a
:class:`BlobWriter`; chunks are written to a temporary object; ``commit()``
makes the object durable (flushed to stable storage) and visible under its
final name atomically; ``abort()`` (or an exception before commit) leaves
nothing behind. Only after ``commit()`` returns may the index refer to the
object. A committed object is never modified, only deleted.

Reading returns the object's bytes as an iterator of chunks; a missing object
raises :class:`~dicomvault.errors.IntegrityError` (the index says it exists).
Storage that is full, read-only or unreachable raises
:class:`~dicomvault.errors.OutOfResourcesError`.

Crash recovery (``dicomvault fsck``) needs to know how old an object is:
``committed_at(name)`` is when it was committed (POSIX seconds) and
``discard_incomplete(older_than_seconds)`` removes only staged objects
untouched for that long, so that fsck may run beside a live server without
removing an upload in flight.
"""

from __future__ import annotations

import abc
import secrets
from collections.abc import Iterator

from dicomvault.errors import IntegrityError


def new_blob_name() -> str:
    """A random 128-bit object name, hex encoded."""
    return secrets.token_hex(16)


def check_blob_name(name: str) -> str:
    """``name`` if it is a plausible object name (alphanumeric, 8+ characters).

    Refuses anything that could escape a directory or an S3 prefix.
    """
    if len(name) < 8 or not name.isalnum() or not name.isascii():
        raise IntegrityError("invalid blob name")
    return name


class BlobWriter(abc.ABC):
    """A staged object being written; see the module docstring."""

    name: str
    #: Whether ``commit()`` writes to the index database (asynchronous replication queues
    #: the object there). Such a commit must not run in the background while an index
    #: transaction waits for it (see :meth:`dicomvault.ingest.InstanceUpload.finish`).
    commit_uses_index: bool = False

    @abc.abstractmethod
    def write(self, data: bytes) -> None: ...

    @abc.abstractmethod
    def commit(self) -> None:
        """Make the object durable and visible under its name."""

    @abc.abstractmethod
    def abort(self) -> None:
        """Discard the staged object (idempotent; safe after commit: then it does nothing)."""


class BlobStore(abc.ABC):
    """Where sealed objects live. See the module docstring for the contract."""

    @abc.abstractmethod
    def begin(self, name: str) -> BlobWriter: ...

    @abc.abstractmethod
    def read(self, name: str) -> Iterator[bytes]: ...

    @abc.abstractmethod
    def delete(self, name: str) -> None:
        """Remove a committed object; missing objects are ignored."""

    @abc.abstractmethod
    def exists(self, name: str) -> bool: ...

    @abc.abstractmethod
    def names(self) -> Iterator[str]:
        """Every committed object's name (for scrub and fsck)."""

    @abc.abstractmethod
    def committed_at(self, name: str) -> float:
        """When the object was committed (POSIX seconds); IntegrityError if missing."""

    @abc.abstractmethod
    def discard_incomplete(self, older_than_seconds: float = 0.0) -> int:
        """Remove staged objects left by a crash, untouched for ``older_than_seconds``;
        returns how many (fsck)."""
