"""Key material for disaster recovery: export it under a recovery passphrase, install it back.

A backup holds only ciphertext and wrapped data keys; without the
key-encryption keys (KEKs) it is useless, which is the point. The KEKs are
therefore backed up *separately*, by ``dicomvault keys export --to FILE
--passphrase-stdin``, into a recovery file the operator keeps apart from
the backups (offline, in a safe). The file holds, sealed with AES-256-GCM
under a key derived from the recovery passphrase with scrypt (RFC 7914):

* the local keyring's master keys and which is active, and every study KEK
  file (``kek/<name>.json``, each sealed under a master key): the key
  hierarchy of :mod:`dicomvault.keys.keyring` (KEKs held by an external KMS
  are not exported: they stay in the KMS, and the file says so);
* the ledger's keys (identifier HMAC key, checkpoint and witness Ed25519
  keys), without which the restored node could neither continue its
  ledger nor check the signed backup manifests.

``dicomvault restore --keys FILE --passphrase-stdin`` installs them on the
new node, sealing the keyring under that node's own keyring passphrase.

Crypto-shredding and recovery files: a recovery file holds the KEKs of the
studies that existed when it was written, so with an older backup it can
still open a study deleted since. After deletions, export a new recovery
file and destroy the older ones (docs/security.md, docs/backup.md).

This is the one module outside :mod:`dicomvault.keys.keyring` that reads the
keyring's sealed content (through its private helpers).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dicomvault.config import Settings
from dicomvault.errors import ConfigurationError, InvalidInputError
from dicomvault.keys import keyring as _keyring
from dicomvault.keys.files import ensure_private_dir, write_secret_file
from dicomvault.keys.provider import KeyProvider
from dicomvault.ledger.keys import CHECKPOINT_FILE, IDENTIFIER_FILE, WITNESS_FILE

FORMAT = "dicomvault-recovery-1"
_KEK_DIR = "kek"
_KEY_NAME = re.compile(r"[A-Za-z0-9_-]{1,56}")
MIN_PASSPHRASE_LENGTH = 12
_LEDGER_FILES = (IDENTIFIER_FILE, CHECKPOINT_FILE, WITNESS_FILE)


@dataclass(frozen=True, slots=True)
class RecoveryContents:
    """What a recovery file holds (key ids only in ``repr``)."""

    keks: dict[str, bytes]
    active_kek: str | None
    ledger_files: dict[str, bytes]
    #: Study KEK files by key name, as sealed under a master key (``kek/<name>.json``).
    study_keks: dict[str, bytes]

    def __repr__(self) -> str:
        return (f"RecoveryContents(master_keys={sorted(self.keks)}, "
                f"study_keks={len(self.study_keks)}, ledger_keys={len(self.ledger_files)})")


def _ledger_dir(settings: Settings) -> Any:
    from dicomvault.node import ledger_keys_dir

    return ledger_keys_dir(settings)


def node_keyring_passphrase(settings: Settings) -> str:
    """The passphrase that seals this node's keyring (configured, or the generated one)."""
    if settings.keyring_passphrase is not None:
        return settings.keyring_passphrase.get_secret_value()
    ensure_private_dir(settings.keys_dir)
    return _keyring.LocalKeyring._generated(settings.keys_dir)


def check_recovery_passphrase(passphrase: str) -> str:
    passphrase = passphrase.rstrip("\r\n")
    if len(passphrase) < MIN_PASSPHRASE_LENGTH:
        raise InvalidInputError(
            f"a recovery passphrase needs at least {MIN_PASSPHRASE_LENGTH} characters")
    return passphrase


def collect(settings: Settings, provider: KeyProvider) -> RecoveryContents:
    """Read this node's key material (the keyring only if it is the local one)."""
    keks: dict[str, bytes] = {}
    active: str | None = None
    study_keks: dict[str, bytes] = {}
    if isinstance(provider, _keyring.LocalKeyring):
        content = _keyring._open(provider.path.read_bytes(),
                                 node_keyring_passphrase(settings))
        keks, active = dict(content.keks), content.active
        study_keks = {path.stem: path.read_bytes()
                      for path in sorted((settings.keys_dir / _KEK_DIR).glob("*.json"))}
    ledger_dir = _ledger_dir(settings)
    files = {name: (ledger_dir / name).read_bytes() for name in _LEDGER_FILES}
    return RecoveryContents(keks, active, files, study_keks)


