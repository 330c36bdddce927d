"""Blob storage (filesystem, in-memory) and the encryption envelope around every object."""

from dicomvault.storage.blobstore import BlobStore, BlobWriter, new_blob_name
from dicomvault.storage.envelope import (
    SealingWriter,
    open_bytes,
    open_sealed,
    open_sealed_into,
    seal_bytes,
)
from dicomvault.storage.filesystem import FilesystemBlobStore
from dicomvault.storage.memory import MemoryBlobStore

__all__ = [
    "BlobStore",
    "BlobWriter",
    "FilesystemBlobStore",
    "MemoryBlobStore",
    "SealingWriter",
    "new_blob_name",
    "open_bytes",
    "open_sealed",
    "open_sealed_into",
    "seal_bytes",
]
