"""Sealed objects in a backup target: writing the snapshot, reading objects back checked.

The snapshot is sealed with the same envelope as image blobs, under a fresh
data key wrapped by the node's key provider; the manifest keeps the wrapped
key and the SHA-256 of the sealed bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from dicomvault.backup.manifest import SnapshotRef
from dicomvault.backup.snapshot import (
    BlobEnvelope,
    CompressingSink,
    SnapshotSummary,
    snapshot_lines,
)
from dicomvault.errors import IntegrityError, KeyUnavailableError
from dicomvault.keys import KeyProvider, new_data_key
from dicomvault.storage import BlobStore, SealingWriter, new_blob_name, open_sealed
from dicomvault.storage.replicated import copy_blob


def checked_chunks(chunks: Iterable[bytes], sha256: str, what: str) -> Iterator[bytes]:
    """Pass ``chunks`` through; at the end, IntegrityError unless they hash to ``sha256``."""
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
        yield chunk
    if digest.hexdigest() != sha256:
        raise IntegrityError(f"{what} does not match the hash in the backup manifest")


def hash_object(store: BlobStore, name: str) -> tuple[str, int]:
    """SHA-256 (hex) and size of a stored object's bytes."""
    digest = hashlib.sha256()
    size = 0
    for chunk in store.read(name):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def write_snapshot(store: BlobStore, keys: KeyProvider,
                   produce: Callable[[Callable[[bytes], None]], SnapshotSummary]
                   ) -> tuple[SnapshotRef, SnapshotSummary]:
    """Seal what ``produce`` emits into a new object of ``store``.

    Each snapshot gets a KEK of its own at the key provider (destroyed when
    retention drops its generation), so the index rows of studies deleted
    since (names, IDs, dates) leave the backups with their last generation.
    """
    data_key = new_data_key()
    wrapped = keys.wrap(keys.create_key(), data_key)
    writer = store.begin(new_blob_name())
    digest = hashlib.sha256()
    size = 0

    def sink(chunk: bytes) -> None:
        nonlocal size
        digest.update(chunk)
        size += len(chunk)
        writer.write(chunk)

    try:
        sealer = SealingWriter(data_key, sink, bind_content=False)  # read without a hash
        compressed = CompressingSink(sealer.write)
        summary = produce(compressed.write)
        compressed.close()
        sealer.close()
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    ref = SnapshotRef(blob=writer.name, blob_sha256=digest.hexdigest(), size=size,
                      kek_id=wrapped.kek_id, wrapped_key=wrapped.wrapped)
    return ref, summary


def snapshot_values(store: BlobStore, keys: KeyProvider, ref: SnapshotRef) -> Iterator[Any]:
    """The snapshot's JSON values, its sealed bytes checked against the manifest."""
    data_key = keys.unwrap(ref.kek_id, ref.wrapped_key)
    sealed = checked_chunks(store.read(ref.blob), ref.blob_sha256, "the backup snapshot")
    return snapshot_lines(open_sealed(data_key, sealed))


def copy_verified(keys: KeyProvider, source: BlobStore, target: BlobStore, name: str,
                  envelope: BlobEnvelope) -> tuple[str, int]:
    """Copy a sealed image blob as it is, but only if it verifies on the way.

    Every segment's GCM tag and the plaintext SHA-256 and size are checked
    while the bytes stream through, so a backup never takes a rotten copy
    (scrub repairs from backups, which must therefore hold good ones). The
    SHA-256 (hex) and size of the sealed bytes are returned for the manifest.
    A blob whose key was shredded is copied unchecked (it can never be read).
    """
    try:
        data_key = keys.unwrap(envelope.kek_id, envelope.wrapped_key)
    except KeyUnavailableError:
        return copy_blob(source, target, name)
    sealed_digest = hashlib.sha256()
    sealed_size = 0
    writer = target.begin(name)

    def passing_through() -> Iterator[bytes]:
        nonlocal sealed_size
        for chunk in source.read(name):
            sealed_digest.update(chunk)
            sealed_size += len(chunk)
            writer.write(chunk)
            yield chunk

    try:
        _check_plaintext(open_sealed(data_key, passing_through(),
                                     content_sha256=envelope.sha256), envelope)
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    return sealed_digest.hexdigest(), sealed_size


def _check_plaintext(segments: Iterable[bytes], envelope: BlobEnvelope) -> None:
    digest = hashlib.sha256()
    size = 0
    for segment in segments:
        digest.update(segment)
        size += len(segment)
    if size != envelope.size or digest.hexdigest() != envelope.sha256:
        raise IntegrityError("a blob does not match the hash recorded at ingest")
