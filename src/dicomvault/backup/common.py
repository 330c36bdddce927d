"""Small things backup, restore, scrub and fsck share: the node's ledger keys, manifests,
and whether the index refers to a blob."""

from __future__ import annotations

import sqlalchemy as sa

from dicomvault.archive import Archive
from dicomvault.backup.manifest import Manifest, open_manifest
from dicomvault.backup.target import BackupTarget
from dicomvault.index import instances
from dicomvault.ledger import LedgerKeys
from dicomvault.node import ledger_keys_dir


def node_ledger_keys(archive: Archive) -> LedgerKeys:
    """The node's ledger keys (they sign checkpoints and backup manifests)."""
    return LedgerKeys.load(ledger_keys_dir(archive.settings))


def manifests(target: BackupTarget, archive: Archive, *, newest_first: bool = True,
              keys: LedgerKeys | None = None) -> list[Manifest]:
    """Every generation's manifest, signature verified."""
    keys = keys or node_ledger_keys(archive)
    generations = target.generations()
    if newest_first:
        generations.reverse()
    origin = archive.settings.ledger_origin
    return [open_manifest(target.read_manifest(g), origin, keys) for g in generations]


def is_indexed(archive: Archive, blob_name: str) -> bool:
    """Whether an index row refers to ``blob_name`` now."""
    with archive.engine.connect() as conn:
        return conn.execute(
            sa.select(instances.c.pk).where(instances.c.blob_name == blob_name)
        ).first() is not None
