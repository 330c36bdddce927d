"""The key-provider contract: named, versioned, destroyable key-encryption keys (KEKs).

The key hierarchy (ARCHITECTURE.md "Security model", docs/security.md)::

    key provider (local keyring | Vault/OpenBao Transit | in-memory twin)
      └── one KEK per study, named at random ("dv-sk-3f9a..."), with versions
            └── one random AES-256 data key per stored object, wrapped by the
                study KEK's latest version; only the wrapped form is kept, in
                the index (``instances.wrapped_key`` + ``instances.kek_id``)
                  └── the object's sealed blob and sealed header cache

Consequences the rest of the archive relies on:

* **Rotation** (:mod:`dicomvault.keys.rotation`) gives every KEK a new version
  and re-wraps each data key under it (:meth:`KeyProvider.rewrap`), never
  touching a blob; :meth:`KeyProvider.retire` then destroys the old versions,
  once the index holds nothing wrapped under them.
* **Crypto-shredding** (:mod:`dicomvault.keys.hierarchy`): deleting a study
  calls :meth:`KeyProvider.destroy` on its KEK. Every copy of the index and of
  the blobs ever taken (backups included) then holds only data keys wrapped
  under a key that exists nowhere, so the study's pixels and headers are gone.
  The provider must therefore keep its keys *outside* the index database and
  the blob store (a separate directory, a KMS, an HSM).

A provider implements :class:`KeyProvider`; every method is thread-safe and
may be called from several processes sharing the same keys:

* ``create_key()`` makes a new KEK at version 1 and returns its name (random,
  meaningless: no UID, date or name in it).
* ``wrap(name, data_key)`` wraps under the latest version and returns a
  :class:`WrappedKey` whose ``kek_id`` is the *key reference*
  ``"<name>.v<version>"`` (:func:`key_ref`), stored beside the wrapped bytes.
* ``unwrap(kek_id, wrapped)`` returns the data key. It raises
  :class:`~dicomvault.errors.KeyUnavailableError` if that key or version is not
  held (destroyed, retired, or never existed) and
  :class:`~dicomvault.errors.IntegrityError` if the wrapped bytes were altered.
* ``rewrap(kek_id, wrapped)`` re-wraps a batch of data keys (all under the
  same reference) under the key's latest version. Transit does this inside
  the KMS, so the data keys are never seen by the archive.
* ``rotate(name)`` adds a version and returns its number; ``latest_version``
  and ``holds(kek_id)`` say what exists.
* ``retire(name, below)`` destroys every version older than ``below``; the
  caller guarantees that nothing wrapped under them is still referenced.
* ``destroy(name)`` destroys the key and all its versions, irrevocably.
  Destroying a key that does not exist is not an error (idempotent).
* ``key_names()`` lists the KEKs held; ``describe()`` says what backs them
  (for ``GET /api/keys``; never a secret).

Disaster-recovery export of the provider's keys is the backup subsystem's
(``dicomvault keys export``); it must be kept apart from data backups, or the
crypto-shredding guarantee does not hold for that export.
"""

from __future__ import annotations

import abc
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.keywrap import (
    InvalidUnwrap,
    aes_key_unwrap,
    aes_key_wrap,
)

from dicomvault.errors import IntegrityError, InvalidInputError, KeyUnavailableError

DATA_KEY_BYTES = 32
_REF = re.compile(r"([A-Za-z0-9_-]{1,56})\.v([0-9]{1,6})")


@dataclass(frozen=True, slots=True)
class WrappedKey:
    """A wrapped data key and the reference (``<name>.v<version>``) of the KEK version."""

    kek_id: str
    wrapped: bytes


def new_data_key() -> bytes:
    """A fresh random AES-256 data key."""
    return secrets.token_bytes(DATA_KEY_BYTES)


def new_key_name(prefix: str = "dv-sk-") -> str:
    """A random, meaningless KEK name (no dates, hosts, UIDs or names in it)."""
    return prefix + secrets.token_hex(8)


def key_ref(name: str, version: int) -> str:
    """The reference stored in the index for ``name`` at ``version``."""
    return f"{name}.v{version}"


def parse_key_ref(ref: str) -> tuple[str, int]:
    """``"<name>.v<version>"`` -> (name, version); anything else is refused."""
    match = _REF.fullmatch(ref)
    if match is None:
        raise KeyUnavailableError("the key reference of this object is not one this archive uses")
    return match.group(1), int(match.group(2))


