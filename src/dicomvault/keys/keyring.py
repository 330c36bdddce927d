"""The local keyring: the embedded default key provider.

Two kinds of file under ``<data_dir>/keys`` (directory mode 0700, files 0600):

* ``keyring.json``: the keyring's master key, sealed with AES-256-GCM under a
  key derived from a passphrase with scrypt (RFC 7914; N=2**15, r=8, p=1);
* ``kek/<name>.json``: one file per study KEK (see
  :mod:`dicomvault.keys.provider`), each version sealed with AES-256-GCM under
  the master key, the key name and version bound as associated data. Creating a
  study's KEK writes one small file; destroying it (crypto-shredding) unlinks
  the file, so the scrypt cost is paid once per process, never per study.

The passphrase comes from the
settings (``DICOMVAULT_KEYRING_PASSPHRASE``) or, in the embedded default only,
from a generated file ``<data_dir>/keys/passphrase`` (mode 0600) beside it;
:attr:`LocalKeyring.uses_generated_passphrase` tells the server to warn that
production should use an operator-supplied passphrase or a KMS.

Several processes may share a data directory (a server and a CLI command):
``wrap`` and ``rotate`` always read the KEK's file, and a version unknown in
memory triggers one re-read, so a rotation made by one process is seen by the
others.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from dicomvault.errors import ConfigurationError, KeyUnavailableError
from dicomvault.keys.files import ensure_private_dir, write_secret_file
from dicomvault.keys.provider import VersionedKeyTable

_FORMAT = "dicomvault-keyring-1"
_KEK_FORMAT = "dicomvault-kek-1"
_KEK_NAME = re.compile(r"[A-Za-z0-9_-]{1,56}")
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


class LocalKeyring(VersionedKeyTable):
    """Study KEKs in private files, sealed under a passphrase-protected master key."""

    kind = "local"

    def __init__(self, keys_dir: Path, passphrase: str | None) -> None:
        super().__init__()
        self._path = keys_dir / "keyring.json"
        self._kek_dir = keys_dir / "kek"
        self.uses_generated_passphrase = passphrase is None
        self._passphrase = passphrase if passphrase is not None else self._generated(keys_dir)
        self._lock = threading.Lock()
        if self._path.exists():
            self._content = _open(self._path.read_bytes(), self._passphrase)
        else:
            master_id = "mk-" + secrets.token_hex(8)
            self._content = _KeyringContent({master_id: secrets.token_bytes(32)}, master_id)
            write_secret_file(self._path, _seal(self._content, self._passphrase))
        ensure_private_dir(self._kek_dir)

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

    def describe(self) -> dict[str, str]:
        return {"kind": self.kind, "location": str(self._path.parent)}

    def _file(self, name: str) -> Path:
        if not _KEK_NAME.fullmatch(name):
            raise KeyUnavailableError("not a key name this archive uses")
        return self._kek_dir / f"{name}.json"

    def _master(self, master_id: str) -> bytes:
        master = self._content.keks.get(master_id)
        if master is None:
            with self._lock:
                self._content = _open(self._path.read_bytes(), self._passphrase)
            master = self._content.keks.get(master_id)
        if master is None:
            raise ConfigurationError("a KEK file is sealed under a master key this keyring lacks")
        return master

    def _load(self, name: str) -> dict[int, bytes] | None:
        try:
            raw = self._file(name).read_bytes()
        except FileNotFoundError:
            return None
        try:
            document: dict[str, Any] = json.loads(raw)
            if document.get("format") != _KEK_FORMAT:
                raise ConfigurationError("a KEK file has an unknown format")
            aead = AESGCM(self._master(document["master"]))
            versions: dict[int, bytes] = {}
            for version, sealed in document["versions"].items():
                blob = _unb64(sealed)
                versions[int(version)] = aead.decrypt(
                    blob[:12], blob[12:], f"{name}.v{int(version)}".encode())
        except InvalidTag as exc:
            raise ConfigurationError(f"the KEK file of {name} was altered") from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigurationError(f"the KEK file of {name} is damaged") from exc
        return versions

    def _store(self, name: str, versions: dict[int, bytes]) -> None:
        master_id = self._content.active
        aead = AESGCM(self._content.keks[master_id])
        sealed = {}
        for version, key in sorted(versions.items()):
            nonce = secrets.token_bytes(12)
            sealed[str(version)] = _b64(
                nonce + aead.encrypt(nonce, key, f"{name}.v{version}".encode()))
        document = {"format": _KEK_FORMAT, "master": master_id, "versions": sealed}
        write_secret_file(self._file(name), json.dumps(document).encode())

    def _remove(self, name: str) -> None:
        self._file(name).unlink(missing_ok=True)

    def _list(self) -> list[str]:
        return [path.stem for path in self._kek_dir.glob("*.json")]
