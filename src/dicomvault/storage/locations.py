"""Opening a blob store from a location written in the settings.

A location is a directory path or ``s3://bucket/prefix``; the S3 endpoint,
region and credentials are the node's ``s3_*`` settings. Used for the
primary store, the replica and the blob area of backup targets.
"""

from __future__ import annotations

from pathlib import Path

from dicomvault.config import BlobBackend, Settings
from dicomvault.storage.blobstore import BlobStore
from dicomvault.storage.filesystem import FilesystemBlobStore
from dicomvault.storage.s3 import S3BlobStore, S3Connection, parse_s3_url


def s3_connection(settings: Settings) -> S3Connection:
    secret = settings.s3_secret_access_key
    return S3Connection(
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        access_key_id=settings.s3_access_key_id,
        secret_access_key=secret.get_secret_value() if secret is not None else None,
        max_attempts=settings.s3_max_attempts,
    )


def is_s3_url(location: str) -> bool:
    return location.startswith("s3://")


def open_blob_store(location: str, settings: Settings) -> BlobStore:
    """The blob store at ``location`` (a directory, created if missing, or an S3 URL)."""
    if is_s3_url(location):
        bucket, prefix = parse_s3_url(location)
        return S3BlobStore(s3_connection(settings), bucket, prefix,
                           part_size=settings.s3_part_size)
    return FilesystemBlobStore(Path(location), fsync=settings.fsync)


def primary_location(settings: Settings) -> str:
    """Where the node's own blobs live, as a location."""
    if settings.blob_backend is BlobBackend.S3:
        prefix = settings.s3_prefix.strip("/")
        return f"s3://{settings.s3_bucket}/{prefix}"
    return str(settings.blob_dir)
