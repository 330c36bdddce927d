"""The ledger's secrets: the identifier HMAC key and the Ed25519 signing keys.

Three files in a directory the caller chooses (mode 0700), each mode 0600:

* ``identifier.key``: 32 random bytes, the HMAC key of
  :class:`~dicomvault.ledger.identifiers.IdentifierHasher`;
* ``checkpoint.key``: the Ed25519 seed that signs this log's checkpoints;
* ``witness.key``: the Ed25519 seed that cosigns partners' checkpoints. C2SP
  tlog-cosignature wants a cosigner key of its own, and keeping it apart
  from the log key means a leaked witness key cannot forge our checkpoints.

Files are created exclusively (a hard link of a fully written temporary
file), so two processes starting at once on an empty directory end up with
the same keys. A key file readable by group or others is refused. Key
material never appears in ``repr`` or logs.
"""

from __future__ import annotations

import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dicomvault.errors import ConfigurationError
from dicomvault.keys.files import create_secret_file_once, ensure_private_dir

IDENTIFIER_FILE = "identifier.key"
CHECKPOINT_FILE = "checkpoint.key"
WITNESS_FILE = "witness.key"
_KEY_BYTES = 32


@dataclass(frozen=True, slots=True, repr=False)
class LedgerKeys:
    """The identifier key and the two Ed25519 keys of one node's ledger."""

    identifier_key: bytes
    signing_key: Ed25519PrivateKey
    witness_key: Ed25519PrivateKey

    def __repr__(self) -> str:
        return "LedgerKeys(<redacted>)"

    @classmethod
    def generate(cls) -> LedgerKeys:
        """Fresh random keys held only in memory (tests, or before :meth:`save`)."""
        return cls(
            secrets.token_bytes(_KEY_BYTES),
            Ed25519PrivateKey.generate(),
            Ed25519PrivateKey.generate(),
        )

    @classmethod
    def load(cls, directory: Path) -> LedgerKeys:
        """Load the keys from ``directory``; :class:`ConfigurationError` if any is missing."""
        return cls(
            _read(directory / IDENTIFIER_FILE),
            Ed25519PrivateKey.from_private_bytes(_read(directory / CHECKPOINT_FILE)),
            Ed25519PrivateKey.from_private_bytes(_read(directory / WITNESS_FILE)),
        )

    @classmethod
    def load_or_create(cls, directory: Path) -> LedgerKeys:
        """Load the keys, first creating any that do not exist yet."""
        ensure_private_dir(directory)
        fresh = cls.generate()
        for name, material in fresh._materials().items():
            create_secret_file_once(directory / name, material)
        return cls.load(directory)

    def _materials(self) -> dict[str, bytes]:
        return {
            IDENTIFIER_FILE: self.identifier_key,
            CHECKPOINT_FILE: self.signing_key.private_bytes_raw(),
            WITNESS_FILE: self.witness_key.private_bytes_raw(),
        }


def _read(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigurationError(f"ledger key file {path.name} is missing") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigurationError(
            f"ledger key file {path.name} is accessible by group or others; chmod 600 it"
        )
    if len(data) != _KEY_BYTES:
        raise ConfigurationError(f"ledger key file {path.name} is not {_KEY_BYTES} bytes")
    return data
