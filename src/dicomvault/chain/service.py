"""Assembling the chain subsystem of a node from its settings (doors and ``node`` call this)."""

from __future__ import annotations

from dicomvault.access import system_context
from dicomvault.archive import Archive
from dicomvault.chain.account import load_account
from dicomvault.chain.anchorer import AnchorDaemon, Anchorer
from dicomvault.chain.backlog import Backlog
from dicomvault.chain.client import ChainClient
from dicomvault.config import Settings
from dicomvault.errors import ConfigurationError
from dicomvault.ledger import EventType


def client_for(settings: Settings, *, read_only: bool = False,
               rpc_url: str | None = None, address: str | None = None) -> ChainClient:
    """A client of the configured chain and registry, as this member (unless ``read_only``).

    ``rpc_url`` and ``address`` override the settings (a partner verifying
    against a chain this node is not configured for).
    """
    url = rpc_url or settings.chain_rpc_url
    if url is None:
        raise ConfigurationError("no chain endpoint: set chain_rpc_url or pass --rpc-url")
    account = None
    if not read_only:
        if settings.chain_account_key_file is None:
            raise ConfigurationError("no chain account: set chain_account_key_file")
        account = load_account(settings.chain_account_key_file)
    return ChainClient.connect(url, address or settings.chain_contract_address, account,
                               timeout=settings.chain_timeout_seconds)


def anchorer_for(archive: Archive, client: ChainClient | None = None) -> Anchorer:
    """The anchorer of ``archive``; refusals of its checkpoint roots go to its ledger."""

    def record(kind: EventType, details: dict[str, str | int | bool]) -> None:
        archive.record_event(system_context(), kind, details=details)

    return Anchorer(Backlog(archive.engine, archive.audit.ledger),
                    client if client is not None else client_for(archive.settings), record)


def anchor_daemon(archive: Archive) -> AnchorDaemon:
    """The background job ``serve`` runs when ``chain_enabled``."""
    return AnchorDaemon(anchorer_for(archive), archive.settings.chain_anchor_interval_seconds)
