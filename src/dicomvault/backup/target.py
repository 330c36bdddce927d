"""Backup targets: a directory or an S3 bucket prefix, laid out the same way.

::

    <target>/blobs/<name>                       sealed objects, copied as they are,
                                                shared by every generation that lists them
    <target>/generations/<0000000042>.manifest  one signed manifest per generation

The image blobs keep the names they have on the node (random, no PHI); the
encrypted snapshot of the index and ledger is one more sealed object in
``blobs/``. A generation exists once its manifest is written; that write
is the last step of a backup run, so an interrupted run leaves only
unreferenced objects, which the next run's retention pass removes.

One backup run at a time per target: the retention pass deletes objects no
kept manifest lists.
"""

from __future__ import annotations

import abc
import os
from pathlib import Path

from dicomvault.config import Settings
from dicomvault.errors import IntegrityError, InvalidInputError, OutOfResourcesError
from dicomvault.keys.files import ensure_private_dir, write_secret_file
from dicomvault.storage.blobstore import BlobStore
from dicomvault.storage.filesystem import FilesystemBlobStore
from dicomvault.storage.locations import is_s3_url, s3_connection
from dicomvault.storage.s3 import S3BlobStore, S3Objects, parse_s3_url

_SUFFIX = ".manifest"
_DIGITS = 10


def manifest_name(generation: int) -> str:
    return f"{generation:0{_DIGITS}d}{_SUFFIX}"


def _generation_of(name: str) -> int | None:
    stem = name.removesuffix(_SUFFIX)
    if name.endswith(_SUFFIX) and len(stem) == _DIGITS and stem.isdigit():
        return int(stem)
    return None


class BackupTarget(abc.ABC):
    """Where backups go; see the module docstring for the layout."""

    #: The sealed objects (image blobs and snapshots).
    blobs: BlobStore
    #: A short description for reports and ledger events (no credentials).
    description: str

    @abc.abstractmethod
    def _manifest_names(self) -> list[str]: ...

    @abc.abstractmethod
    def read_manifest(self, generation: int) -> str:
        """The signed manifest text of ``generation``."""

    @abc.abstractmethod
    def write_manifest(self, generation: int, note: str) -> None:
        """Write a manifest durably and atomically (the generation then exists)."""

    @abc.abstractmethod
    def delete_manifest(self, generation: int) -> None: ...

    @abc.abstractmethod
    def make_durable(self) -> None:
        """Make every object written so far durable (before the manifest names them)."""

    def generations(self) -> list[int]:
        """The generations present, oldest first."""
        found = (_generation_of(name) for name in self._manifest_names())
        return sorted(g for g in found if g is not None)


class DirectoryTarget(BackupTarget):
    """A backup in a local (or mounted) directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.description = "directory"
        try:
            ensure_private_dir(root)
            self._manifests = root / "generations"
            ensure_private_dir(self._manifests)
        except OSError as exc:
            raise OutOfResourcesError(f"backup directory cannot be used ({exc.strerror})"
                                      ) from exc
        # Blobs are not fsynced one by one: make_durable() flushes them all at once before
        # the manifest (the commit point of a generation) is written, which is several
        # times faster than a file and a directory fsync per blob.
        self.blobs = FilesystemBlobStore(root / "blobs", fsync=False)

    def _manifest_names(self) -> list[str]:
        return [path.name for path in self._manifests.iterdir()]

    def read_manifest(self, generation: int) -> str:
        try:
            return (self._manifests / manifest_name(generation)).read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise IntegrityError(f"backup generation {generation} has no manifest") from exc

    def write_manifest(self, generation: int, note: str) -> None:
        write_secret_file(self._manifests / manifest_name(generation), note.encode("utf-8"))

    def delete_manifest(self, generation: int) -> None:
        (self._manifests / manifest_name(generation)).unlink(missing_ok=True)

    def make_durable(self) -> None:
        flush_filesystems()


class S3Target(BackupTarget):
    """A backup under ``s3://bucket/prefix`` (the node's ``s3_*`` connection settings)."""

    def __init__(self, settings: Settings, url: str) -> None:
        bucket, prefix = parse_s3_url(url)
        connection = s3_connection(settings)
        self.description = "s3"
        self.blobs = S3BlobStore(connection, bucket, prefix + "blobs/",
                                 part_size=settings.s3_part_size)
        self._manifests = S3Objects(connection, bucket, prefix + "generations/")

    def _manifest_names(self) -> list[str]:
        return list(self._manifests.names())

    def read_manifest(self, generation: int) -> str:
        try:
            return self._manifests.get(manifest_name(generation)).decode("utf-8")
        except IntegrityError as exc:
            raise IntegrityError(f"backup generation {generation} has no manifest") from exc

    def write_manifest(self, generation: int, note: str) -> None:
        self._manifests.put(manifest_name(generation), note.encode("utf-8"))

    def delete_manifest(self, generation: int) -> None:
        self._manifests.delete(manifest_name(generation))

    def make_durable(self) -> None:
        """Nothing to do: S3 acknowledges a PUT or a completed upload once it is durable."""


def flush_filesystems() -> None:
    """Write every dirty page to stable storage (sync(2)): one flush for many files.

    Linux's sync(2) waits for the writeback to complete.
    """
    os.sync()


def open_target(location: str | None, settings: Settings) -> BackupTarget:
    """The target at ``location`` (or the ``backup_target`` setting)."""
    location = location or settings.backup_target
    if not location:
        raise InvalidInputError("no backup target: pass --to/--from or set backup_target")
    if is_s3_url(location):
        return S3Target(settings, location)
    return DirectoryTarget(Path(location))
