"""Key providers, the per-study key hierarchy, rotation and crypto-shredding.

Public names::

    KeyProvider          the contract (named, versioned, destroyable KEKs)
    LocalKeyring         the embedded default (passphrase-protected files, 0600)
    TransitKeyProvider   Vault / OpenBao Transit (``dicomvault.keys.transit``, needs hvac)
    MemoryKeyProvider    the in-memory twin for unit tests
    StudyKeys            one KEK per study; shredding on delete
    rotate_keys          re-wrap every data key under new KEK versions (resumable)
"""

from dicomvault.keys.hierarchy import StudyKeys
from dicomvault.keys.keyring import LocalKeyring
from dicomvault.keys.provider import (
    KeyProvider,
    MemoryKeyProvider,
    WrappedKey,
    key_ref,
    new_data_key,
    parse_key_ref,
)
from dicomvault.keys.rotation import RotationProgress, rewrap_key, rotate_keys

__all__ = [
    "KeyProvider",
    "LocalKeyring",
    "MemoryKeyProvider",
    "RotationProgress",
    "StudyKeys",
    "WrappedKey",
    "key_ref",
    "new_data_key",
    "parse_key_ref",
    "rewrap_key",
    "rotate_keys",
]
