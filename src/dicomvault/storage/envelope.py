"""The encryption envelope: segmented AES-256-GCM under a per-object data key.

A blob is ``header || segment_0 || ... || segment_n`` where

* ``header`` = ``b"DVB2"`` (or ``b"DVB1"``, see below) + segment size
  (uint32 BE) + 7-byte random nonce prefix (15 bytes), bound to every
  segment as associated data;
* each segment is the AES-256-GCM encryption of up to ``segment size`` bytes
  of plaintext (ciphertext + 16-byte tag) under the nonce
  ``prefix || segment index (uint32 BE) || last flag (0x00/0x01)``;
* in a ``DVB2`` blob the last segment's associated data is also bound to the
  SHA-256 of the whole plaintext (``header || digest``): the digest the
  writer computed of exactly what it sealed, which the index records. The
  blob is therefore opened only *as* that content (:func:`open_sealed` with
  ``content_sha256``): if the index row points at any other blob, or the
  row's hash is not the blob's, the last tag fails, without hashing the
  plaintext again. ``DVB1`` blobs (written before, and backup snapshots)
  have no such binding; opening one as a given content hashes it instead.
  See ``docs/security.md`` ("Integrity of stored images").

This is the "STREAM" construction (Hoang, Reyhanitabar, Rogaway, Vizár 2015,
as used by Tink's streaming AEAD): objects of any size are sealed and opened
in bounded memory, every byte released to a reader has been authenticated,
and reordered, dropped or truncated segments fail (the index and the last
flag are authenticated). Frame-level random access needs only the segments
that hold the frame.

The data key is never used directly: HKDF-SHA256 derives one subkey for the
blob and another for the sealed header cache kept in the index, so the two
uses never share a key and nonce space.
"""

from __future__ import annotations

import hashlib
import secrets
import struct
from collections.abc import Callable, Iterable, Iterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from dicomvault.errors import IntegrityError

MAGIC = b"DVB2"  # the last segment is bound to the content's SHA-256
MAGIC_UNBOUND = b"DVB1"
HEADER_LEN = 15
TAG_LEN = 16
DEFAULT_SEGMENT_SIZE = 1024 * 1024
_SMALL_NONCE_LEN = 12


def _subkey(data_key: bytes, purpose: bytes) -> AESGCM:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(data_key)
    return AESGCM(derived)


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + struct.pack(">I?", index, last)


class SealingWriter:
    """Encrypts a plaintext stream into a blob, segment by segment.

    ``sink`` receives ciphertext chunks as they are produced. The writer
    also computes the plaintext's SHA-256 and size, which the index records,
    and binds the last segment to that SHA-256 (a ``DVB2`` blob) unless
    ``bind_content`` is false (a ``DVB1`` blob, for objects whose readers do
    not know the plaintext's hash: backup snapshots).

    Plaintext is not copied when it need not be: whole segments are encrypted
    from views of what :meth:`write` was given, and a ``bytes`` remainder is
    kept by reference until more data or :meth:`close` comes (an instance of
    one segment, the usual case, is hashed and encrypted straight from the
    caller's buffer).
    """

    def __init__(
        self,
        data_key: bytes,
        sink: Callable[[bytes], object],
        segment_size: int = DEFAULT_SEGMENT_SIZE,
        *,
        bind_content: bool = True,
    ) -> None:
        self._aead = _subkey(data_key, b"dicomvault blob v1")
        self._sink = sink
        self._segment_size = segment_size
        self._prefix = secrets.token_bytes(7)
        magic = MAGIC if bind_content else MAGIC_UNBOUND
        self._header = magic + struct.pack(">I", segment_size) + self._prefix
        #: Plaintext of the segment being filled: the caller's bytes, or our own copy.
        self._pending: bytes | bytearray | memoryview = b""
        self._index = 0
        self._hash = hashlib.sha256()
        self.size = 0
        self._closed = False
        sink(self._header)

    def write(self, plaintext: bytes) -> None:
        self._hash.update(plaintext)
        self.size += len(plaintext)
        view = memoryview(plaintext)
        if self._pending:
            # A segment is emitted only once more data follows it (the last is flagged).
            pending = self._pending
            buffer = pending if isinstance(pending, bytearray) else bytearray(pending)
            room = self._segment_size - len(buffer)
            buffer += view[:room]
            view = view[room:]
            if not view:
                self._pending = buffer
                return
            self._emit(buffer, last=False)
        while len(view) > self._segment_size:
            self._emit(view[: self._segment_size], last=False)
            view = view[self._segment_size:]
        # Kept by reference only when nobody can change it behind our back.
        self._pending = view if isinstance(plaintext, bytes) else bytes(view)

    def close(self) -> str:
        """Seal the final segment; returns the plaintext SHA-256 (hex)."""
        if not self._closed:
            self._emit(self._pending, last=True)
            self._pending = b""
            self._closed = True
        return self._hash.hexdigest()

    def _emit(self, segment: bytes | bytearray | memoryview, *, last: bool) -> None:
        nonce = _nonce(self._prefix, self._index, last)
        aad = self._header
        if last and self._header[:4] == MAGIC:
            aad += self._hash.digest()
        self._sink(self._aead.encrypt(nonce, segment, aad))
        self._index += 1


