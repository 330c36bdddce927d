"""Assembling a node: settings -> database, keys, blob store, ledger, access -> Archive.

This is the only place that decides which implementation backs each
subsystem; doors and commands receive the assembled :class:`Archive`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from dicomvault.access import AccessPolicy, Door, RequestContext, system_context
from dicomvault.access.authn import LoginLimits
from dicomvault.access.jwt_tokens import AccessTokens, load_signing_key
from dicomvault.access.oidc import OidcValidator
from dicomvault.access.service import AccessService
from dicomvault.archive import Archive
from dicomvault.audit import AuditTrail
from dicomvault.audit.forwarder import forwarder_for
from dicomvault.codecs.compressor import background_jobs as codec_jobs
from dicomvault.config import ReplicationMode, Settings
from dicomvault.daemon import Daemon
from dicomvault.index import create_engine_for, upgrade_database, write_transaction
from dicomvault.index.flusher import LogFlusher
from dicomvault.keys import KeyProvider, LocalKeyring
from dicomvault.keys.files import ensure_private_dir
from dicomvault.ledger import EventType, Ledger, LedgerKeys
from dicomvault.ledger.checkpointer import CheckpointDaemon
from dicomvault.ledger.service import LedgerService
from dicomvault.storage import BlobStore
from dicomvault.storage.locations import open_blob_store, primary_location
from dicomvault.storage.replicated import ReplicatedBlobStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class NodeNotices:
    """Things the operator must be told at start (printed by the CLI)."""

    generated_passphrase: bool
    #: The generated password of the first ``admin`` account, shown once, or None.
    initial_admin_password: str | None = None


def _key_provider(settings: Settings) -> tuple[KeyProvider, bool]:
    """The configured key provider and whether it uses a generated passphrase."""
    if settings.key_provider == "transit":
        from dicomvault.keys.transit import TransitKeyProvider

        assert settings.transit_url is not None and settings.transit_token is not None
        verify: bool | str = str(settings.transit_ca_file) if settings.transit_ca_file else True
        provider = TransitKeyProvider(
            settings.transit_url, settings.transit_token.get_secret_value(),
            mount=settings.transit_mount, prefix=settings.transit_key_prefix, verify=verify)
        return provider, False
    passphrase = (
        settings.keyring_passphrase.get_secret_value() if settings.keyring_passphrase else None
    )
    keyring = LocalKeyring(settings.keys_dir, passphrase)
    return keyring, keyring.uses_generated_passphrase


def _access_service(settings: Settings, archive: Archive) -> AccessService:
    auth_dir = settings.keys_dir / "auth"
    ensure_private_dir(auth_dir)
    tokens = AccessTokens(load_signing_key(auth_dir), issuer=settings.ledger_origin,
                          audience=settings.token_audience,
                          lifetime=timedelta(seconds=settings.access_token_seconds))
    oidc = None
    if settings.oidc_issuer and settings.oidc_audience:
        oidc = OidcValidator(issuer=settings.oidc_issuer, audience=settings.oidc_audience,
                             jwks_url=settings.oidc_jwks_url,
                             roles_claim=settings.oidc_roles_claim,
                             role_map=settings.oidc_role_map,
                             username_claim=settings.oidc_username_claim)
    limits = LoginLimits(max_failures=settings.login_max_failures,
                         lockout=timedelta(seconds=settings.login_lockout_seconds),
                         per_client_per_minute=settings.login_rate_limit,
                         refresh_lifetime=timedelta(hours=settings.refresh_token_hours))

    def record(actor: str, client: str, kind: EventType,
               details: dict[str, str | int | bool]) -> None:
        ctx = RequestContext(actor=actor[:128], door=Door.API, client_address=client)
        archive.record_event(ctx, kind, details=details)

    return AccessService(archive.engine, archive.policy, tokens, oidc=oidc, limits=limits,
                         record=record)


def open_archive(settings: Settings) -> tuple[Archive, NodeNotices]:
    """Open (creating on first use) the node described by ``settings``."""
    ensure_private_dir(settings.data_dir)
    ensure_private_dir(settings.keys_dir)
    engine = create_engine_for(settings.resolved_database_url)
    upgrade_database(engine)
    keys, generated = _key_provider(settings)
    blobs = open_blob_stores(settings, engine)
    ledger_keys = LedgerKeys.load_or_create(ledger_keys_dir(settings))
    ledger = Ledger(ledger_keys, origin=settings.ledger_origin)
    audit = AuditTrail(ledger)
    archive = Archive(settings, engine, keys, blobs, audit,
                      policy=AccessPolicy(settings.dimse_ae_roles))
    archive.access = _access_service(settings, archive)
    archive.study_keys.shred_pending()  # keys of deletions a crash or KMS outage left queued
    password = archive.access.ensure_initial_admin()
    with write_transaction(engine) as conn:
        audit.settings_in_force(conn, system_context(), _recorded_settings(settings))
    return archive, NodeNotices(generated_passphrase=generated, initial_admin_password=password)


#: Settings that say how one process listens or logs, not how the archive behaves.
_PROCESS_SETTINGS = frozenset({"host", "http_port", "dicom_port", "log_level", "data_dir"})


def _recorded_settings(settings: Settings) -> dict[str, object]:
    return {key: value for key, value in settings.public_view().items()
            if key not in _PROCESS_SETTINGS}


def ledger_keys_dir(settings: Settings) -> Path:
    """Where the ledger's identifier and signing keys live."""
    return settings.keys_dir / "ledger"


def open_blob_stores(settings: Settings, engine: sa.Engine) -> BlobStore:
    """The primary blob store, wrapped with its replica when one is configured."""
    from dicomvault.backup.replication import DatabaseReplicationQueue

    primary = open_blob_store(primary_location(settings), settings)
    if settings.replica is None:
        return primary
    replica = open_blob_store(settings.replica, settings)
    return ReplicatedBlobStore(primary, replica, settings.replication_mode,
                               DatabaseReplicationQueue(engine))


def background_jobs(archive: Archive) -> list[Daemon]:
    """The jobs ``serve`` runs beside the doors (see :mod:`dicomvault.daemon`): log flush,
    checkpoints, audit forwarding, compression, scrub, replication, chain anchoring"""
    settings = archive.settings
    ledger = LedgerService(archive.engine, archive.audit.ledger)
    jobs: list[Daemon] = []
    if not settings.flush_access_events:
        jobs.append(LogFlusher(archive.engine))
    if settings.ledger_checkpoint_interval_seconds > 0:
        jobs.append(CheckpointDaemon(ledger, settings.ledger_checkpoint_interval_seconds))
    forwarder = forwarder_for(settings, ledger)
    if forwarder is not None:
        jobs.append(forwarder)
    jobs.extend(codec_jobs(archive))
    from dicomvault.backup.replication import DatabaseReplicationQueue, ReplicationDaemon
    from dicomvault.backup.scrub import ScrubDaemon

    if settings.scrub_interval_hours > 0:
        jobs.append(ScrubDaemon(archive, settings.scrub_interval_hours * 3600))
    blobs = archive.blobs
    asynchronous = settings.replication_mode is ReplicationMode.ASYNC
    if isinstance(blobs, ReplicatedBlobStore) and asynchronous:
        jobs.append(ReplicationDaemon(blobs, DatabaseReplicationQueue(archive.engine),
                                      settings.replication_interval_seconds))
    if settings.chain_enabled:  # web3 is an optional extra: imported only when enabled
        from dicomvault.chain.service import anchor_daemon

        jobs.append(anchor_daemon(archive))
    return jobs
