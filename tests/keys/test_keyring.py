"""The local keyring: file modes, passphrases, study KEK files, tampering, shared use."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest

from dicomvault.errors import ConfigurationError, IntegrityError, KeyUnavailableError
from dicomvault.keys import LocalKeyring, new_data_key


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_generated_keyring_passphrase_and_kek_files_are_private(tmp_path: Path) -> None:
    keyring = LocalKeyring(tmp_path / "keys", None)
    name = keyring.create_key()
    assert keyring.uses_generated_passphrase
    assert _mode(tmp_path / "keys") == 0o700
    assert _mode(tmp_path / "keys" / "kek") == 0o700
    assert _mode(tmp_path / "keys" / "keyring.json") == 0o600
    assert _mode(tmp_path / "keys" / "passphrase") == 0o600
    assert _mode(tmp_path / "keys" / "kek" / f"{name}.json") == 0o600


def test_wrap_unwrap_round_trip_and_reopen(tmp_path: Path) -> None:
    keyring = LocalKeyring(tmp_path / "keys", "correct horse")
    name = keyring.create_key()
    data_key = new_data_key()
    wrapped = keyring.wrap(name, data_key)
    assert wrapped.kek_id == f"{name}.v1"
    assert data_key not in wrapped.wrapped
    reopened = LocalKeyring(tmp_path / "keys", "correct horse")
    assert reopened.unwrap(wrapped.kek_id, wrapped.wrapped) == data_key


def test_no_key_is_stored_in_clear(tmp_path: Path) -> None:
    keyring = LocalKeyring(tmp_path / "keys", "pw")
    name = keyring.create_key()
    kek = keyring._versions(name)[1]
    master = keyring._content.keks[keyring._content.active]
    for path in (tmp_path / "keys").rglob("*.json"):
        raw = path.read_bytes()
        for secret in (kek, master):
            assert secret not in raw and base64.b64encode(secret) not in raw
    assert json.loads((tmp_path / "keys" / "keyring.json").read_bytes())["kdf"]["name"] == "scrypt"


def test_wrong_passphrase_is_refused(tmp_path: Path) -> None:
    LocalKeyring(tmp_path / "keys", "right")
    with pytest.raises(ConfigurationError, match="passphrase is wrong"):
        LocalKeyring(tmp_path / "keys", "wrong")


def test_tampered_keyring_is_refused(tmp_path: Path) -> None:
    LocalKeyring(tmp_path / "keys", "pw")
    path = tmp_path / "keys" / "keyring.json"
    envelope = json.loads(path.read_bytes())
    envelope["ciphertext"] = envelope["ciphertext"][:-8] + "AAAAAAA="
    path.write_text(json.dumps(envelope))
    with pytest.raises(ConfigurationError):
        LocalKeyring(tmp_path / "keys", "pw")


def test_kek_file_swapped_between_keys_is_refused(tmp_path: Path) -> None:
    """Versions are sealed with their key name as associated data: a file renamed
    to another key's name does not open (no silent key substitution)."""
    keyring = LocalKeyring(tmp_path / "keys", "pw")
    first, second = keyring.create_key(), keyring.create_key()
    kek_dir = tmp_path / "keys" / "kek"
    (kek_dir / f"{second}.json").write_bytes((kek_dir / f"{first}.json").read_bytes())
    with pytest.raises(ConfigurationError, match="altered"):
        LocalKeyring(tmp_path / "keys", "pw").wrap(second, new_data_key())


def test_tampered_wrapped_key_is_an_integrity_error(tmp_path: Path) -> None:
    keyring = LocalKeyring(tmp_path / "keys", "pw")
    wrapped = keyring.wrap(keyring.create_key(), new_data_key())
    damaged = bytes([wrapped.wrapped[0] ^ 1]) + wrapped.wrapped[1:]
    with pytest.raises(IntegrityError):
        keyring.unwrap(wrapped.kek_id, damaged)


def test_unknown_or_malformed_key_reference_is_key_unavailable(tmp_path: Path) -> None:
    keyring = LocalKeyring(tmp_path / "keys", "pw")
    with pytest.raises(KeyUnavailableError):
        keyring.unwrap("dv-sk-0000000000000000.v1", b"\x00" * 40)
    with pytest.raises(KeyUnavailableError):
        keyring.unwrap("../../etc/passwd.v1", b"\x00" * 40)


def test_rotation_by_another_process_is_seen(tmp_path: Path) -> None:
    server = LocalKeyring(tmp_path / "keys", "pw")
    name = server.create_key()
    cli = LocalKeyring(tmp_path / "keys", "pw")
    assert cli.rotate(name) == 2
    data_key = new_data_key()
    wrapped = server.wrap(name, data_key)
    assert wrapped.kek_id == f"{name}.v2"
    assert cli.unwrap(wrapped.kek_id, wrapped.wrapped) == data_key