class KeyProvider(abc.ABC):
    """Holds named, versioned KEKs. See the module docstring for the contract."""

    #: Short name of the implementation (``local``, ``transit``, ``memory``).
    kind: str = "abstract"

    @abc.abstractmethod
    def create_key(self) -> str:
        """Create a KEK at version 1; return its name."""

    @abc.abstractmethod
    def latest_version(self, name: str) -> int:
        """The version :meth:`wrap` uses now (KeyUnavailableError if no such key)."""

    @abc.abstractmethod
    def wrap(self, name: str, data_key: bytes) -> WrappedKey:
        """Wrap ``data_key`` under the latest version of ``name``."""

    @abc.abstractmethod
    def unwrap(self, kek_id: str, wrapped: bytes) -> bytes:
        """Recover a data key wrapped under the key reference ``kek_id``."""

    def rewrap(self, kek_id: str, wrapped: Sequence[bytes]) -> list[WrappedKey]:
        """Re-wrap data keys (all under ``kek_id``) under the latest version of that key.

        The default unwraps and wraps in this process; a KMS re-wraps inside itself.
        """
        name, _ = parse_key_ref(kek_id)
        return [self.wrap(name, self.unwrap(kek_id, item)) for item in wrapped]

    @abc.abstractmethod
    def rotate(self, name: str) -> int:
        """Add a new version to ``name``; return its number."""

    @abc.abstractmethod
    def retire(self, name: str, below: int) -> None:
        """Destroy every version of ``name`` older than ``below``."""

    @abc.abstractmethod
    def destroy(self, name: str) -> None:
        """Destroy ``name`` and all its versions (idempotent)."""

    @abc.abstractmethod
    def holds(self, kek_id: str) -> bool:
        """Whether the key version ``kek_id`` can still unwrap."""

    @abc.abstractmethod
    def key_names(self) -> list[str]:
        """Names of every KEK held, sorted."""

    def describe(self) -> dict[str, str]:
        """What backs this provider, for status pages (never a secret)."""
        return {"kind": self.kind}


def wrap_with(kek: bytes, data_key: bytes) -> bytes:
    """AES key wrap (RFC 3394): deterministic, authenticated, no nonce to manage."""
    return aes_key_wrap(kek, data_key)


def unwrap_with(kek: bytes, wrapped: bytes) -> bytes:
    try:
        return aes_key_unwrap(kek, wrapped)
    except InvalidUnwrap as exc:
        raise IntegrityError("a wrapped data key failed its integrity check") from exc


class VersionedKeyTable(KeyProvider):
    """KEK versions held as raw AES-256 keys by this process (memory or local files).

    Subclasses persist the table: :meth:`_load` reads one key's versions (``None``
    if it does not exist), :meth:`_store` writes them, :meth:`_remove` deletes the
    key, :meth:`_list` names every key. The table here is a cache of that store.
    """

    def __init__(self) -> None:
        self._cache: dict[str, dict[int, bytes]] = {}

    @abc.abstractmethod
    def _load(self, name: str) -> dict[int, bytes] | None: ...

    @abc.abstractmethod
    def _store(self, name: str, versions: dict[int, bytes]) -> None: ...

    @abc.abstractmethod
    def _remove(self, name: str) -> None: ...

    @abc.abstractmethod
    def _list(self) -> list[str]: ...

    def _versions(self, name: str, *, fresh: bool = False) -> dict[int, bytes]:
        versions = None if fresh else self._cache.get(name)
        if versions is None:
            versions = self._load(name)
            if versions is None:
                self._cache.pop(name, None)
                raise KeyUnavailableError("the key that unlocks this object is no longer held")
            self._cache[name] = versions
        return versions

    def create_key(self) -> str:
        name = new_key_name()
        versions = {1: secrets.token_bytes(32)}
        self._store(name, versions)
        self._cache[name] = versions
        return name

    def latest_version(self, name: str) -> int:
        return max(self._versions(name, fresh=True))

    def wrap(self, name: str, data_key: bytes) -> WrappedKey:
        versions = self._versions(name, fresh=True)
        latest = max(versions)
        return WrappedKey(key_ref(name, latest), wrap_with(versions[latest], data_key))

    def unwrap(self, kek_id: str, wrapped: bytes) -> bytes:
        name, version = parse_key_ref(kek_id)
        kek = self._versions(name).get(version)
        if kek is None:  # another process may have rotated: read once more
            kek = self._versions(name, fresh=True).get(version)
        if kek is None:
            raise KeyUnavailableError("the key version that unlocks this object is retired")
        return unwrap_with(kek, wrapped)

    def rotate(self, name: str) -> int:
        versions = dict(self._versions(name, fresh=True))
        latest = max(versions) + 1
        versions[latest] = secrets.token_bytes(32)
        self._store(name, versions)
        self._cache[name] = versions
        return latest

    def retire(self, name: str, below: int) -> None:
        versions = self._versions(name, fresh=True)
        if below > max(versions):
            raise InvalidInputError("cannot retire the latest version of a key")
        kept = {v: k for v, k in versions.items() if v >= below}
        if kept != versions:
            self._store(name, kept)
        self._cache[name] = kept

    def destroy(self, name: str) -> None:
        self._remove(name)
        self._cache.pop(name, None)

    def holds(self, kek_id: str) -> bool:
        name, version = parse_key_ref(kek_id)
        try:
            return version in self._versions(name, fresh=True)
        except KeyUnavailableError:
            return False

    def key_names(self) -> list[str]:
        return sorted(self._list())


class MemoryKeyProvider(VersionedKeyTable):
    """KEKs held only in memory: the unit-test twin and throw-away nodes."""

    kind = "memory"

    def __init__(self) -> None:
        super().__init__()
        self._keys: dict[str, dict[int, bytes]] = {}

    def _load(self, name: str) -> dict[int, bytes] | None:
        found = self._keys.get(name)
        return dict(found) if found is not None else None

    def _store(self, name: str, versions: dict[int, bytes]) -> None:
        self._keys[name] = dict(versions)

    def _remove(self, name: str) -> None:
        self._keys.pop(name, None)

    def _list(self) -> list[str]:
        return list(self._keys)
