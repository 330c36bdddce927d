"""S3-compatible blob store (boto3): objects under a bucket prefix, multipart for large ones.

The object store only ever sees sealed blobs (the envelope of
:mod:`dicomvault.storage.envelope` is applied before any byte reaches a
writer), under random names: no PHI in keys, and the provider holds nothing
it can read.

Staged writes map onto S3 as follows (contract in :mod:`.blobstore`):

* a writer buffers up to ``part_size`` bytes; an object that never grows
  past it is sent with one ``PutObject`` at ``commit()``;
* a larger object becomes a multipart upload (``CreateMultipartUpload``,
  one ``UploadPart`` per ``part_size`` bytes as they arrive, the last part at
  ``commit()``, then ``CompleteMultipartUpload``). S3 shows an object only
  once the upload completes, so a crash leaves no partial object, only an
  incomplete upload that ``discard_incomplete`` aborts (``fsck``);
* ``abort()`` aborts the multipart upload.

S3 acknowledges ``PutObject`` / ``CompleteMultipartUpload`` only once the
object is durably stored, which is what a commit must guarantee.

Retries: botocore's "standard" retry mode (exponential backoff with jitter,
retrying throttling, 5xx and connection errors) with ``max_attempts`` from
the settings. When the attempts are spent, an unreachable or failing
endpoint is :class:`~dicomvault.errors.OutOfResourcesError` (HTTP 503 /
DICOM 0xA700); a missing object on read is
:class:`~dicomvault.errors.IntegrityError`. Neither message carries a key.

boto3 is optional (the ``s3`` extra): :func:`is_available` says whether it
is installed, and this module imports it only when an S3 store is built.
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dicomvault.errors import ConfigurationError, IntegrityError, OutOfResourcesError
from dicomvault.storage.blobstore import BlobStore, BlobWriter, check_blob_name

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

#: S3's smallest part (except the last): 5 MiB.
MIN_PART_SIZE = 5 * 1024 * 1024
DEFAULT_PART_SIZE = 8 * 1024 * 1024
_READ_CHUNK = 1024 * 1024
_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}


def is_available() -> bool:
    """True when boto3 is installed (``pip install dicomvault[s3]``)."""
    return importlib.util.find_spec("boto3") is not None


@dataclass(frozen=True, slots=True)
class S3Connection:
    """How to reach an S3-compatible service; ``None`` fields use boto3's defaults
    (environment, shared config, instance role)."""

    endpoint_url: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    max_attempts: int = 5
    connect_timeout: float = 5.0
    read_timeout: float = 60.0

    def client(self) -> S3Client:
        if not is_available():
            raise ConfigurationError(
                "S3 storage needs boto3: install dicomvault with the 's3' extra"
            )
        import boto3
        from botocore.config import Config

        config = Config(
            retries={"max_attempts": self.max_attempts, "mode": "standard"},
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            s3={"addressing_style": "path"},
        )
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            config=config,
        )


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> (``bucket``, ``some/prefix/``)."""
    if not url.startswith("s3://"):
        raise ConfigurationError("an S3 location is written s3://bucket/prefix")
    bucket, _, prefix = url[len("s3://"):].partition("/")
    if not bucket:
        raise ConfigurationError("an S3 location needs a bucket: s3://bucket/prefix")
    prefix = prefix.strip("/")
    return bucket, f"{prefix}/" if prefix else ""


def _error_code(exc: Exception) -> str:
    response: dict[str, Any] = getattr(exc, "response", {}) or {}
    return str(response.get("Error", {}).get("Code", ""))