def open_sealed(data_key: bytes, chunks: Iterable[bytes], *,
                content_sha256: str | None = None) -> Iterator[bytes]:
    """Yield authenticated plaintext segments of a blob given its ciphertext chunks.

    Raises :class:`IntegrityError` as soon as a segment fails its tag, the blob is
    truncated (no final segment) or has bytes after its final segment.

    ``content_sha256`` (hex), when given, is the SHA-256 the plaintext must have
    (the index's record of the object): a ``DVB2`` blob's last tag checks it, a
    ``DVB1`` blob is hashed and checked at the end; either way the last segment
    is yielded only if it matches. A ``DVB2`` blob can only be opened with it.

    Segments are decrypted from views of the chunks as they arrive: ciphertext is
    copied only when a segment straddles two chunks (a retrieve is otherwise
    bound by copying: a segment used to be copied three times before decryption).
    """
    aead = _subkey(data_key, b"dicomvault blob v1")
    pending = memoryview(b"")  # received, not yet decrypted (a view while unsplit)
    header: bytes | None = None
    final_aad = b""
    digest: hashlib._Hash | None = None
    segment_len = 0
    prefix = b""
    index = 0
    for chunk in chunks:
        pending = memoryview(bytes(pending) + chunk) if pending else memoryview(chunk)
        if header is None:
            if len(pending) < HEADER_LEN:
                continue
            header = bytes(pending[:HEADER_LEN])
            pending = pending[HEADER_LEN:]
            segment_len, prefix, final_aad, digest = _read_header(header, content_sha256)
        # Keep at least one full segment back: only at the end do we know which is last.
        while len(pending) > segment_len:
            segment = _decrypt(aead, prefix, index, pending[:segment_len], header, last=False)
            if digest is not None:
                digest.update(segment)
            yield segment
            pending = pending[segment_len:]
            index += 1
    if header is None:
        raise IntegrityError("stored object is truncated (no envelope header)")
    segment = _decrypt(aead, prefix, index, pending, final_aad, last=True)
    if digest is not None:
        digest.update(segment)
        if digest.hexdigest() != content_sha256:
            raise IntegrityError("stored object does not match the hash recorded at ingest")
    yield segment


