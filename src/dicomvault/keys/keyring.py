"""The local keyring: the embedded default key provider.

The keyring is one JSON file, ``<data_dir>/keys/keyring.json`` (mode 0600),
whose KEKs are sealed with AES-256-GCM under a key derived from a passphrase
with scrypt (RFC 7914; N=2**15, r=8, p=1). The passphrase comes from the
settings (``DICOMVAULT_KEYRING_PASSPHRASE``) or, in the embedded default only,
from a generated file ``<data_dir>/keys/passphrase`` (mode 0600) beside it;
:attr:`LocalKeyring.uses_generated_passphrase` tells the server to warn that
production should use an operator-supplied passphrase or a KMS.

Several processes may share a data directory (a server and a CLI command):
a KEK id that is not known in memory triggers one re-read of the file, so a
rotation made by one process is seen by the others.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from dicomvault.errors import ConfigurationError, KeyUnavailableError
from dicomvault.keys.files import write_secret_file
from dicomvault.keys.provider import KeyProvider, WrappedKey, new_kek_id, unwrap_with, wrap_with

_FORMAT = "dicomvault-keyring-1"
_SCRYPT_N = 2**15
_SCRYPT_R = 8
_SCRYPT_P = 1


@dataclass(frozen=True, slots=True)
class _KeyringContent:
    keks: dict[str, bytes]
    active: str


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def _derive(passphrase: str, salt: bytes) -> bytes:
    kdf = Scrypt(salt=salt, length=32, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P)
    return kdf.derive(passphrase.encode("utf-8"))


def _seal(content: _KeyringContent, passphrase: str) -> bytes:
    salt = secrets.token_bytes(16)
    nonce = secrets.token_bytes(12)
    inner = json.dumps(
        {"active": content.active, "keks": {k: _b64(v) for k, v in content.keks.items()}}
    ).encode()
    sealed = AESGCM(_derive(passphrase, salt)).encrypt(nonce, inner, _FORMAT.encode())
    envelope = {
        "format": _FORMAT,
        "kdf": {"name": "scrypt", "n": _SCRYPT_N, "r": _SCRYPT_R, "p": _SCRYPT_P},
        "salt": _b64(salt),
        "nonce": _b64(nonce),
        "ciphertext": _b64(sealed),
    }
    return json.dumps(envelope, indent=2).encode()


def _open(raw: bytes, passphrase: str) -> _KeyringContent:
    try:
        envelope: dict[str, Any] = json.loads(raw)
        if envelope.get("format") != _FORMAT:
            raise ConfigurationError("the keyring file has an unknown format")
        kdf = envelope["kdf"]
        key = Scrypt(
            salt=_unb64(envelope["salt"]), length=32, n=kdf["n"], r=kdf["r"], p=kdf["p"]
        ).derive(passphrase.encode("utf-8"))
        inner = AESGCM(key).decrypt(
            _unb64(envelope["nonce"]), _unb64(envelope["ciphertext"]), _FORMAT.encode()
        )
    except InvalidTag as exc:
        raise ConfigurationError(
            "the keyring passphrase is wrong or the keyring file was altered"
        ) from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigurationError("the keyring file is damaged") from exc
    data = json.loads(inner)
    return _KeyringContent(
        keks={k: _unb64(v) for k, v in data["keks"].items()}, active=data["active"]
    )


class LocalKeyring(KeyProvider):
    """KEKs in a passphrase-protected file under the data directory."""

    def __init__(self, keys_dir: Path, passphrase: str | None) -> None:
        self._path = keys_dir / "keyring.json"
        self.uses_generated_passphrase = passphrase is None
        self._passphrase = passphrase if passphrase is not None else self._generated(keys_dir)
        self._lock = threading.Lock()
        if self._path.exists():
            self._content = _open(self._path.read_bytes(), self._passphrase)
        else:
            kek_id = new_kek_id()
            self._content = _KeyringContent({kek_id: secrets.token_bytes(32)}, kek_id)
            write_secret_file(self._path, _seal(self._content, self._passphrase))

    @staticmethod
    def _generated(keys_dir: Path) -> str:
        path = keys_dir / "passphrase"
        if path.exists():
            return path.read_text(encoding="ascii").strip()
        passphrase = secrets.token_urlsafe(32)
        write_secret_file(path, passphrase.encode("ascii") + b"\n")
        return passphrase

    @property
    def path(self) -> Path:
        return self._path

    def kek_ids(self) -> list[str]:
        return sorted(self._content.keks)

    def active_kek_id(self) -> str:
        return self._content.active

    def wrap(self, data_key: bytes) -> WrappedKey:
        content = self._content
        return WrappedKey(content.active, wrap_with(content.keks[content.active], data_key))

    def unwrap(self, kek_id: str, wrapped: bytes) -> bytes:
        kek = self._content.keks.get(kek_id)
        if kek is None:
            self._reload()
            kek = self._content.keks.get(kek_id)
        if kek is None:
            raise KeyUnavailableError("the key that unlocks this object is no longer held")
        return unwrap_with(kek, wrapped)

    def _reload(self) -> None:
        with self._lock:
            self._content = _open(self._path.read_bytes(), self._passphrase)
