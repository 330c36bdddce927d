"""Fixtures of the chain tests: each runs on the in-process EVM and on anvil (JSON-RPC)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account.signers.local import LocalAccount
from tests.chain.evm import AnvilEvm, Evm, TesterEvm, anvil_path
from tests.chain.nodes import ORIGIN
from tests.support.nodes import open_test_node
from tests.support.services import require

from dicomvault.archive import Archive
from dicomvault.chain.client import ChainClient


def _started_anvil(state_dir: Path) -> AnvilEvm:
    binary = anvil_path()
    require(binary is not None, "anvil is not installed (scripts/test installs it from "
                                "npm: @foundry-rs/anvil into .tools/chain)")
    assert binary is not None
    return AnvilEvm(binary, state_dir)


@pytest.fixture(params=["eth-tester", "anvil"])
def evm(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Evm]:
    """A fresh chain: py-evm in process, then anvil (a real JSON-RPC node) when installed."""
    chain: Evm = TesterEvm() if request.param == "eth-tester" else _started_anvil(tmp_path)
    try:
        yield chain
    finally:
        chain.close()


@dataclass
class Consortium:
    """A deployed registry with its owner and one admitted member (hospital A)."""

    evm: Evm
    owner: ChainClient
    member_account: LocalAccount
    member: ChainClient

    @property
    def address(self) -> str:
        return self.owner.address

    def partner(self) -> ChainClient:
        """What a partner institution has: read access to the chain, nothing else."""
        return self.evm.client(None, self.address)

    def admitted(self, name: str) -> ChainClient:
        """Another institution, admitted by the owner."""
        account = self.evm.funded_account()
        self.owner.admit_member(account.address, name)
        return self.evm.client(account, self.address)


@pytest.fixture
def consortium(evm: Evm) -> Consortium:
    owner = evm.client(evm.funded_account())
    owner.deploy()
    member_account = evm.funded_account()
    owner.admit_member(member_account.address, "Hospital A")
    return Consortium(evm, owner, member_account, evm.client(member_account, owner.address))


@pytest.fixture
def anvil(tmp_path: Path) -> Iterator[AnvilEvm]:
    """Anvil alone: what the command line reaches over JSON-RPC (it has no in-process EVM)."""
    chain = _started_anvil(tmp_path)
    try:
        yield chain
    finally:
        chain.close()


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Archive]:
    """Hospital A's node on SQLite."""
    with open_test_node(tmp_path / "a", f"sqlite:///{tmp_path / 'a.sqlite3'}",
                        ledger_origin=ORIGIN) as archive:
        yield archive
