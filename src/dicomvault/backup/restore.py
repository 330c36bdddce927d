"""``dicomvault restore``: rebuild a node from a backup generation, verifying everything.

Onto an empty node only (no instance indexed, an empty ledger). In order:

1. Install the recovery keys if given (``--keys FILE``): the keyring and the
   ledger keys. Without them the node's own key directory must already hold
   the keys (or the KEKs are in an external KMS the node is configured for).
2. Read the chosen generation's manifest (default: the newest) and verify
   its signature under the ledger key: everything else is trusted through
   the hashes it pins.
3. Load the snapshot into the database in one transaction (the sealed
   bytes checked against the manifest, every segment authenticated).
4. Check the restored ledger: every entry re-hashes to the stored tree, and
   the tree matches the generation's signed checkpoint; if the operator
   gives the last checkpoint a witness cosigned (``--witness-checkpoint``),
   the restored ledger must extend it. A backup older than what the witness
   saw means ledger entries were lost: refused unless the operator accepts
   the rollback, because partners will see a fork.
5. Copy every blob back, each checked against its manifest hash.
6. Verify every instance: decrypt (GCM tags), SHA-256 against the index and
   against the ``instance_stored`` event in the ledger.
7. Record ``restore_done`` in the ledger.

If a step fails, the node is left partly restored: delete its data
directory (and database) and run the restore again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import sqlalchemy as sa

from dicomvault.access import Door, RequestContext, system_context
from dicomvault.archive import Archive, InstanceLocation
from dicomvault.backup.common import node_ledger_keys
from dicomvault.backup.ledger_checks import check_checkpoint, content_hash, prefix_root
from dicomvault.backup.manifest import Manifest, open_manifest
from dicomvault.backup.sealed import checked_chunks, snapshot_values
from dicomvault.backup.snapshot import load_snapshot
from dicomvault.backup.target import BackupTarget, flush_filesystems
from dicomvault.config import Settings
from dicomvault.errors import IntegrityError, InvalidInputError, KeyUnavailableError
from dicomvault.index import (
    create_engine_for,
    current_revision,
    instances,
    upgrade_database,
    write_transaction,
)
from dicomvault.index.lookup import stored_instances_select, to_stored_instance
from dicomvault.keys.files import ensure_private_dir
from dicomvault.keys.recovery import RecoveryContents, install
from dicomvault.ledger import EventType, VerifierKey
from dicomvault.ledger.checkpoint import verify_checkpoint
from dicomvault.ledger.merkle import VerificationError
from dicomvault.ledger.schema import ledger_event_index
from dicomvault.node import open_archive
from dicomvault.storage import FilesystemBlobStore


@dataclass(frozen=True, slots=True)
class RestoreReport:
    generation: int
    instances: int
    objects: int
    bytes_restored: int
    tree_size: int
    witnessed_size: int | None
    seconds: float


@dataclass(frozen=True, slots=True)
class WitnessedCheckpoint:
    """The last checkpoint of this node a witness saw (and, if given, its key to check)."""

    note: str
    witness_key: str | None = None


def _require_empty(settings: Settings) -> None:
    ensure_private_dir(settings.data_dir)
    engine = create_engine_for(settings.resolved_database_url)
    try:
        upgrade_database(engine)
        with engine.connect() as conn:
            indexed = conn.execute(sa.select(sa.func.count()).select_from(instances)).scalar_one()
            # A node records its settings when it first opens (and so does a failed restore
            # attempt): those events alone do not make it a node with history to lose.
            history = conn.execute(
                sa.select(sa.func.count()).select_from(ledger_event_index)
                .where(ledger_event_index.c.event_type != EventType.SETTINGS_CHANGED.value)
            ).scalar_one()
    finally:
        engine.dispose()
    if indexed or history:
        raise InvalidInputError(
            "restore needs an empty node: this one already holds instances or ledger entries")


def restore(settings: Settings, target: BackupTarget, *, generation: int | None = None,
            keys: RecoveryContents | None = None, witnessed: WitnessedCheckpoint | None = None,
            allow_ledger_rollback: bool = False, ctx: RequestContext | None = None
            ) -> RestoreReport:
    """Restore ``target``'s generation onto the empty node of ``settings``."""
    started = time.monotonic()
    _require_empty(settings)
    if keys is not None:
        install(settings, keys)
    archive, _ = open_archive(settings)
    try:
        return _restore_into(archive, target, generation, witnessed, allow_ledger_rollback,
                             ctx=ctx or system_context(Door.CLI, actor="restore"),
                             started=started)
    finally:
        archive.close()


