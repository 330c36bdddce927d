"""Staging one incoming instance: stream it, seal it, validate it, make it durable.

An :class:`InstanceUpload` receives the bytes of one Part 10 file in chunks
(from a STOW-RS part, a DIMSE C-STORE or a file on disk). Each chunk goes
straight into the encrypting writer, so nothing is ever written in the clear
and a multi-gigabyte instance is never held whole in memory; the first
``buffer_limit`` bytes and the last few are kept to parse and check the header.
They are kept by reference, not copied: an instance written in one call (a
STOW-RS part, a C-STORE data set) is hashed, sealed, parsed and its pixel data
hashed from the caller's own buffer.

``finish()`` validates the header and, only if it is sound, commits the sealed
blob durably (fsync + rename) and returns a :class:`StagedInstance`. Any
failure aborts the staged blob, so a refused instance leaves nothing behind.
The Archive service then indexes staged instances in one transaction.

``finish(in_background=True)`` (DIMSE, one instance at a time; STOW-RS, while
the next part arrives) starts the blob's commit in a worker thread as soon as
the last byte is written, so that the disk flushes while this thread parses
the header and goes on with the index statements or the next instance:
:meth:`StagedInstance.wait_durable` blocks until it is done, and
:meth:`dicomvault.archive.Archive.commit` calls it before its transaction
commits, so nothing is indexed, and nothing acknowledged, before its blob is
durable. A refused instance waits for its commit and then deletes the blob.
"""

from __future__ import annotations

from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from dicomvault.dicom.header import ParsedHeader, parse_incoming
from dicomvault.dicom.pixel_hash import PixelDataHasher, file_pixel_sha256, hasher_after_header
from dicomvault.errors import DicomVaultError, TooLargeError
from dicomvault.index.records import InstanceRecord, StoredObject
from dicomvault.keys import StudyKeys, new_data_key
from dicomvault.storage import BlobStore, SealingWriter, new_blob_name, seal_bytes

_TAIL_BYTES = 16
DEFAULT_BUFFER_LIMIT = 64 * 1024 * 1024
#: Threads of a node's background blob commits: they wait on the disk (fsync), not the GIL.
BLOB_COMMIT_THREADS = 8


def blob_commit_pool() -> ThreadPoolExecutor:
    """A node's threads for ``finish(in_background=True)`` (made once, with the Archive)."""
    return ThreadPoolExecutor(BLOB_COMMIT_THREADS, thread_name_prefix="dicomvault-blob-commit")


@dataclass(frozen=True, slots=True)
class StagedInstance:
    """A validated instance whose sealed blob is durable but not yet indexed."""

    parsed: ParsedHeader
    stored: StoredObject
    #: SHA-256 of the Pixel Data value (:mod:`dicomvault.dicom.pixel_hash`), if any.
    pixel_sha256: str | None = None
    #: The blob's commit, when it runs in the background (``finish(in_background=True)``).
    durable: Future[None] | None = field(default=None, compare=False, repr=False)

    def wait_durable(self) -> None:
        """Return once the blob is committed; raise the blob store's error if it failed
        (:class:`~dicomvault.errors.OutOfResourcesError`: nothing of it is left)."""
        if self.durable is not None:
            self.durable.result()

    @property
    def sop_instance_uid(self) -> str:
        return self.parsed.instance.SOPInstanceUID

    @property
    def sop_class_uid(self) -> str:
        return self.parsed.instance.SOPClassUID

    def record(self) -> InstanceRecord:
        return InstanceRecord(
            patient=self.parsed.patient,
            study=self.parsed.study,
            series=self.parsed.series,
            instance=self.parsed.instance,
            stored=self.stored,
        )