def seal_recovery(contents: RecoveryContents, passphrase: str) -> bytes:
    """The recovery file's bytes (JSON envelope, scrypt + AES-256-GCM)."""
    passphrase = check_recovery_passphrase(passphrase)
    inner = json.dumps({
        "keyring": None if contents.active_kek is None else {
            "active": contents.active_kek,
            "keks": {k: _keyring._b64(v) for k, v in contents.keks.items()},
        },
        "external_kms": contents.active_kek is None,
        "ledger": {n: _keyring._b64(v) for n, v in contents.ledger_files.items()},
        "study_keks": {n: _keyring._b64(v) for n, v in contents.study_keks.items()},
    }).encode()
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    key = _keyring._derive(passphrase, salt)
    envelope = {
        "format": FORMAT,
        "kdf": {"name": "scrypt", "n": _keyring._SCRYPT_N, "r": _keyring._SCRYPT_R,
                "p": _keyring._SCRYPT_P},
        "salt": base64.b64encode(salt).decode(),
        "nonce": base64.b64encode(nonce).decode(),
        "ciphertext": base64.b64encode(
            AESGCM(key).encrypt(nonce, inner, FORMAT.encode())).decode(),
    }
    return json.dumps(envelope, indent=2).encode()


def write_recovery_file(path: Path, settings: Settings, provider: KeyProvider,
                        passphrase: str) -> RecoveryContents:
    """Collect the node's keys now and seal them into ``path`` (mode 0600, atomic).

    A recovery file opens only the backups made before it: every snapshot and
    every new study gets a KEK of its own, so the file must be written again
    after each backup (``backup run --keys-to``).
    """
    contents = collect(settings, provider)
    write_secret_file(path, seal_recovery(contents, passphrase))
    return contents


def open_recovery(raw: bytes, passphrase: str) -> RecoveryContents:
    """Decrypt a recovery file; :class:`InvalidInputError` if the passphrase is wrong."""
    passphrase = passphrase.rstrip("\r\n")
    try:
        envelope = json.loads(raw)
        if envelope.get("format") != FORMAT:
            raise InvalidInputError("not a dicomvault recovery file")
        salt = base64.b64decode(envelope["salt"], validate=True)
        kdf = envelope["kdf"]
        if (kdf["n"], kdf["r"], kdf["p"]) != (_keyring._SCRYPT_N, _keyring._SCRYPT_R,
                                              _keyring._SCRYPT_P):
            raise InvalidInputError("the recovery file uses unknown key-derivation parameters")
        inner = AESGCM(_keyring._derive(passphrase, salt)).decrypt(
            base64.b64decode(envelope["nonce"], validate=True),
            base64.b64decode(envelope["ciphertext"], validate=True), FORMAT.encode())
        data = json.loads(inner)
        ring = data["keyring"]
        return RecoveryContents(
            keks={} if ring is None else {k: base64.b64decode(v) for k, v in ring["keks"].items()},
            active_kek=None if ring is None else str(ring["active"]),
            ledger_files={n: base64.b64decode(data["ledger"][n]) for n in _LEDGER_FILES},
            study_keks={n: base64.b64decode(v) for n, v in data["study_keks"].items()},
        )
    except InvalidTag as exc:
        raise InvalidInputError(
            "the recovery passphrase is wrong or the recovery file was altered") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInputError("the recovery file is damaged") from exc


def install(settings: Settings, contents: RecoveryContents) -> None:
    """Write the recovered keys into this node's key directory (replacing what is there).

    The keyring is sealed under this node's keyring passphrase. The caller
    makes sure the node is empty (restore does).
    """
    ensure_private_dir(settings.keys_dir)
    if contents.active_kek is not None:
        sealed = _keyring._seal(
            _keyring._KeyringContent(dict(contents.keks), contents.active_kek),
            node_keyring_passphrase(settings))
        write_secret_file(settings.keys_dir / "keyring.json", sealed)
        kek_dir = settings.keys_dir / _KEK_DIR
        ensure_private_dir(kek_dir)
        for name, document in contents.study_keks.items():
            if not _KEY_NAME.fullmatch(name):
                raise InvalidInputError("the recovery file names a KEK file oddly")
            write_secret_file(kek_dir / f"{name}.json", document)
    elif not contents.ledger_files:
        raise ConfigurationError("the recovery file holds no keys")
    ledger_dir = _ledger_dir(settings)
    ensure_private_dir(ledger_dir)
    for name, material in contents.ledger_files.items():
        write_secret_file(ledger_dir / name, material)