def _restore_into(archive: Archive, target: BackupTarget, generation: int | None,
                  witnessed: WitnessedCheckpoint | None, allow_rollback: bool, *,
                  ctx: RequestContext, started: float) -> RestoreReport:
    ledger_keys = node_ledger_keys(archive)
    generations = target.generations()
    if not generations:
        raise InvalidInputError("the backup target holds no generation")
    chosen = generation if generation is not None else generations[-1]
    if chosen not in generations:
        raise InvalidInputError(f"the backup target has no generation {chosen}")
    try:
        manifest = open_manifest(target.read_manifest(chosen), archive.settings.ledger_origin,
                                 ledger_keys)
    except IntegrityError as exc:
        raise IntegrityError(
            f"{exc.message} (is this the node's backup, with its ledger_origin? without "
            "--keys the node's own keys are used)") from exc
    revision = current_revision(archive.engine)
    if manifest.schema_revision != revision:
        raise InvalidInputError(
            f"the backup has schema {manifest.schema_revision}, this node {revision}: restore "
            "with the dicomvault version that made it, then upgrade")
    ledger = archive.audit.ledger
    with write_transaction(archive.engine) as conn:
        try:
            summary = load_snapshot(conn, snapshot_values(target.blobs, archive.keys,
                                                          manifest.snapshot))
        except KeyUnavailableError as exc:
            raise KeyUnavailableError(
                f"the recovery key file is older than backup generation {chosen}: use the "
                "one written after it (backup run --keys-to), or restore an older generation "
                "with --generation") from exc
        _check_ledger(archive, conn, manifest, summary.leaf_hashes)
        witnessed_size = _check_witnessed(ledger.verifier_key, summary.leaf_hashes, witnessed,
                                          allow_rollback)
    restored_bytes = _restore_blobs(archive, target, manifest)
    verified = verify_instances(archive)
    archive.record_event(ctx, EventType.RESTORE_DONE, details={
        "generation": manifest.generation, "instances": verified,
        "tree_size": manifest.tree_size, "target": target.description,
    })
    return RestoreReport(
        generation=manifest.generation, instances=verified, objects=len(manifest.objects),
        bytes_restored=restored_bytes, tree_size=manifest.tree_size,
        witnessed_size=witnessed_size, seconds=time.monotonic() - started,
    )


def _check_ledger(archive: Archive, conn: sa.Connection, manifest: Manifest,
                  leaf_hashes: list[bytes]) -> None:
    ledger = archive.audit.ledger
    size = ledger.check_integrity(conn)
    if size != manifest.tree_size or ledger.root(conn) != manifest.root:
        raise IntegrityError("the restored ledger differs from the one the manifest names")
    check_checkpoint(manifest.checkpoint, ledger.verifier_key, leaf_hashes)


def _check_witnessed(key: VerifierKey, leaf_hashes: list[bytes],
                     witnessed: WitnessedCheckpoint | None, allow_rollback: bool) -> int | None:
    """The witnessed tree size, once the restored ledger is shown to extend it."""
    if witnessed is None:
        return None
    cosigners = (witnessed.witness_key,) if witnessed.witness_key else ()
    try:
        checkpoint = verify_checkpoint(witnessed.note, key, cosigners)
    except VerificationError as exc:
        raise IntegrityError(f"the witnessed checkpoint does not verify: {exc}") from exc
    if checkpoint.size > len(leaf_hashes):
        if allow_rollback:
            return checkpoint.size
        raise IntegrityError(
            f"the backup's ledger holds {len(leaf_hashes)} entries but a witness saw "
            f"{checkpoint.size}: {checkpoint.size - len(leaf_hashes)} entries after the "
            "backup are lost and partners will see a fork; restore a newer generation, or "
            "pass --allow-ledger-rollback to accept the loss")
    if prefix_root(leaf_hashes, checkpoint.size) != checkpoint.root_hash:
        raise IntegrityError(
            "the restored ledger is not consistent with the checkpoint the witness saw "
            "(the backed-up history differs from the one published)")
    return checkpoint.size


def _restore_blobs(archive: Archive, target: BackupTarget, manifest: Manifest) -> int:
    """Copy every blob back, checked against the manifest; durable before returning.

    On a filesystem store, blobs are written without one fsync each and flushed
    together at the end (nothing is acknowledged before restore returns).
    """
    store = archive.blobs
    batched = isinstance(store, FilesystemBlobStore) and store.fsync
    if isinstance(store, FilesystemBlobStore) and batched:
        store = FilesystemBlobStore(store.root, fsync=False)
    total = 0
    for item in manifest.objects:
        writer = store.begin(item.name)
        try:
            for chunk in checked_chunks(target.blobs.read(item.name), item.sha256,
                                        "a backed-up blob"):
                writer.write(chunk)
                total += len(chunk)
            writer.commit()
        except BaseException:
            writer.abort()
            raise
    if batched:
        flush_filesystems()
    return total


def verify_instances(archive: Archive) -> int:
    """Read every indexed instance back (GCM tags, index hash) and check its ledger hash."""
    ledger = archive.audit.ledger
    count = 0
    with archive.engine.connect() as conn:
        rows = conn.execute(stored_instances_select()).mappings().all()
        for row in rows:
            location = InstanceLocation.from_row(to_stored_instance(row))
            for _ in archive.stream_instance(location):
                pass
            if content_hash(ledger, conn, location.sop_instance_uid) != location.sha256:
                raise IntegrityError(
                    f"blob {location.blob_name} does not match its ledger content hash")
            count += 1
    return count


