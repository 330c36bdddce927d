"""Assembling a node: settings -> database, keys, blob store, ledger -> Archive.

This is the only place that decides which implementation backs each
subsystem; doors and commands receive the assembled :class:`Archive`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from dicomvault.access import system_context
from dicomvault.archive import Archive
from dicomvault.audit import AuditTrail
from dicomvault.audit.forwarder import forwarder_for
from dicomvault.config import Settings
from dicomvault.daemon import Daemon
from dicomvault.index import create_engine_for, upgrade_database, write_transaction
from dicomvault.keys import LocalKeyring
from dicomvault.keys.files import ensure_private_dir
from dicomvault.ledger import Ledger, LedgerKeys
from dicomvault.ledger.checkpointer import CheckpointDaemon
from dicomvault.ledger.service import LedgerService
from dicomvault.storage import FilesystemBlobStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class NodeNotices:
    """Things the operator must be told at start (printed by ``serve``)."""

    generated_passphrase: bool


def open_archive(settings: Settings) -> tuple[Archive, NodeNotices]:
    """Open (creating on first use) the node described by ``settings``."""
    ensure_private_dir(settings.data_dir)
    ensure_private_dir(settings.keys_dir)
    engine = create_engine_for(settings.resolved_database_url)
    upgrade_database(engine)
    passphrase = (
        settings.keyring_passphrase.get_secret_value() if settings.keyring_passphrase else None
    )
    keyring = LocalKeyring(settings.keys_dir, passphrase)
    blobs = FilesystemBlobStore(settings.blob_dir, fsync=settings.fsync)
    ledger_keys = LedgerKeys.load_or_create(settings.keys_dir / "ledger")
    ledger = Ledger(ledger_keys, origin=settings.ledger_origin)
    audit = AuditTrail(ledger)
    archive = Archive(settings, engine, keyring, blobs, audit)
    with write_transaction(engine) as conn:
        audit.settings_in_force(conn, system_context(), _recorded_settings(settings))
    return archive, NodeNotices(generated_passphrase=keyring.uses_generated_passphrase)


#: Settings that say how one process listens or logs, not how the archive behaves.
_PROCESS_SETTINGS = frozenset({"host", "http_port", "dicom_port", "log_level", "data_dir"})


def _recorded_settings(settings: Settings) -> dict[str, object]:
    return {key: value for key, value in settings.public_view().items()
            if key not in _PROCESS_SETTINGS}


def background_jobs(archive: Archive) -> list[Daemon]:
    """The jobs ``serve`` runs beside the doors (checkpoints, audit forwarding...)."""
    settings = archive.settings
    ledger = LedgerService(archive.engine, archive.audit.ledger)
    jobs: list[Daemon] = []
    if settings.ledger_checkpoint_interval_seconds > 0:
        jobs.append(CheckpointDaemon(ledger, settings.ledger_checkpoint_interval_seconds))
    forwarder = forwarder_for(settings, ledger)
    if forwarder is not None:
        jobs.append(forwarder)
    return jobs