class InstanceUpload:
    """One instance being received; see the module docstring."""

    def __init__(
        self,
        blobs: BlobStore,
        keys: StudyKeys,
        *,
        max_bytes: int,
        buffer_limit: int = DEFAULT_BUFFER_LIMIT,
        commits: Executor | None = None,
    ) -> None:
        self._keys = keys
        # Where finish(in_background=True) commits the blob; without one, it commits inline.
        self._commits = commits
        self._blobs = blobs
        self._data_key = new_data_key()
        self._writer = blobs.begin(new_blob_name())
        self._committing: Future[None] | None = None
        self._sealer = SealingWriter(self._data_key, self._writer.write)
        self._max_bytes = max_bytes
        self._buffer_limit = buffer_limit
        # The file's first ``buffer_limit`` bytes as written (references, not copies: a
        # whole instance written at once is parsed and hashed from the caller's buffer).
        self._head: list[bytes] = []
        self._head_size = 0
        self._tail = b""
        self._done = False
        # Files beyond the buffer: pixel data hashed as it streams past (started once the
        # buffered header shows where it begins).
        self._pixels: PixelDataHasher | None = None

    @property
    def size(self) -> int:
        return self._sealer.size

    def write(self, chunk: bytes) -> None:
        if self._sealer.size + len(chunk) > self._max_bytes:
            self.abort()
            raise TooLargeError(f"instance is larger than the limit of {self._max_bytes} bytes")
        if not isinstance(chunk, bytes):
            chunk = bytes(chunk)  # kept below: must not change behind our back
        try:
            self._sealer.write(chunk)
        except DicomVaultError:
            self.abort()
            raise
        kept = min(self._buffer_limit - self._head_size, len(chunk))
        if kept > 0:
            self._head.append(chunk if kept == len(chunk) else chunk[:kept])
            self._head_size += kept
        self._tail = (self._tail + chunk[-_TAIL_BYTES:])[-_TAIL_BYTES:]
        try:
            if self._pixels is None and self._head_size >= self._buffer_limit:
                self._pixels = hasher_after_header(self._whole_head())
            if self._pixels is not None:
                self._pixels.update(memoryview(chunk)[kept:])
        except DicomVaultError:
            self.abort()
            raise

    def _whole_head(self) -> bytes:
        """The buffered first bytes as one ``bytes`` (joined once, only if written in pieces)."""
        if len(self._head) > 1:
            self._head = [b"".join(self._head)]
        return self._head[0] if self._head else b""

    def finish(self, *, in_background: bool = False) -> StagedInstance:
        """Validate and make durable; aborts (nothing left behind) on any failure.

        ``in_background``: start the blob's commit at once in a thread of ``commits``
        (given by the Archive; without it the commit runs here) and return without
        waiting for it (see the module docstring); the result must go
        to :meth:`~dicomvault.archive.Archive.commit`, which waits for it.
        """
        try:
            sha256 = self._sealer.close()
            if in_background and self._commits and not self._writer.commit_uses_index:
                self._committing = self._commits.submit(self._writer.commit)
            total = self._sealer.size
            if self._head_size < total and total > self._buffer_limit:
                parsed = self._parse_large(total)
                pixel_sha256 = self._pixels.hexdigest() if self._pixels else None
            else:
                whole = self._whole_head()
                parsed = parse_incoming(whole, total, self._tail)
                pixel_sha256 = file_pixel_sha256(whole, parsed.pixel_offset,
                                                 parsed.instance.TransferSyntaxUID)
            # The data key is wrapped by the KEK of the instance's own study (crypto-shredding).
            wrapped = self._keys.wrap(parsed.study.StudyInstanceUID, self._data_key)
            stored = StoredObject(
                blob_name=self._writer.name,
                size=total,
                sha256=sha256,
                kek_id=wrapped.kek_id,
                wrapped_key=wrapped.wrapped,
                sealed_header=seal_bytes(self._data_key, parsed.header_bytes),
            )
            if self._committing is None:
                self._writer.commit()
        except BaseException:
            self.abort()
            raise
        self._done = True
        return StagedInstance(parsed=parsed, stored=stored, pixel_sha256=pixel_sha256,
                              durable=self._committing)

    def _parse_large(self, total: int) -> ParsedHeader:
        parsed = parse_incoming(self._whole_head(), total, self._tail)
        if parsed.pixel_offset is None:
            raise TooLargeError(
                f"objects whose header exceeds {self._buffer_limit} bytes are not accepted"
            )
        return parsed

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        if self._committing is None:
            self._writer.abort()
            return
        try:  # a background commit may already have published the blob: remove it after
            self._committing.result()
        except DicomVaultError:
            return  # the failed commit left nothing
        self._blobs.delete(self._writer.name)

    @property
    def blob_name(self) -> str:
        return self._writer.name
