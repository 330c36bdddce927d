"""The key-provider contract: key-encryption keys (KEKs) that wrap data keys.

Every stored object has its own random 256-bit data key. The data key never
touches disk in the clear: it is *wrapped* by a KEK held by a key provider and
only the wrapped form is kept in the index. Rotating the KEK therefore means
re-wrapping small data keys, never rewriting image blobs, and a KEK that a
provider no longer holds makes everything it wrapped unreadable.

A provider implements :class:`KeyProvider`:

* ``active_kek_id()`` names the KEK new data keys are wrapped with;
* ``wrap(data_key)`` returns the KEK id and the wrapped bytes (the id is stored
  beside the wrapped key so that older data keys stay readable after rotation);
* ``unwrap(kek_id, wrapped)`` returns the data key, raising
  :class:`~dicomvault.errors.KeyUnavailableError` if the KEK is gone and
  :class:`~dicomvault.errors.IntegrityError` if the wrapped bytes were altered.

:class:`MemoryKeyProvider` is the in-memory twin for unit tests.
"""

from __future__ import annotations

import abc
import secrets
from dataclasses import dataclass

from cryptography.hazmat.primitives.keywrap import (
    InvalidUnwrap,
    aes_key_unwrap,
    aes_key_wrap,
)

from dicomvault.errors import IntegrityError, KeyUnavailableError

DATA_KEY_BYTES = 32


@dataclass(frozen=True, slots=True)
class WrappedKey:
    kek_id: str
    wrapped: bytes


def new_data_key() -> bytes:
    """A fresh random AES-256 data key."""
    return secrets.token_bytes(DATA_KEY_BYTES)


def new_kek_id() -> str:
    """A random, meaningless KEK identifier (no dates, hosts or names in it)."""
    return "kek-" + secrets.token_hex(8)


class KeyProvider(abc.ABC):
    """Holds KEKs; wraps and unwraps data keys. See the module docstring for the contract."""

    @abc.abstractmethod
    def active_kek_id(self) -> str:
        """The KEK that :meth:`wrap` uses now."""

    @abc.abstractmethod
    def wrap(self, data_key: bytes) -> WrappedKey:
        """Wrap ``data_key`` under the active KEK."""

    @abc.abstractmethod
    def unwrap(self, kek_id: str, wrapped: bytes) -> bytes:
        """Recover a data key wrapped under ``kek_id``."""


def wrap_with(kek: bytes, data_key: bytes) -> bytes:
    """AES key wrap (RFC 3394): deterministic, authenticated, no nonce to manage."""
    return aes_key_wrap(kek, data_key)


def unwrap_with(kek: bytes, wrapped: bytes) -> bytes:
    try:
        return aes_key_unwrap(kek, wrapped)
    except InvalidUnwrap as exc:
        raise IntegrityError("a wrapped data key failed its integrity check") from exc


class MemoryKeyProvider(KeyProvider):
    """KEKs held only in memory: for unit tests and throw-away nodes."""

    def __init__(self) -> None:
        self._keks: dict[str, bytes] = {}
        self._active = self.add_kek()

    def add_kek(self) -> str:
        kek_id = new_kek_id()
        self._keks[kek_id] = secrets.token_bytes(32)
        self._active = kek_id
        return kek_id

    def destroy_kek(self, kek_id: str) -> None:
        self._keks.pop(kek_id, None)

    def active_kek_id(self) -> str:
        return self._active

    def wrap(self, data_key: bytes) -> WrappedKey:
        return WrappedKey(self._active, wrap_with(self._keks[self._active], data_key))

    def unwrap(self, kek_id: str, wrapped: bytes) -> bytes:
        kek = self._keks.get(kek_id)
        if kek is None:
            raise KeyUnavailableError("the key that unlocks this object is no longer held")
        return unwrap_with(kek, wrapped)
