"""Key providers: key-encryption keys that wrap each object's data key."""

from dicomvault.keys.keyring import LocalKeyring
from dicomvault.keys.provider import (
    KeyProvider,
    MemoryKeyProvider,
    WrappedKey,
    new_data_key,
)

__all__ = ["KeyProvider", "LocalKeyring", "MemoryKeyProvider", "WrappedKey", "new_data_key"]
