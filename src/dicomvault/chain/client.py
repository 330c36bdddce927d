"""``ChainClient``: the anchor registry contract over web3.py, the only module that imports web3.

Works over any JSON-RPC endpoint (Hyperledger Besu with QBFT in a
consortium, anvil or Hardhat's node in tests) or the in-process
``EthereumTesterProvider`` (py-evm). Transactions are signed locally with
this member's key (:mod:`.account`): the chain node never holds it.

Failures are translated at this edge: an unreachable node or a failed RPC
is :class:`~dicomvault.errors.ChainUnavailableError` (retry later, the
backlog keeps the work), a contract that refuses (a revert, with its reason)
is :class:`~dicomvault.errors.ChainRefusedError`. Before sending, each
transaction is simulated with ``eth_call`` so that a refusal surfaces with
the contract's own reason on every kind of node.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import EthereumTesterProvider, HTTPProvider, Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import (
    ContractLogicError,
    ProviderConnectionError,
    TimeExhausted,
    Web3RPCError,
)

from dicomvault.chain.contract import load_registry
from dicomvault.chain.records import (
    MAX_ORIGIN_BYTES,
    AgreementStatus,
    AnchoredAgreement,
    AnchoredCheckpoint,
    Receipt,
)
from dicomvault.errors import ChainRefusedError, ChainUnavailableError, ConfigurationError
from dicomvault.ledger.checkpoint import Checkpoint

_ZERO = b"\x00" * 32


@contextlib.contextmanager
def _reachable(endpoint: str) -> Iterator[None]:
    """Translate web3's and the transport's failures into the archive's errors."""
    try:
        yield
    except _REVERTS as exc:
        raise ChainRefusedError(f"the anchor registry refused: {_reason(exc)}") from exc
    except (ProviderConnectionError, TimeExhausted, OSError) as exc:
        raise ChainUnavailableError(f"consortium chain at {endpoint} is unreachable: "
                                    f"{type(exc).__name__}") from exc
    except Web3RPCError as exc:
        raise ChainUnavailableError(f"consortium chain at {endpoint} failed the request: "
                                    f"{exc.message}") from exc


def _revert_types() -> tuple[type[Exception], ...]:
    """A revert is ContractLogicError on JSON-RPC, TransactionFailed in eth-tester (tests)."""
    try:
        from eth_tester.exceptions import TransactionFailed
    except ImportError:
        return (ContractLogicError,)
    return (ContractLogicError, TransactionFailed)


_REVERTS = _revert_types()


def _reason(exc: Exception) -> str:
    text = str(exc.args[0]) if exc.args else str(exc)
    return text.removeprefix("execution reverted: ")


