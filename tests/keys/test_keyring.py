"""The local keyring: file modes, passphrases, wrapping, tampering, shared use."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from dicomvault.errors import ConfigurationError, IntegrityError, KeyUnavailableError
from dicomvault.keys import LocalKeyring, MemoryKeyProvider, new_data_key


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_generated_keyring_and_passphrase_are_private(tmp_path: Path) -> None:
    keyring = LocalKeyring(tmp_path / "keys", None)
    assert keyring.uses_generated_passphrase
    assert _mode(tmp_path / "keys") == 0o700
    assert _mode(tmp_path / "keys" / "keyring.json") == 0o600
    assert _mode(tmp_path / "keys" / "passphrase") == 0o600


def test_wrap_unwrap_round_trip_and_reopen(tmp_path: Path) -> None:
    keyring = LocalKeyring(tmp_path / "keys", "correct horse")
    data_key = new_data_key()
    wrapped = keyring.wrap(data_key)
    assert wrapped.wrapped != data_key
    reopened = LocalKeyring(tmp_path / "keys", "correct horse")
    assert reopened.unwrap(wrapped.kek_id, wrapped.wrapped) == data_key


def test_keyring_file_holds_no_key_in_clear(tmp_path: Path) -> None:
    import base64

    keyring = LocalKeyring(tmp_path / "keys", "pw")
    raw = (tmp_path / "keys" / "keyring.json").read_bytes()
    kek = keyring._content.keks[keyring.active_kek_id()]
    assert kek not in raw
    assert base64.b64encode(kek) not in raw
    assert json.loads(raw)["kdf"]["name"] == "scrypt"


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


def test_tampered_wrapped_key_is_an_integrity_error(tmp_path: Path) -> None:
    keyring = LocalKeyring(tmp_path / "keys", "pw")
    wrapped = keyring.wrap(new_data_key())
    damaged = bytes([wrapped.wrapped[0] ^ 1]) + wrapped.wrapped[1:]
    with pytest.raises(IntegrityError):
        keyring.unwrap(wrapped.kek_id, damaged)


def test_unknown_kek_is_key_unavailable(tmp_path: Path) -> None:
    keyring = LocalKeyring(tmp_path / "keys", "pw")
    with pytest.raises(KeyUnavailableError):
        keyring.unwrap("kek-0000", b"\x00" * 40)


def test_memory_provider_destroyed_kek_makes_keys_unavailable() -> None:
    provider = MemoryKeyProvider()
    wrapped = provider.wrap(new_data_key())
    provider.destroy_kek(wrapped.kek_id)
    with pytest.raises(KeyUnavailableError):
        provider.unwrap(wrapped.kek_id, wrapped.wrapped)
