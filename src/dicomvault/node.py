"""Assembling a node: settings -> database, keys, blob store, ledger -> Archive.

This is the only place that decides which implementation backs each
subsystem; doors and commands receive the assembled :class:`Archive`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from dicomvault.archive import Archive
from dicomvault.audit import AuditTrail
from dicomvault.codecs.compressor import background_jobs as codec_jobs
from dicomvault.config import Settings
from dicomvault.daemon import Daemon
from dicomvault.index import create_engine_for, upgrade_database
from dicomvault.keys import LocalKeyring
from dicomvault.keys.files import ensure_private_dir
from dicomvault.ledger import Ledger, LedgerKeys
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
    return archive, NodeNotices(generated_passphrase=keyring.uses_generated_passphrase)


def background_jobs(archive: Archive) -> list[Daemon]:
    """The background jobs ``serve`` runs beside the doors (each subsystem adds its own)."""
    return [*codec_jobs(archive)]
