"""``dicomvault fsck``: find and clean what an interrupted write left behind.

A store writes its sealed blob durably *before* the one transaction that
indexes it and appends its ledger entry (ARCHITECTURE.md, "Ingest"). A
crash (kill -9, power loss) can therefore leave, and only leave:

* staged objects (a temporary file, an incomplete multipart upload) of
  writes that never committed: discarded;
* committed blobs whose index transaction never committed (orphans):
  nothing refers to them and nothing was acknowledged for them: removed,
  from the replica too;
* asynchronous replication work for such blobs: dropped by the next drain.

It cannot leave an index row without its blob, because the row commits only
after the blob is durable. fsck checks that too (a deleted file, a lost
disk) and, with ``repair``, restores such blobs from the replica or the
latest backup holding them (as scrub does); what cannot be restored is
reported as lost.

Beside a running server, only objects older than ``grace_seconds`` are
touched, so that a store in flight is never mistaken for debris; with the
server stopped, pass 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dicomvault.archive import Archive, InstanceLocation
from dicomvault.backup.common import is_indexed
from dicomvault.backup.scrub import Problem, Scrubber, unindexed_blobs
from dicomvault.backup.target import BackupTarget
from dicomvault.index.lookup import stored_instances_select, to_stored_instance


@dataclass(slots=True)
class FsckReport:
    staged_discarded: int = 0
    orphans_removed: int = 0
    replica_orphans_removed: int = 0
    missing: list[str] = field(default_factory=list)  # blob names
    restored: list[str] = field(default_factory=list)

    @property
    def lost(self) -> list[str]:
        return [name for name in self.missing if name not in self.restored]

    @property
    def clean(self) -> bool:
        return not self.lost


def fsck(archive: Archive, *, grace_seconds: float = 3600.0, repair: bool = True,
         backup: BackupTarget | None = None) -> FsckReport:
    """Clean up after interrupted writes; see the module docstring."""
    report = FsckReport()
    scrubber = Scrubber(archive, backup=backup, repair=repair)
    report.staged_discarded = archive.blobs.discard_incomplete(grace_seconds)
    for name in unindexed_blobs(archive, scrubber.primary, grace_seconds):
        if not is_indexed(archive, name):  # re-checked: never remove what was just indexed
            scrubber.primary.delete(name)
            report.orphans_removed += 1
    if scrubber.replica is not None:
        for name in unindexed_blobs(archive, scrubber.replica, grace_seconds):
            if not is_indexed(archive, name):
                scrubber.replica.delete(name)
                report.replica_orphans_removed += 1
    with archive.engine.connect() as conn:
        rows = conn.execute(stored_instances_select()).mappings().all()
    for row in rows:
        location = InstanceLocation.from_row(to_stored_instance(row))
        if scrubber.primary.exists(location.blob_name):
            continue
        report.missing.append(location.blob_name)
        source = scrubber.repair_primary(location) if repair else None
        scrubber.record_finding(location, "primary", Problem.MISSING, source)
        if source is not None:
            report.restored.append(location.blob_name)
    return report

