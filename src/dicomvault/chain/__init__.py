"""The consortium chain: checkpoint roots and agreement digests anchored in a smart contract.

Public surface (docs/chain.md)::

    contract   the Vyper anchor registry, its shipped ABI/bytecode, the compiler step
    client     ChainClient: the registry over web3.py (JSON-RPC or in-process EVM);
               the only module importing web3 (the ``chain`` extra)
    records    what the chain holds as Python values; share_key, agreement_digest
    account    this member's key file (mode 0600)
    schema     the chain_backlog table;  backlog: collecting into it, settling rows
    anchorer   Anchorer / AnchorDaemon: draining the backlog onto the chain
    verify     a partner's checks of a checkpoint or an agreement against the chain
    service    assembling all of it from the settings

Nothing is imported here, so that ``schema`` and ``backlog`` load (for
migrations and ``chain status``) where web3 is not installed.
"""
