"""Signed checkpoints: C2SP ``tlog-checkpoint`` in a C2SP ``signed-note``, Ed25519.

A checkpoint body is three lines (C2SP tlog-checkpoint)::

    <origin>
    <tree size, decimal>
    <base64 root hash>
    Timestamp: <seconds since the POSIX epoch>

the last being an extension line (tlog-checkpoint allows them after the
root) that says when the log had that size; it is optional when parsing and
no other extension line is accepted.

followed by a blank line and one signature line per signer (C2SP
signed-note)::

    — <key name> <base64(4-byte key ID || signature)>

The log signs with an Ed25519 key whose ID is
``SHA-256(name || 0x0A || 0x01 || public key)[:4]``; its verifier key is
written ``<name>+<hex key ID>+<base64(0x01 || public key)>``.

A witness adds a cosignature (C2SP tlog-cosignature, ``cosignature/v1``):
key ID with algorithm byte 0x04, and a signature over ``"cosignature/v1\\n"
"time <seconds>\\n" || note body``, carried as ``key ID || u64 time ||
signature``.

Pure: only the standard library and ``cryptography`` (imported by the
standalone verifier).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from dicomvault.ledger.merkle import HASH_SIZE, VerificationError

ALG_ED25519 = 0x01
ALG_COSIGNATURE_V1 = 0x04
_DASH = "\u2014"  # EM DASH, signed-note signature line prefix
_NAME = re.compile(r"[^\s+]+")
_COSIGNATURE_HEADER = b"cosignature/v1\n"
_MAX_SIGNATURES = 100
_TIMESTAMP = "Timestamp: "


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str, what: str) -> bytes:
    """Strict base64: the only accepted spelling is the canonical one.

    ``b64decode`` ignores the unused low bits of the last character, so
    without the round-trip check several texts would decode to one value
    and a one-bit change of a signed note could go unnoticed.
    """
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise VerificationError(f"{what} is not valid base64") from exc
    if _b64(data) != text:
        raise VerificationError(f"{what} is not canonical base64")
    return data


def _check_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise ValueError("a key name is non-empty, without spaces or '+' (C2SP signed-note)")


def key_id(name: str, public_key: bytes, algorithm: int = ALG_ED25519) -> bytes:
    """The 4-byte key ID of C2SP signed-note: SHA-256(name || 0x0A || alg || key)[:4]."""
    material = name.encode("utf-8") + b"\n" + bytes([algorithm]) + public_key
    return hashlib.sha256(material).digest()[:4]


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A tree head as a transparency log publishes it (C2SP tlog-checkpoint)."""

    origin: str
    size: int
    root_hash: bytes
    #: When the log signed it (POSIX seconds), if the note says.
    timestamp: int | None = None

    def body(self) -> bytes:
        """The note body the signatures cover (including the final newline)."""
        extension = "" if self.timestamp is None else f"{_TIMESTAMP}{self.timestamp}\n"
        return f"{self.origin}\n{self.size}\n{_b64(self.root_hash)}\n{extension}".encode()