@contextlib.contextmanager
def s3_call(what: str, *, missing_is_integrity: bool = False) -> Iterator[None]:
    """Translate botocore failures into the archive's errors (see the module docstring)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        code = _error_code(exc)
        if missing_is_integrity and code in _MISSING_CODES:
            raise IntegrityError("a stored object is missing from blob storage") from exc
        raise OutOfResourcesError(
            f"object storage refused to {what} ({code or 'error'}); retry later"
        ) from exc
    except BotoCoreError as exc:
        raise OutOfResourcesError(
            f"object storage is unreachable ({type(exc).__name__}) while trying to {what}; "
            "retry later"
        ) from exc


class S3Objects:
    """Keys under one prefix of one bucket, with the error translation above.

    Shared by the blob store and by backup targets on S3.
    """

    def __init__(self, connection: S3Connection, bucket: str, prefix: str = "") -> None:
        self.client = connection.client()
        self.bucket = bucket
        self.prefix = prefix

    def key(self, name: str) -> str:
        return self.prefix + name

    def put(self, name: str, data: bytes) -> None:
        with s3_call("store an object"):
            self.client.put_object(Bucket=self.bucket, Key=self.key(name), Body=data)

    def get(self, name: str) -> bytes:
        return b"".join(self.stream(name))

    def stream(self, name: str) -> Iterator[bytes]:
        with s3_call("read an object", missing_is_integrity=True):
            response = self.client.get_object(Bucket=self.bucket, Key=self.key(name))
            body = response["Body"]
            try:
                yield from body.iter_chunks(_READ_CHUNK)
            finally:
                body.close()

    def head(self, name: str) -> dict[str, Any] | None:
        """The object's metadata, ``None`` if there is no such object."""
        from botocore.exceptions import ClientError

        with s3_call("look up an object"):
            try:
                return dict(self.client.head_object(Bucket=self.bucket, Key=self.key(name)))
            except ClientError as exc:
                if _error_code(exc) in _MISSING_CODES:
                    return None
                raise

    def delete(self, name: str) -> None:
        with s3_call("delete an object"):
            self.client.delete_object(Bucket=self.bucket, Key=self.key(name))

    def names(self, under: str = "") -> Iterator[str]:
        """Names (relative to the prefix) of every object whose name starts with ``under``."""
        paginator = self.client.get_paginator("list_objects_v2")
        with s3_call("list objects"):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.key(under)):
                for item in page.get("Contents", []):
                    yield item["Key"][len(self.prefix):]

    def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist (tests, first start of a target)."""
        from botocore.exceptions import ClientError

        with s3_call("create the bucket"):
            try:
                self.client.head_bucket(Bucket=self.bucket)
            except ClientError as exc:
                if _error_code(exc) not in _MISSING_CODES | {"NoSuchBucket"}:
                    raise
                self.client.create_bucket(Bucket=self.bucket)


class _S3Writer(BlobWriter):
    def __init__(self, store: S3BlobStore, name: str) -> None:
        self.name = name
        self._store = store
        self._key = store.objects.key(check_blob_name(name))
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._finished = False

    @property
    def _client(self) -> S3Client:
        return self._store.objects.client

    def write(self, data: bytes) -> None:
        if self._finished:
            raise OutOfResourcesError("write to a finished blob writer")
        self._buffer += data
        try:
            while len(self._buffer) >= self._store.part_size:
                part = bytes(self._buffer[: self._store.part_size])
                del self._buffer[: self._store.part_size]
                self._upload_part(part)
        except OutOfResourcesError:
            self.abort()
            raise

    def _upload_part(self, data: bytes) -> None:
        bucket = self._store.objects.bucket
        with s3_call("start a multipart upload"):
            if self._upload_id is None:
                created = self._client.create_multipart_upload(Bucket=bucket, Key=self._key)
                self._upload_id = created["UploadId"]
            number = len(self._parts) + 1
            sent = self._client.upload_part(Bucket=bucket, Key=self._key, PartNumber=number,
                                            UploadId=self._upload_id, Body=data)
        self._parts.append({"PartNumber": number, "ETag": sent["ETag"]})

    def commit(self) -> None:
        if self._finished:
            raise OutOfResourcesError("commit of a finished blob writer")
        bucket = self._store.objects.bucket
        try:
            if self._upload_id is None:
                with s3_call("store an object"):
                    self._client.put_object(Bucket=bucket, Key=self._key, Body=bytes(self._buffer))
            else:
                if self._buffer or not self._parts:
                    self._upload_part(bytes(self._buffer))
                with s3_call("complete a multipart upload"):
                    self._client.complete_multipart_upload(
                        Bucket=bucket, Key=self._key, UploadId=self._upload_id,
                        MultipartUpload={"Parts": self._parts},  # type: ignore[typeddict-item]
                    )
        except OutOfResourcesError:
            self.abort()
            raise
        self._buffer.clear()
        self._finished = True

    def abort(self) -> None:
        if self._finished:
            return
        self._finished = True
        self._buffer.clear()
        if self._upload_id is not None:
            from botocore.exceptions import BotoCoreError, ClientError

            # Best effort: an upload we cannot abort now is aborted by fsck later.
            with contextlib.suppress(BotoCoreError, ClientError):
                self._client.abort_multipart_upload(
                    Bucket=self._store.objects.bucket, Key=self._key, UploadId=self._upload_id
                )


class S3BlobStore(BlobStore):
    """Sealed objects in ``bucket`` under ``prefix``; see the module docstring."""

    def __init__(self, connection: S3Connection, bucket: str, prefix: str = "", *,
                 part_size: int = DEFAULT_PART_SIZE) -> None:
        if part_size < MIN_PART_SIZE:
            raise ConfigurationError(f"S3 part size must be at least {MIN_PART_SIZE} bytes")
        self.objects = S3Objects(connection, bucket, prefix)
        self.part_size = part_size

    def begin(self, name: str) -> BlobWriter:
        return _S3Writer(self, name)

    def read(self, name: str) -> Iterator[bytes]:
        return self.objects.stream(check_blob_name(name))

    def delete(self, name: str) -> None:
        self.objects.delete(check_blob_name(name))

    def exists(self, name: str) -> bool:
        return self.objects.head(check_blob_name(name)) is not None

    def names(self) -> Iterator[str]:
        for name in self.objects.names():
            if "/" not in name:
                yield name

    def committed_at(self, name: str) -> float:
        head = self.objects.head(check_blob_name(name))
        if head is None:
            raise IntegrityError("a stored object is missing from blob storage")
        return float(head["LastModified"].timestamp())

    def discard_incomplete(self, older_than_seconds: float = 0.0) -> int:
        import time

        cutoff = time.time() - older_than_seconds
        client = self.objects.client
        count = 0
        paginator = client.get_paginator("list_multipart_uploads")
        with s3_call("list incomplete uploads"):
            for page in paginator.paginate(Bucket=self.objects.bucket, Prefix=self.objects.prefix):
                for upload in page.get("Uploads", []):
                    if older_than_seconds and upload["Initiated"].timestamp() > cutoff:
                        continue
                    client.abort_multipart_upload(Bucket=self.objects.bucket,
                                                  Key=upload["Key"], UploadId=upload["UploadId"])
                    count += 1
        return count
