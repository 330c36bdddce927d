"""This member's Ethereum account: a private key in a file only its owner may read.

The key file holds the key as hex (``0x`` + 64 hex digits) and must have
mode 0600 (no group or other access), like the keyring's files: a key that
others could read could anchor false roots in this institution's name.
``dicomvault chain new-account`` writes one.
"""

from __future__ import annotations

import stat
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from dicomvault.errors import ConfigurationError
from dicomvault.keys.files import create_secret_file_once


def load_account(path: Path) -> LocalAccount:
    """The account whose private key is in ``path`` (refused unless mode 0600)."""
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError as exc:
        raise ConfigurationError(f"chain account key file {path} does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"chain account key file {path} is unreadable") from exc
    if stat.S_IMODE(mode) & 0o077:
        raise ConfigurationError(f"chain account key file {path} must have mode 0600 "
                                 f"(it has {stat.S_IMODE(mode):04o})")
    try:
        account: LocalAccount = Account.from_key(text)
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(f"chain account key file {path} does not hold a "
                                 "hex private key") from exc
    return account


def create_account(path: Path) -> LocalAccount:
    """Generate a new account and write its key to ``path`` (mode 0600); never overwrites."""
    if path.exists():
        raise ConfigurationError(f"{path} exists; refusing to replace an account key")
    account: LocalAccount = Account.create()
    create_secret_file_once(path, ("0x" + bytes(account.key).hex() + "\n").encode("ascii"))
    return load_account(path)
