"""Chain benchmark: gas per registry operation and anchoring latency per transaction.

Deploys the anchor registry on the in-process EVM (py-evm) or on a JSON-RPC
node (``--rpc-url``, e.g. anvil: ``anvil --port 8545``, whose first account
funds ours), admits one member and measures:

* gas used by deploy, admit, the first and later ``anchor_checkpoint`` of an
  origin, ``grant_agreement`` and ``revoke_agreement`` (deterministic: what a
  Besu consortium with a gas price would pay, or its block gas limit must hold);
* wall time of one anchoring transaction (simulate, sign, send, receipt), the
  median of ``--runs``.

    PYTHONPATH=src python -m bench.chain                       # in-process EVM
    PYTHONPATH=src python -m bench.chain --rpc-url http://127.0.0.1:8545
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import time

from eth_account import Account
from web3 import EthereumTesterProvider, HTTPProvider, Web3

from dicomvault.chain.client import ChainClient
from dicomvault.ledger import Checkpoint


def _gas(client: ChainClient, tx_hash: str) -> int:
    return int(client.w3.eth.get_transaction_receipt(tx_hash)["gasUsed"])  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rpc-url", help="JSON-RPC node (default: in-process py-evm)")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    w3 = Web3(HTTPProvider(args.rpc_url)) if args.rpc_url else Web3(EthereumTesterProvider())
    owner, member = Account.create(), Account.create()
    for account in (owner, member):
        tx = w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": account.address,
                                      "value": 10**18})
        w3.eth.wait_for_transaction_receipt(tx)
    registry = ChainClient(w3, None, owner)
    registry.deploy()
    deploy_gas = int(w3.eth.get_transaction_receipt(
        w3.eth.get_block("latest")["transactions"][0])["gasUsed"])  # type: ignore[index]
    admit = registry.admit_member(member.address, "Hospital A")
    client = ChainClient(w3, registry.address, member)
    origin = "pacs.hospital-a.example/ledger"

    def root(n: int) -> bytes:
        return hashlib.sha256(n.to_bytes(8, "big")).digest()

    first = client.anchor_checkpoint(Checkpoint(origin, 1, root(1), 1))
    times, later_gas = [], []
    for size in range(2, args.runs + 2):
        start = time.perf_counter()
        receipt = client.anchor_checkpoint(Checkpoint(origin, size, root(size), size))
        times.append(time.perf_counter() - start)
        later_gas.append(_gas(client, receipt.tx_hash))
    grant = client.grant_agreement(root(-1 % 2**32), root(7))
    revoke = client.revoke_agreement(root(-1 % 2**32), root(7))
    where = args.rpc_url or "in-process py-evm"
    print(f"chain: {where}; {args.runs} anchoring transactions")
    print(f"gas  deploy {deploy_gas}, admit_member {_gas(client, admit.tx_hash)}")
    print(f"gas  anchor_checkpoint first {_gas(client, first.tx_hash)}, "
          f"later {statistics.median(later_gas):.0f}")
    print(f"gas  grant_agreement {_gas(client, grant.tx_hash)}, "
          f"revoke_agreement {_gas(client, revoke.tx_hash)}")
    print(f"time anchor_checkpoint median {statistics.median(times) * 1000:.1f} ms "
          f"(simulate + sign + send + receipt)")
    print("command: PYTHONPATH=src python -m bench.chain " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
