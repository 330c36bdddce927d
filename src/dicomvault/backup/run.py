"""``backup run``: one new generation, incremental, consistent while ingest runs.

Steps:

1. Snapshot the index and the ledger consistently (:mod:`.snapshot`) and
   seal it into the target. The snapshot names every image blob the index
   refers to at that instant.
2. Check the snapshot's ledger against the previous generation's
   checkpoint: the old tree must be a prefix of the new one. The ledger
   position is what makes the generation incremental and trustworthy: a
   generation is never written on top of a history that was rewritten.
3. Copy the image blobs the previous generation does not already hold, as
   they are (sealed; the target never sees plaintext), hashing each; each
   is checked on the way (GCM tags, the SHA-256 of its index row), so a
   rotten blob is never backed up (the run fails and says to scrub first).
   A blob deleted by a concurrent delete after the snapshot makes the run
   start over from step 1 (the copies made so far are kept and reused).
4. Sign a checkpoint of the snapshot's tree and the manifest; write the
   manifest (the generation now exists); record ``backup_made`` in the ledger.
5. Retention: keep the newest ``keep`` generations, delete older manifests
   and every object no kept manifest lists.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from dicomvault.access import Door, RequestContext, system_context
from dicomvault.archive import Archive
from dicomvault.backup.common import is_indexed, node_ledger_keys
from dicomvault.backup.ledger_checks import prefix_root, sign_tree
from dicomvault.backup.manifest import BackupObject, Manifest, open_manifest, sign_manifest
from dicomvault.backup.sealed import copy_verified, write_snapshot
from dicomvault.backup.snapshot import SnapshotSummary, dump_database
from dicomvault.backup.target import BackupTarget
from dicomvault.errors import IntegrityError
from dicomvault.index import current_revision
from dicomvault.keys import parse_key_ref
from dicomvault.ledger import EventType, LedgerKeys, utc_now

log = logging.getLogger(__name__)

_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class BackupReport:
    generation: int
    instances: int
    objects: int
    copied: int
    bytes_copied: int
    snapshot_bytes: int
    tree_size: int
    pruned_generations: tuple[int, ...]
    pruned_objects: int
    seconds: float


class _BlobVanishedError(Exception):
    """A blob named by the snapshot was deleted (by a concurrent delete) before it was copied."""


def latest_manifest(target: BackupTarget, archive: Archive, keys: LedgerKeys) -> Manifest | None:
    generations = target.generations()
    if not generations:
        return None
    note = target.read_manifest(generations[-1])
    return open_manifest(note, archive.settings.ledger_origin, keys)


def _copy_new_blobs(archive: Archive, target: BackupTarget, summary: SnapshotSummary,
                    known: dict[str, BackupObject]) -> tuple[list[BackupObject], int, int]:
    """Copy what ``known`` (the previous generation) lacks; every object with its hash."""
    objects: list[BackupObject] = []
    copied = copied_bytes = 0
    for name in summary.blob_names:
        previous = known.get(name)
        if previous is not None:
            objects.append(previous)
            continue
        try:
            sha256, size = copy_verified(archive.keys, archive.blobs, target.blobs, name,
                                         summary.envelopes[name])
        except IntegrityError as exc:
            if not is_indexed(archive, name):
                raise _BlobVanishedError from exc
            raise IntegrityError(
                f"blob {name} is missing or damaged on this node ({exc.message}); run "
                "`dicomvault scrub` to repair it, then back up again") from exc
        known[name] = BackupObject(name, sha256, size)
        objects.append(known[name])
        copied += 1
        copied_bytes += size
    return objects, copied, copied_bytes


def run_backup(archive: Archive, target: BackupTarget, *, keep: int,
               ctx: RequestContext | None = None) -> BackupReport:
    """Write one generation to ``target``; see the module docstring."""
    started = time.monotonic()
    ctx = ctx or system_context(Door.CLI, actor="backup")
    settings = archive.settings
    keys = node_ledger_keys(archive)
    previous = latest_manifest(target, archive, keys)
    known = {o.name: o for o in previous.objects} if previous else {}
    for _ in range(_ATTEMPTS):
        snapshot, summary = write_snapshot(
            target.blobs, archive.keys,
            lambda emit: dump_database(archive.engine, settings.tmp_dir, emit))
        _check_extends(previous, summary)
        try:
            objects, copied, copied_bytes = _copy_new_blobs(archive, target, summary, known)
            break
        except _BlobVanishedError:
            log.info("a blob was deleted while the backup ran; taking a new snapshot")
            target.blobs.delete(snapshot.blob)
    else:
        raise IntegrityError("blobs kept vanishing during the backup; try again later")
    generation = previous.generation + 1 if previous else 1
    manifest = Manifest(
        generation=generation, created=utc_now(), origin=settings.ledger_origin,
        schema_revision=current_revision(archive.engine) or "",
        database=archive.engine.dialect.name, tree_size=summary.tree_size, root=summary.root,
        checkpoint=sign_tree(settings.ledger_origin, keys, summary.tree_size, summary.root),
        snapshot=snapshot, objects=tuple(objects),
        previous=previous.generation if previous else None,
    )
    target.make_durable()
    target.write_manifest(generation, sign_manifest(manifest, keys))
    archive.record_event(ctx, EventType.BACKUP_MADE, details={
        "generation": generation, "target": target.description, "instances": summary.instances,
        "objects_copied": copied, "bytes_copied": copied_bytes, "tree_size": summary.tree_size,
    })
    pruned, pruned_objects = prune(target, archive, keys, keep)
    return BackupReport(
        generation=generation, instances=summary.instances, objects=len(objects),
        copied=copied, bytes_copied=copied_bytes, snapshot_bytes=snapshot.size,
        tree_size=summary.tree_size, pruned_generations=pruned, pruned_objects=pruned_objects,
        seconds=time.monotonic() - started,
    )


def _check_extends(previous: Manifest | None, summary: SnapshotSummary) -> None:
    """The snapshot's ledger is whole and extends the previous generation's (RFC 9162)."""
    if summary.root != prefix_root(summary.leaf_hashes, summary.tree_size):
        raise IntegrityError("the ledger's entries do not hash to its stored root")
    if previous is None:
        return
    if (summary.tree_size < previous.tree_size
            or prefix_root(summary.leaf_hashes, previous.tree_size) != previous.root):
        raise IntegrityError(
            f"the ledger no longer extends the one backed up in generation "
            f"{previous.generation} (rolled back or forked): refusing to back it up")


def prune(target: BackupTarget, archive: Archive, keys: LedgerKeys, keep: int
          ) -> tuple[tuple[int, ...], int]:
    """Keep the newest ``keep`` generations; remove the rest and unreferenced objects."""
    generations = target.generations()
    doomed = generations[:-keep] if keep > 0 else []
    kept = [open_manifest(target.read_manifest(g), archive.settings.ledger_origin, keys)
            for g in generations[len(doomed):]]
    for generation in doomed:
        snapshot_key = open_manifest(target.read_manifest(generation),
                                     archive.settings.ledger_origin, keys).snapshot.kek_id
        target.delete_manifest(generation)
        archive.keys.destroy(parse_key_ref(snapshot_key)[0])
    referenced = {o.name for m in kept for o in m.objects} | {m.snapshot.blob for m in kept}
    removed = 0
    for name in list(target.blobs.names()):
        if name not in referenced:
            target.blobs.delete(name)
            removed += 1
    return tuple(doomed), removed
