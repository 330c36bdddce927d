"""An institution's identity between nodes: one Ed25519 key pair, named by its fingerprint.

The private key signs every federation request the node sends and every
response it answers with (:mod:`dicomvault.sharing.signing`), and the share
agreements it grants. It lives in ``<keys_dir>/institution/institution.key``
(mode 0600, directory 0700), apart from the ledger's keys: an institution
key that leaks lets someone act as the hospital towards its partners, a
ledger key only lets them sign checkpoints.

The *institution id* is the SHA-256 (hex) of the raw 32-byte public key, so
that a partner is identified by what it can prove, not by a name it chose.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from dicomvault.errors import ConfigurationError, InvalidInputError
from dicomvault.keys.files import create_secret_file_once, ensure_private_dir

KEY_FILE = "institution.key"
_RAW_BYTES = 32


def fingerprint(public_key: bytes) -> str:
    """The institution id of a raw Ed25519 public key."""
    return hashlib.sha256(public_key).hexdigest()


@dataclass(frozen=True, slots=True)
class PublicIdentity:
    """A partner as this node knows it: its public key and the id derived from it."""

    public_key: bytes

    @classmethod
    def parse(cls, text: str) -> PublicIdentity:
        """The base64 form printed by ``dicomvault institution show``."""
        try:
            raw = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidInputError("an institution key is 32 bytes of base64") from exc
        if len(raw) != _RAW_BYTES:
            raise InvalidInputError("an institution key is 32 bytes of base64")
        return cls(raw)

    @property
    def institution_id(self) -> str:
        return fingerprint(self.public_key)

    @property
    def text(self) -> str:
        return base64.b64encode(self.public_key).decode("ascii")

    def verify(self, signature: bytes, message: bytes) -> bool:
        """Whether ``signature`` is this institution's over ``message``."""
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True, slots=True, repr=False)
class InstitutionKey:
    """This node's own key pair (the private half never appears in ``repr`` or logs)."""

    private_key: Ed25519PrivateKey

    def __repr__(self) -> str:
        return f"InstitutionKey(id={self.identity.institution_id[:16]}...)"

    @property
    def identity(self) -> PublicIdentity:
        return PublicIdentity(self.private_key.public_key().public_bytes_raw())

    @property
    def institution_id(self) -> str:
        return self.identity.institution_id

    def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message)

    @classmethod
    def path_in(cls, keys_dir: Path) -> Path:
        return keys_dir / "institution" / KEY_FILE

    @classmethod
    def load_or_create(cls, keys_dir: Path) -> InstitutionKey:
        """The node's key, generated on first use (two processes racing keep one key)."""
        path = cls.path_in(keys_dir)
        ensure_private_dir(path.parent)
        create_secret_file_once(path, Ed25519PrivateKey.generate().private_bytes_raw())
        return cls.load(keys_dir)

    @classmethod
    def load(cls, keys_dir: Path) -> InstitutionKey:
        path = cls.path_in(keys_dir)
        try:
            if path.stat().st_mode & 0o077:
                raise ConfigurationError(f"{path} is readable by others; chmod 600 it")
            raw = path.read_bytes()
        except FileNotFoundError as exc:
            raise ConfigurationError(
                "this node has no institution key yet: run 'dicomvault institution keygen'"
            ) from exc
        if len(raw) != _RAW_BYTES:
            raise ConfigurationError(f"{path} is not an Ed25519 seed")
        return cls(Ed25519PrivateKey.from_private_bytes(raw))