class ChainClient:
    """The anchor registry at ``address`` on the chain ``w3`` talks to, as ``account``.

    ``account`` may be ``None`` for a read-only client (a partner verifying).
    """

    def __init__(self, w3: Web3, address: str | None, account: LocalAccount | None, *,
                 endpoint: str = "in-process EVM", timeout: float = 30.0) -> None:
        self.w3 = w3
        self.account = account
        self.endpoint = endpoint
        self.timeout = timeout
        self._compiled = load_registry()
        self._contract: Contract | None = None
        if address is not None:
            self.use(address)

    @classmethod
    def connect(cls, rpc_url: str, address: str | None, account: LocalAccount | None, *,
                timeout: float = 10.0) -> ChainClient:
        """A client over the JSON-RPC endpoint ``rpc_url`` (``http://`` or ``https://``)."""
        if not rpc_url.startswith(("http://", "https://")):
            raise ConfigurationError("chain_rpc_url must be an http:// or https:// URL")
        w3 = Web3(HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))
        return cls(w3, address, account, endpoint=rpc_url, timeout=timeout)

    @classmethod
    def in_process(cls, account: LocalAccount | None = None) -> ChainClient:
        """A client over a fresh in-process EVM (eth-tester / py-evm), for tests and demos."""
        return cls(Web3(EthereumTesterProvider()), None, account)

    def use(self, address: str) -> None:
        """Talk to the registry deployed at ``address``."""
        if not Web3.is_address(address):
            raise ConfigurationError(f"{address!r} is not an Ethereum address")
        self._contract = self.w3.eth.contract(address=Web3.to_checksum_address(address),
                                              abi=self._compiled.abi)

    @property
    def address(self) -> str:
        return str(self.contract.address)

    @property
    def contract(self) -> Contract:
        if self._contract is None:
            raise ConfigurationError("no anchor registry address configured "
                                     "(chain_contract_address; 'dicomvault chain deploy')")
        return self._contract

    def _sender(self) -> LocalAccount:
        if self.account is None:
            raise ConfigurationError("no chain account configured (chain_account_key_file)")
        return self.account

    @property
    def sender(self) -> str:
        """The address this client signs transactions as."""
        return str(self._sender().address)

    # -- transactions --------------------------------------------------------------

    def _send(self, tx: dict[str, Any]) -> Receipt:
        account = self._sender()
        tx.setdefault("from", account.address)
        tx["nonce"] = self.w3.eth.get_transaction_count(account.address, "pending")
        tx["chainId"] = self.w3.eth.chain_id
        if "gas" not in tx:
            tx["gas"] = self.w3.eth.estimate_gas(tx)  # type: ignore[arg-type]
        if "maxFeePerGas" not in tx and "gasPrice" not in tx:
            tx["gasPrice"] = self.w3.eth.gas_price
        signed = account.sign_transaction(tx)
        tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=self.timeout)
        if receipt["status"] != 1:
            raise ChainRefusedError("the anchor registry reverted the transaction")
        return Receipt(tx_hash="0x" + bytes(tx_hash).hex(),
                       block_number=int(receipt["blockNumber"]))

    def _transact(self, function: ContractFunction) -> Receipt:
        sender = self._sender().address
        with _reachable(self.endpoint):
            function.call({"from": sender})  # a refusal surfaces here, with its reason
            return self._send(dict(function.build_transaction({"from": sender})))

    def deploy(self) -> str:
        """Deploy a new registry owned by this account; use it from now on; its address."""
        factory = self.w3.eth.contract(abi=self._compiled.abi, bytecode=self._compiled.bytecode)
        sender = self._sender().address
        with _reachable(self.endpoint):
            tx = factory.constructor().build_transaction({"from": sender})
            receipt = self._send(dict(tx))
            mined = self.w3.eth.get_transaction_receipt(receipt.tx_hash)  # type: ignore[arg-type]
        address = mined["contractAddress"]
        if address is None:
            raise ChainRefusedError("deployment produced no contract")
        self.use(str(address))
        return str(address)

    def admit_member(self, member: str, name: str) -> Receipt:
        """Admit ``member`` (an address) under an institution ``name`` (owner only)."""
        return self._transact(self.contract.functions.admit_member(
            Web3.to_checksum_address(member), name))

    def remove_member(self, member: str) -> Receipt:
        return self._transact(self.contract.functions.remove_member(
            Web3.to_checksum_address(member)))

    def anchor_checkpoint(self, checkpoint: Checkpoint) -> Receipt:
        """Anchor a checkpoint's root (the contract refuses a tree size that does not grow)."""
        if len(checkpoint.origin.encode("utf-8")) > MAX_ORIGIN_BYTES:
            raise ChainRefusedError(f"origin longer than {MAX_ORIGIN_BYTES} bytes")
        return self._transact(self.contract.functions.anchor_checkpoint(
            checkpoint.origin, checkpoint.size, checkpoint.root_hash, checkpoint.timestamp or 0))

    def grant_agreement(self, key: bytes, digest: bytes) -> Receipt:
        return self._transact(self.contract.functions.grant_agreement(key, digest))

    def revoke_agreement(self, key: bytes, digest: bytes) -> Receipt:
        return self._transact(self.contract.functions.revoke_agreement(key, digest))

    # -- reads -------------------------------------------------------------------------

    def _call(self, function: ContractFunction) -> Any:
        with _reachable(self.endpoint):
            return function.call()

    def block_number(self) -> int:
        with _reachable(self.endpoint):
            return int(self.w3.eth.block_number)

    def owner(self) -> str:
        return str(self._call(self.contract.functions.owner()))

    def is_member(self, member: str) -> bool:
        return bool(self._call(self.contract.functions.is_member(
            Web3.to_checksum_address(member))))

    def member_name(self, member: str) -> str:
        return str(self._call(self.contract.functions.member_name(
            Web3.to_checksum_address(member))))

    def anchor_count(self, origin: str) -> int:
        return int(self._call(self.contract.functions.anchors_of(origin)))

    def anchor_at(self, origin: str, index: int) -> AnchoredCheckpoint:
        size, root, when, anchored_at, member = self._call(
            self.contract.functions.anchor_at(origin, index))
        return AnchoredCheckpoint(origin, index, int(size), bytes(root), int(when),
                                  int(anchored_at), str(member))

    def latest_anchor(self, origin: str) -> AnchoredCheckpoint | None:
        count = self.anchor_count(origin)
        return None if count == 0 else self.anchor_at(origin, count - 1)

    def anchors_around(self, origin: str, tree_size: int
                       ) -> tuple[AnchoredCheckpoint | None, AnchoredCheckpoint | None]:
        """The anchors of ``origin`` just below-or-at and just above ``tree_size``.

        Anchored sizes grow strictly (the contract enforces it), so a binary
        search over the anchor indexes finds them in O(log n) calls.
        """
        low, high = 0, self.anchor_count(origin)  # first index with size > tree_size
        while low < high:
            middle = (low + high) // 2
            if self.anchor_at(origin, middle).tree_size <= tree_size:
                low = middle + 1
            else:
                high = middle
        count = self.anchor_count(origin)
        below = self.anchor_at(origin, low - 1) if low > 0 else None
        above = self.anchor_at(origin, low) if low < count else None
        return below, above

    def agreement(self, key: bytes) -> AnchoredAgreement | None:
        """The agreement anchored under ``key`` (:func:`~.records.share_key`), if any."""
        digest, grantor, status, granted_at, revoked_at = self._call(
            self.contract.functions.agreement(key))
        if AgreementStatus(status) is AgreementStatus.NONE:
            return None
        return AnchoredAgreement(key, bytes(digest), str(grantor), AgreementStatus(status),
                                 int(granted_at), int(revoked_at))

    def agreement_by_digest(self, digest: bytes) -> AnchoredAgreement | None:
        """The agreement whose canonical JSON hashes to ``digest``, if anchored."""
        key = bytes(self._call(self.contract.functions.share_of_digest(digest)))
        return None if key == _ZERO else self.agreement(key)