def parse_checkpoint_body(body: bytes) -> Checkpoint:
    """Parse a checkpoint note body; extension lines are refused (this log writes none)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise VerificationError("checkpoint is not UTF-8") from exc
    lines = text.split("\n")
    if len(lines) not in (4, 5) or lines[-1] != "":
        raise VerificationError("checkpoint body must be origin, size, root and timestamp lines")
    origin, size_text, root_text = lines[:3]
    timestamp = _timestamp(lines[3]) if len(lines) == 5 else None
    if not origin or not _is_decimal(size_text):
        raise VerificationError("checkpoint origin or size line is malformed")
    root = _unb64(root_text, "checkpoint root hash")
    if len(root) != HASH_SIZE:
        raise VerificationError("checkpoint root hash is not 32 bytes")
    return Checkpoint(origin, int(size_text), root, timestamp)


def _is_decimal(text: str) -> bool:
    return text.isascii() and text.isdigit() and (text == "0" or not text.startswith("0"))


def _timestamp(line: str) -> int:
    value = line.removeprefix(_TIMESTAMP)
    if value == line or not _is_decimal(value):
        raise VerificationError("checkpoint extension line is not 'Timestamp: <seconds>'")
    return int(value)


@dataclass(frozen=True, slots=True)
class VerifierKey:
    """A public key as a note verifier knows it: name, algorithm and key bytes."""

    name: str
    public_key: bytes
    algorithm: int = ALG_ED25519

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.public_key, self.algorithm)

    def encode(self) -> str:
        """``<name>+<hex key ID>+<base64(alg || key)>`` (C2SP signed-note verifier keys)."""
        return f"{self.name}+{self.key_id.hex()}+{_b64(bytes([self.algorithm]) + self.public_key)}"

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        """Parse an encoded verifier key, checking that its key ID matches the key."""
        parts = text.strip().split("+", 2)  # the base64 key may itself contain '+'
        if len(parts) != 3 or not _NAME.fullmatch(parts[0]):
            raise VerificationError("verifier key is not <name>+<hex id>+<base64 key>")
        material = _unb64(parts[2], "verifier key")
        if len(material) != 33 or material[0] not in (ALG_ED25519, ALG_COSIGNATURE_V1):
            raise VerificationError("verifier key is not an Ed25519 note or cosignature key")
        key = cls(parts[0], material[1:], material[0])
        if key.key_id.hex() != parts[1]:  # one spelling only: lowercase hex, as encoded
            raise VerificationError("verifier key ID does not match its name and key")
        return key

    def _ed25519(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(self.public_key)


@dataclass(frozen=True, slots=True)
class NoteSigner:
    """Signs note bodies with an Ed25519 key under a key name (the log's origin)."""

    name: str
    private_key: Ed25519PrivateKey

    def __post_init__(self) -> None:
        _check_name(self.name)

    def __repr__(self) -> str:
        return f"NoteSigner(name={self.name!r})"

    def verifier_key(self, algorithm: int = ALG_ED25519) -> VerifierKey:
        raw = self.private_key.public_key().public_bytes_raw()
        return VerifierKey(self.name, raw, algorithm)

    def signature_line(self, body: bytes) -> str:
        """``— <name> <base64(key ID || Ed25519(body))>`` (C2SP signed-note)."""
        blob = self.verifier_key().key_id + self.private_key.sign(body)
        return f"{_DASH} {self.name} {_b64(blob)}\n"

    def cosignature_line(self, body: bytes, timestamp: int) -> str:
        """A C2SP tlog-cosignature/v1 line over ``body`` at POSIX time ``timestamp``."""
        if not 0 <= timestamp < 2**63:
            raise ValueError("cosignature timestamp out of range")
        message = _COSIGNATURE_HEADER + f"time {timestamp}\n".encode() + body
        blob = (self.verifier_key(ALG_COSIGNATURE_V1).key_id + struct.pack(">Q", timestamp)
                + self.private_key.sign(message))
        return f"{_DASH} {self.name} {_b64(blob)}\n"


def sign_note(body: bytes, signer: NoteSigner) -> str:
    """A signed note: ``body`` (newline-terminated), a blank line, the signature line."""
    if not body.endswith(b"\n"):
        raise ValueError("a note body ends with a newline (C2SP signed-note)")
    return body.decode("utf-8") + "\n" + signer.signature_line(body)


def sign_checkpoint(checkpoint: Checkpoint, signer: NoteSigner) -> str:
    """The signed note text of ``checkpoint``."""
    return sign_note(checkpoint.body(), signer)


@dataclass(frozen=True, slots=True)
class _Signature:
    name: str
    blob: bytes


def split_note(note: str) -> tuple[bytes, list[_Signature]]:
    """Split a signed note into its body and its signature lines (C2SP signed-note)."""
    body, separator, signatures = note.rpartition("\n\n")
    if not separator or not signatures.endswith("\n"):
        raise VerificationError("note has no signature block")
    parsed: list[_Signature] = []
    for line in signatures[:-1].split("\n"):
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != _DASH or not _NAME.fullmatch(parts[1]):
            raise VerificationError("malformed note signature line")
        blob = _unb64(parts[2], "note signature")
        if len(blob) < 5:
            raise VerificationError("note signature too short")
        parsed.append(_Signature(parts[1], blob))
    if len(parsed) > _MAX_SIGNATURES:
        raise VerificationError("too many note signatures")
    return (body + "\n").encode("utf-8"), parsed


def _signed_by(body: bytes, signatures: list[_Signature], key: VerifierKey) -> bool:
    """True if a signature line by ``key`` verifies over ``body``."""
    for signature in signatures:
        if signature.name != key.name or signature.blob[:4] != key.key_id:
            continue
        if key.algorithm == ALG_COSIGNATURE_V1:
            if len(signature.blob) != 4 + 8 + 64:
                continue
            timestamp = struct.unpack(">Q", signature.blob[4:12])[0]
            message = _COSIGNATURE_HEADER + f"time {timestamp}\n".encode() + body
            raw = signature.blob[12:]
        else:
            message, raw = body, signature.blob[4:]
        try:
            key._ed25519().verify(raw, message)
        except InvalidSignature:
            continue
        return True
    return False


def verify_note(note: str, key: VerifierKey | str) -> bytes:
    """The body of ``note`` if a signature line by ``key`` verifies over it."""
    verifier = VerifierKey.parse(key) if isinstance(key, str) else key
    body, signatures = split_note(note)
    if not _signed_by(body, signatures, verifier):
        raise VerificationError(f"note is not signed by key {verifier.name}")
    return body


def verify_checkpoint(note: str, key: VerifierKey | str,
                      cosigners: tuple[VerifierKey | str, ...] = ()) -> Checkpoint:
    """Parse ``note`` and check it is signed by ``key`` (and cosigned by each of ``cosigners``).

    The origin must equal the key name, as C2SP tlog-checkpoint recommends,
    so that a checkpoint of one log cannot be passed off as another's.
    """
    verifier = VerifierKey.parse(key) if isinstance(key, str) else key
    body, signatures = split_note(note)
    checkpoint = parse_checkpoint_body(body)
    if checkpoint.origin != verifier.name:
        raise VerificationError("checkpoint origin does not match the verifier key name")
    if verifier.algorithm != ALG_ED25519 or not _signed_by(body, signatures, verifier):
        raise VerificationError("checkpoint is not signed by the given log key")
    for cosigner in cosigners:
        witness = VerifierKey.parse(cosigner) if isinstance(cosigner, str) else cosigner
        if not _signed_by(body, signatures, witness):
            raise VerificationError(f"checkpoint is not cosigned by witness {witness.name}")
    return checkpoint


def add_cosignature(note: str, witness: NoteSigner, timestamp: int) -> str:
    """``note`` with the witness's cosignature line appended."""
    body, _ = split_note(note)
    return note + witness.cosignature_line(body, timestamp)
