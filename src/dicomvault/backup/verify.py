"""``backup verify``: re-read everything in a backup target and check it.

For every generation (oldest first):

* the manifest's signature (this node's ledger key);
* every object it lists: read back whole, SHA-256 compared with the
  manifest (each object once, however many generations share it);
* the snapshot: its sealed bytes against the manifest, every segment's GCM
  tag, its structure and row counts; every instance in it has its blob in
  the manifest;
* the ledger in the snapshot: the entries re-hash to the head it stores and
  to the generation's signed checkpoint, and the tree extends the previous
  generation's (RFC 9162 consistency: the old root is the root of the new
  tree's prefix).

Problems are collected, not raised, so one report lists them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dicomvault.archive import Archive
from dicomvault.backup.common import node_ledger_keys
from dicomvault.backup.ledger_checks import check_checkpoint, prefix_root
from dicomvault.backup.manifest import Manifest, open_manifest
from dicomvault.backup.sealed import hash_object, snapshot_values
from dicomvault.backup.snapshot import read_snapshot
from dicomvault.backup.target import BackupTarget
from dicomvault.errors import DicomVaultError


@dataclass(slots=True)
class VerifyReport:
    generations: list[int] = field(default_factory=list)
    objects_checked: int = 0
    bytes_checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_backup(archive: Archive, target: BackupTarget) -> VerifyReport:
    """Check every generation in ``target``; see the module docstring."""
    report = VerifyReport()
    keys = node_ledger_keys(archive)
    checked: dict[str, str | None] = {}
    previous: Manifest | None = None
    for generation in target.generations():
        report.generations.append(generation)
        try:
            manifest = open_manifest(target.read_manifest(generation),
                                     archive.settings.ledger_origin, keys)
        except DicomVaultError as exc:
            report.problems.append(f"generation {generation}: {exc.message}")
            continue
        _check_objects(target, manifest, checked, report)
        _check_snapshot(archive, target, manifest, previous, report)
        previous = manifest
    return report


def _check_objects(target: BackupTarget, manifest: Manifest, checked: dict[str, str | None],
                   report: VerifyReport) -> None:
    for item in manifest.objects:
        if item.name not in checked:
            try:
                sha256, size = hash_object(target.blobs, item.name)
                checked[item.name] = sha256
                report.objects_checked += 1
                report.bytes_checked += size
            except DicomVaultError:
                checked[item.name] = None
        if checked[item.name] is None:
            report.problems.append(f"generation {manifest.generation}: object {item.name} "
                                   "is missing or unreadable")
        elif checked[item.name] != item.sha256:
            report.problems.append(f"generation {manifest.generation}: object {item.name} "
                                   "does not match its hash")


def _check_snapshot(archive: Archive, target: BackupTarget, manifest: Manifest,
                    previous: Manifest | None, report: VerifyReport) -> None:
    where = f"generation {manifest.generation}"
    try:
        summary = read_snapshot(snapshot_values(target.blobs, archive.keys, manifest.snapshot))
        report.bytes_checked += manifest.snapshot.size
        listed = {o.name for o in manifest.objects}
        unlisted = [n for n in summary.blob_names if n not in listed]
        if unlisted:
            report.problems.append(f"{where}: {len(unlisted)} indexed blobs are not in the "
                                   "manifest")
        if (summary.tree_size, summary.root) != (manifest.tree_size, manifest.root):
            report.problems.append(f"{where}: the snapshot's ledger head differs from the "
                                   "manifest's")
        if prefix_root(summary.leaf_hashes, summary.tree_size) != summary.root:
            report.problems.append(f"{where}: the ledger entries do not hash to its root")
        check_checkpoint(manifest.checkpoint, archive.audit.ledger.verifier_key,
                         summary.leaf_hashes)
        if previous is not None and (
                previous.tree_size > summary.tree_size
                or prefix_root(summary.leaf_hashes, previous.tree_size) != previous.root):
            report.problems.append(f"{where}: the ledger does not extend generation "
                                   f"{previous.generation}'s")
    except DicomVaultError as exc:
        report.problems.append(f"{where}: snapshot: {exc.message}")
