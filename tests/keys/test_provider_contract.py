"""The key-provider contract, run against every provider that needs no service.

The Transit provider runs the same checks against a real OpenBao server in
``test_transit.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dicomvault.errors import InvalidInputError, KeyUnavailableError
from dicomvault.keys import KeyProvider, LocalKeyring, MemoryKeyProvider, new_data_key


@pytest.fixture(params=["memory", "local"])
def provider(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KeyProvider]:
    if request.param == "memory":
        yield MemoryKeyProvider()
    else:
        yield LocalKeyring(tmp_path / "keys", "contract")


def check_contract(provider: KeyProvider) -> None:
    """Create, wrap, rotate, re-wrap, retire, destroy: what the archive relies on."""
    name = provider.create_key()
    assert name in provider.key_names()
    assert provider.latest_version(name) == 1
    keys = [new_data_key() for _ in range(3)]
    wrapped = [provider.wrap(name, k) for k in keys]
    assert {w.kek_id for w in wrapped} == {f"{name}.v1"}
    assert provider.holds(f"{name}.v1")

    assert provider.rotate(name) == 2
    assert provider.unwrap(wrapped[0].kek_id, wrapped[0].wrapped) == keys[0]  # v1 still held
    rewrapped = provider.rewrap(f"{name}.v1", [w.wrapped for w in wrapped])
    assert {w.kek_id for w in rewrapped} == {f"{name}.v2"}
    assert [provider.unwrap(w.kek_id, w.wrapped) for w in rewrapped] == keys

    provider.retire(name, 2)
    assert not provider.holds(f"{name}.v1")
    with pytest.raises(KeyUnavailableError):
        provider.unwrap(wrapped[0].kek_id, wrapped[0].wrapped)
    assert provider.unwrap(rewrapped[0].kek_id, rewrapped[0].wrapped) == keys[0]

    other = provider.create_key()
    kept = provider.wrap(other, keys[1])
    provider.destroy(name)
    provider.destroy(name)  # idempotent
    assert name not in provider.key_names()
    assert not provider.holds(rewrapped[0].kek_id)
    with pytest.raises(KeyUnavailableError):
        provider.unwrap(rewrapped[0].kek_id, rewrapped[0].wrapped)
    assert provider.unwrap(kept.kek_id, kept.wrapped) == keys[1]  # other keys untouched


def test_provider_contract(provider: KeyProvider) -> None:
    check_contract(provider)


def test_the_latest_version_cannot_be_retired(provider: KeyProvider) -> None:
    name = provider.create_key()
    with pytest.raises(InvalidInputError):
        provider.retire(name, 2)
