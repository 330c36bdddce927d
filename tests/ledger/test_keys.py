"""Ledger keys on disk: private modes, exclusive creation, refusal of loose permissions."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from dicomvault.errors import ConfigurationError
from dicomvault.ledger import LedgerKeys
from dicomvault.ledger.keys import CHECKPOINT_FILE, IDENTIFIER_FILE, WITNESS_FILE


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_load_or_create_writes_private_files_once(tmp_path: Path) -> None:
    directory = tmp_path / "keys" / "ledger"
    first = LedgerKeys.load_or_create(directory)
    assert mode(directory) == 0o700
    for name in (IDENTIFIER_FILE, CHECKPOINT_FILE, WITNESS_FILE):
        assert mode(directory / name) == 0o600
        assert (directory / name).stat().st_size == 32
    assert sorted(p.name for p in directory.iterdir()) == sorted(
        (IDENTIFIER_FILE, CHECKPOINT_FILE, WITNESS_FILE))  # no temporary files left
    again = LedgerKeys.load_or_create(directory)
    assert again.identifier_key == first.identifier_key
    assert (again.signing_key.private_bytes_raw() == first.signing_key.private_bytes_raw())
    assert again.witness_key.private_bytes_raw() != again.signing_key.private_bytes_raw()


def test_keys_never_appear_in_repr(tmp_path: Path) -> None:
    keys = LedgerKeys.load_or_create(tmp_path)
    text = repr(keys)
    assert keys.identifier_key.hex() not in text and "redacted" in text


def test_missing_or_loose_key_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="missing"):
        LedgerKeys.load(tmp_path)
    LedgerKeys.load_or_create(tmp_path)
    (tmp_path / CHECKPOINT_FILE).chmod(0o644)
    with pytest.raises(ConfigurationError, match="chmod 600"):
        LedgerKeys.load(tmp_path)
    (tmp_path / CHECKPOINT_FILE).chmod(0o600)
    (tmp_path / IDENTIFIER_FILE).write_bytes(b"too short")
    with pytest.raises(ConfigurationError, match="32 bytes"):
        LedgerKeys.load(tmp_path)
