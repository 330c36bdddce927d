"""The two EVMs the chain tests run on: in-process (eth-tester / py-evm) and anvil over JSON-RPC.

Anvil (Foundry's local node) comes from npm (``@foundry-rs/anvil`` ships the
binary; ``scripts/test`` installs it into ``.tools/chain``). Each backend can
simulate an outage: eth-tester by pointing the client at a port nobody
listens on, anvil by stopping the process (its state is dumped to a file)
and starting it again on the same port from that state.
"""

from __future__ import annotations

import abc
import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import EthereumTesterProvider, HTTPProvider, Web3

from dicomvault.chain.client import ChainClient

_ROOT = Path(__file__).resolve().parents[2]
_NPM_ANVIL = _ROOT / ".tools/chain/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
ONE_ETHER = 10**18


def anvil_path() -> str | None:
    """The anvil binary: $DICOMVAULT_TEST_ANVIL, the one scripts/test installs, or on PATH."""
    explicit = os.environ.get("DICOMVAULT_TEST_ANVIL")
    if explicit:
        return explicit
    if _NPM_ANVIL.is_file():
        return str(_NPM_ANVIL)
    return shutil.which("anvil")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Evm(abc.ABC):
    """A chain to deploy on, with funded accounts and an outage switch."""

    name: str
    rpc_url: str | None = None

    @abc.abstractmethod
    def client(self, account: LocalAccount | None, address: str | None = None) -> ChainClient:
        """A client of this chain acting as ``account`` (read-only when ``None``)."""

    @abc.abstractmethod
    def fund(self, address: str) -> None:
        """Give ``address`` one ether from the node's own prefunded account."""

    @abc.abstractmethod
    def outage(self, client: ChainClient | None = None
               ) -> contextlib.AbstractContextManager[None]:
        """Inside the block ``client`` (anvil: every client) cannot reach the chain; after it,
        it can again."""

    def funded_account(self) -> LocalAccount:
        account: LocalAccount = Account.create()
        self.fund(account.address)
        return account

    @abc.abstractmethod
    def close(self) -> None:
        """Release the chain."""


class TesterEvm(Evm):
    name = "eth-tester"

    def __init__(self) -> None:
        self.w3 = Web3(EthereumTesterProvider())

    def client(self, account: LocalAccount | None, address: str | None = None) -> ChainClient:
        return ChainClient(self.w3, address, account)

    def fund(self, address: str) -> None:
        self.w3.eth.send_transaction({"from": self.w3.eth.accounts[0], "to": address,
                                      "value": ONE_ETHER})

    @contextlib.contextmanager
    def outage(self, client: ChainClient | None = None) -> Iterator[None]:
        assert client is not None, "the in-process chain can only be cut off from one client"
        address, live = client.address, client.w3
        client.w3 = Web3(HTTPProvider(f"http://127.0.0.1:{free_port()}",
                                      request_kwargs={"timeout": 2}))
        client.endpoint = "an unreachable node"
        client.use(address)
        try:
            yield
        finally:
            client.w3 = live
            client.use(address)

    def close(self) -> None:
        """Nothing to release: the chain lives in this process's memory."""


class AnvilEvm(Evm):
    name = "anvil"

    def __init__(self, binary: str, state_dir: Path) -> None:
        self.binary = binary
        self.port = free_port()
        self.state = state_dir / "anvil-state.json"
        self.rpc_url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self._start()

    def _start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--host", "127.0.0.1", "--port", str(self.port),
             "--state", str(self.state), "--silent"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        probe = Web3(HTTPProvider(self.rpc_url, request_kwargs={"timeout": 2}))
        for _ in range(200):
            with contextlib.suppress(OSError):
                probe.eth.block_number  # noqa: B018
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"anvil did not start on port {self.port}")

    def _stop(self) -> None:
        if self.process is not None:
            self.process.terminate()  # SIGTERM: anvil dumps its state to --state and exits
            self.process.wait(timeout=30)
            self.process = None

    def client(self, account: LocalAccount | None, address: str | None = None) -> ChainClient:
        assert self.rpc_url is not None
        return ChainClient.connect(self.rpc_url, address, account, timeout=10)

    def fund(self, address: str) -> None:
        w3 = Web3(HTTPProvider(self.rpc_url))
        tx = w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": address,
                                      "value": ONE_ETHER})
        w3.eth.wait_for_transaction_receipt(tx)

    @contextlib.contextmanager
    def outage(self, client: ChainClient | None = None) -> Iterator[None]:
        self._stop()
        try:
            yield
        finally:
            self._start()

    def close(self) -> None:
        self._stop()
