"""The Vault / OpenBao Transit key provider (production), through ``hvac``.

Each study KEK is a Transit key (``aes256-gcm96``, not exportable, deletion
allowed) named ``<prefix><random>``. Data keys never leave the archive in a
form the KMS could keep: ``wrap`` sends the data key to ``transit/encrypt``
and stores the returned ciphertext (``vault:v<N>:...``); ``unwrap`` is
``transit/decrypt``. The KEK material never leaves the KMS.

Rotation maps onto Transit's own primitives: ``rotate`` is
``transit/keys/<name>/rotate``; ``rewrap`` is ``transit/rewrap`` (batched,
done inside the KMS, so the archive never sees the data keys while
re-wrapping); ``retire`` raises ``min_decryption_version`` and then trims the
older versions (``transit/keys/<name>/trim``), which deletes them. ``destroy``
deletes the whole key: crypto-shredding.

Vault API: https://developer.hashicorp.com/vault/api-docs/secret/transit (the
same paths on OpenBao).
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Sequence
from typing import Any

import hvac
import requests
from hvac import exceptions as hvac_errors

from dicomvault.errors import (
    ConfigurationError,
    IntegrityError,
    KeyUnavailableError,
    OutOfResourcesError,
)
from dicomvault.keys.provider import KeyProvider, WrappedKey, key_ref, new_key_name, parse_key_ref

_TIMEOUT_S = 10


def _version_of(ciphertext: str) -> int:
    """The key version a Transit ciphertext (``vault:v3:...``) was made with."""
    parts = ciphertext.split(":", 2)
    if len(parts) != 3 or parts[0] != "vault" or not parts[1].startswith("v"):
        raise IntegrityError("a wrapped data key is not a Transit ciphertext")
    return int(parts[1][1:])


class TransitKeyProvider(KeyProvider):
    """KEKs held by a Vault/OpenBao Transit engine (see the module docstring)."""

    kind = "transit"

    def __init__(self, url: str, token: str, *, mount: str = "transit",
                 prefix: str = "dv-sk-", verify: bool | str = True) -> None:
        self._client = hvac.Client(url=url, token=token, verify=verify, timeout=_TIMEOUT_S)
        self._url = url
        self._mount = mount
        self._prefix = prefix
        self._lock = threading.Lock()
        self._min_version: dict[str, int] = {}
        try:
            if not self._client.is_authenticated():
                raise ConfigurationError("the Transit token is not valid for the KMS")
        except requests.RequestException as exc:
            raise ConfigurationError("the Transit KMS is unreachable") from exc

    @property
    def _transit(self) -> Any:
        return self._client.secrets.transit

    def _call(self, operation: str, *args: Any, **kwargs: Any) -> Any:
        """One Transit call, failures mapped onto the archive's errors."""
        try:
            return getattr(self._transit, operation)(*args, mount_point=self._mount, **kwargs)
        except hvac_errors.InvalidPath as exc:
            raise KeyUnavailableError("the key that unlocks this object is no longer held") from exc
        except hvac_errors.InvalidRequest as exc:
            text = str(exc)
            if "not found" in text or "version" in text or "no existing key" in text:
                raise KeyUnavailableError(
                    "the key version that unlocks this object is not held") from exc
            if "authentication failed" in text or "integrity" in text or "decrypt" in text:
                raise IntegrityError("a wrapped data key failed its integrity check") from exc
            raise
        except (hvac_errors.VaultDown, hvac_errors.InternalServerError,
                requests.RequestException) as exc:
            raise OutOfResourcesError("the Transit KMS is unavailable; retry later") from exc

    def describe(self) -> dict[str, str]:
        return {"kind": self.kind, "url": self._url, "mount": self._mount}

    def create_key(self) -> str:
        name = new_key_name(self._prefix)
        self._call("create_key", name=name, key_type="aes256-gcm96", exportable=False)
        self._call("update_key_configuration", name=name, deletion_allowed=True)
        return name

    def _read(self, name: str) -> dict[str, Any]:
        data: dict[str, Any] = self._call("read_key", name=name)["data"]
        with self._lock:
            self._min_version[name] = int(data["min_decryption_version"])
        return data

    def latest_version(self, name: str) -> int:
        return int(self._read(name)["latest_version"])

    def wrap(self, name: str, data_key: bytes) -> WrappedKey:
        response = self._call("encrypt_data", name=name,
                              plaintext=base64.b64encode(data_key).decode("ascii"))
        ciphertext: str = response["data"]["ciphertext"]
        return WrappedKey(key_ref(name, _version_of(ciphertext)), ciphertext.encode("ascii"))

    def unwrap(self, kek_id: str, wrapped: bytes) -> bytes:
        name, version = parse_key_ref(kek_id)
        ciphertext = wrapped.decode("ascii", errors="replace")
        if _version_of(ciphertext) != version:
            raise IntegrityError("a wrapped data key does not match its key reference")
        response = self._call("decrypt_data", name=name, ciphertext=ciphertext)
        return base64.b64decode(response["data"]["plaintext"])

    def rewrap(self, kek_id: str, wrapped: Sequence[bytes]) -> list[WrappedKey]:
        name, _ = parse_key_ref(kek_id)
        if not wrapped:
            return []
        batch = [{"ciphertext": item.decode("ascii")} for item in wrapped]
        response = self._call("rewrap_data", name=name, ciphertext="", batch_input=batch)
        results = response["data"]["batch_results"]
        out: list[WrappedKey] = []
        for result in results:
            if result.get("error"):
                raise IntegrityError("the KMS refused to re-wrap a data key")
            ciphertext = result["ciphertext"]
            out.append(WrappedKey(key_ref(name, _version_of(ciphertext)),
                                  ciphertext.encode("ascii")))
        return out

    def rotate(self, name: str) -> int:
        self._call("rotate_key", name=name)
        return self.latest_version(name)

    def retire(self, name: str, below: int) -> None:
        # Trimming needs both minimums set; hvac's own check wrongly refuses them equal,
        # so this one call goes through its adapter (Vault API: POST keys/:name/config).
        try:
            self._client.adapter.post(
                f"/v1/{self._mount}/keys/{name}/config",
                json={"min_decryption_version": below, "min_encryption_version": below})
        except hvac_errors.InvalidPath as exc:
            raise KeyUnavailableError("the key is no longer held") from exc
        except (hvac_errors.VaultDown, requests.RequestException) as exc:
            raise OutOfResourcesError("the Transit KMS is unavailable; retry later") from exc
        self._call("trim_key", name=name, min_version=below)
        with self._lock:
            self._min_version[name] = below

    def destroy(self, name: str) -> None:
        try:
            self._call("update_key_configuration", name=name, deletion_allowed=True)
            self._call("delete_key", name=name)
        except KeyUnavailableError:
            return  # already gone: destroying is idempotent

    def holds(self, kek_id: str) -> bool:
        name, version = parse_key_ref(kek_id)
        try:
            data = self._read(name)
        except KeyUnavailableError:
            return False
        return int(data["min_decryption_version"]) <= version <= int(data["latest_version"])

    def key_names(self) -> list[str]:
        try:
            listed = self._call("list_keys")
        except KeyUnavailableError:
            return []
        names = listed["data"]["keys"] if listed else []
        return sorted(n for n in names if n.startswith(self._prefix))