def open_sealed_into(data_key: bytes, blob: bytes, into: memoryview, *,
                     content_sha256: str) -> None:
    """Decrypt a whole ``blob`` into ``into``, which is exactly as long as its plaintext.

    The same checks as :func:`open_sealed` (every tag, the last-segment flag,
    the content binding or hash), for a blob already read whole, plus its
    plaintext's length against ``len(into)`` (the size recorded at ingest).
    Each segment is decrypted straight into its place, so a door can put its
    framing and several instances in one buffer (one send) without a copy.
    On :class:`IntegrityError` the buffer holds unauthenticated bytes: the
    caller drops it.
    """
    view = memoryview(blob)
    if len(view) < HEADER_LEN:
        raise IntegrityError("stored object is truncated (no envelope header)")
    header = bytes(view[:HEADER_LEN])
    segment_len, prefix, final_aad, digest = _read_header(header, content_sha256)
    body = view[HEADER_LEN:]
    count = max(1, -(-len(body) // segment_len))  # the last segment may be empty but is there
    if len(body) - count * TAG_LEN != len(into):
        raise IntegrityError("stored object is not the size recorded at ingest")
    start = 0
    aead = _subkey(data_key, b"dicomvault blob v1")
    for index in range(count):
        last = index == count - 1
        segment = body[index * segment_len:(index + 1) * segment_len]
        end = start + len(segment) - TAG_LEN
        _decrypt_into(aead, prefix, index, segment, final_aad if last else header,
                      into=into[start:end], last=last)
        if digest is not None:
            digest.update(into[start:end])
        start = end
    if digest is not None and digest.hexdigest() != content_sha256:
        raise IntegrityError("stored object does not match the hash recorded at ingest")


def _read_header(header: bytes, content_sha256: str | None
                 ) -> tuple[int, bytes, bytes, hashlib._Hash | None]:
    """From a blob's header: the ciphertext length of a full segment, the nonce prefix,
    the last segment's associated data and the hash to compute (see _final_binding)."""
    final_aad, digest = _final_binding(header, content_sha256)
    (segment_size,) = struct.unpack(">I", header[4:8])
    return segment_size + TAG_LEN, header[8:], final_aad, digest


def _final_binding(header: bytes, content_sha256: str | None
                   ) -> tuple[bytes, hashlib._Hash | None]:
    """The last segment's associated data, and the hash to compute if the blob's
    format does not bind the content (``DVB1`` opened as a given content)."""
    magic = header[:4]
    if magic == MAGIC:
        if content_sha256 is None:
            raise IntegrityError("a content-bound blob is opened only as its recorded content")
        return header + bytes.fromhex(content_sha256), None
    if magic == MAGIC_UNBOUND:
        return header, None if content_sha256 is None else hashlib.sha256()
    raise IntegrityError("stored object is not a dicomvault sealed blob")


def _decrypt(
    aead: AESGCM, prefix: bytes, index: int, data: bytes | memoryview, aad: bytes, *, last: bool
) -> bytes:
    try:
        return aead.decrypt(_nonce(prefix, index, last), data, aad)
    except InvalidTag as exc:
        raise _segment_failed(index) from exc


def _decrypt_into(aead: AESGCM, prefix: bytes, index: int, data: memoryview, aad: bytes, *,
                  into: memoryview, last: bool) -> None:
    try:
        aead.decrypt_into(_nonce(prefix, index, last), data, aad, into)
    except InvalidTag as exc:
        raise _segment_failed(index) from exc


def _segment_failed(index: int) -> IntegrityError:
    return IntegrityError(f"stored object failed authentication at segment {index}: "
                          "it was altered, truncated or is corrupt")


def seal_bytes(data_key: bytes, plaintext: bytes) -> bytes:
    """Seal a small value (the header cache) under the data key's header subkey."""
    nonce = secrets.token_bytes(_SMALL_NONCE_LEN)
    return nonce + _subkey(data_key, b"dicomvault header v1").encrypt(nonce, plaintext, None)


def open_bytes(data_key: bytes, sealed: bytes) -> bytes:
    """Open a value sealed by :func:`seal_bytes`; :class:`IntegrityError` if altered."""
    try:
        return _subkey(data_key, b"dicomvault header v1").decrypt(
            sealed[:_SMALL_NONCE_LEN], sealed[_SMALL_NONCE_LEN:], None
        )
    except InvalidTag as exc:
        raise IntegrityError("the sealed header of an object failed authentication") from exc
