"""The Transit key provider against a real OpenBao server: the contract, then a whole
archive on it (store, retrieve, rotation with re-wrap, crypto-shredding)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import hvac
import pytest
from tests.keys.conftest import CTX, read_back
from tests.keys.test_provider_contract import check_contract
from tests.support.nodes import open_test_node
from tests.support.openbao import OpenBao, openbao_dev_server

from dicomvault.archive import Archive
from dicomvault.dicom.synthetic import generate_study_files
from dicomvault.errors import KeyUnavailableError
from dicomvault.keys.transit import TransitKeyProvider

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def bao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBao]:
    with openbao_dev_server(tmp_path_factory.mktemp("openbao")) as server:
        yield server


def test_transit_provider_contract(bao: OpenBao) -> None:
    check_contract(TransitKeyProvider(bao.url, bao.token, prefix="contract-"))


def test_old_versions_are_trimmed_at_the_server(bao: OpenBao) -> None:
    provider = TransitKeyProvider(bao.url, bao.token, prefix="trim-")
    name = provider.create_key()
    provider.rotate(name)
    provider.retire(name, 2)
    data = hvac.Client(url=bao.url, token=bao.token).secrets.transit.read_key(name)["data"]
    assert data["min_available_version"] == 2 and set(data["keys"]) == {"2"}
    assert not data["exportable"]


@pytest.fixture
def transit_archive(bao: OpenBao, tmp_path: Path) -> Iterator[Archive]:
    with open_test_node(tmp_path / "node", f"sqlite:///{tmp_path / 'index.sqlite3'}",
                        key_provider="transit", transit_url=bao.url,
                        transit_token=bao.token, transit_key_prefix="archive-") as node:
        yield node


def test_archive_on_transit_rotates_and_shreds(transit_archive: Archive) -> None:
    archive = transit_archive
    assert isinstance(archive.keys, TransitKeyProvider)
    stored: dict[str, dict[str, bytes]] = {}
    for seed in (7, 8):
        for data in generate_study_files(series=1, per_series=3, rows=16, columns=16,
                                         seed=seed):
            result = archive.store_bytes(data, CTX)
            stored.setdefault(result.study_instance_uid, {})[result.sop_instance_uid] = data
    doomed, kept = sorted(stored)
    old = {loc.sop_instance_uid: loc for loc in archive.locate(CTX, kept, record_access=False)}
    assert all(loc.wrapped_key.startswith(b"vault:v1:") for loc in old.values())

    progress = archive.rotate_keys(CTX)
    assert progress.instances_rewrapped == 6 and progress.keys_done == 2
    for loc in archive.locate(CTX, kept, record_access=False):
        assert loc.wrapped_key.startswith(b"vault:v2:")
    assert read_back(archive, kept) == stored[kept]
    for loc in old.values():  # version 1 was trimmed inside OpenBao
        with pytest.raises(KeyUnavailableError):
            archive.keys.unwrap(loc.kek_id, loc.wrapped_key)

    doomed_locations = archive.locate(CTX, doomed, record_access=False)
    doomed_key = archive.study_keys.key_for(doomed)
    archive.delete(CTX, doomed)
    assert doomed_key not in archive.keys.key_names()
    for loc in doomed_locations:  # what a backup of the index holds is now useless
        with pytest.raises(KeyUnavailableError):
            archive.keys.unwrap(loc.kek_id, loc.wrapped_key)
    assert read_back(archive, kept) == stored[kept]
