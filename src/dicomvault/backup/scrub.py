"""Scrub: re-read every blob, find rot, repair it from a replica or a backup.

For every indexed instance (in primary-key batches, so ingest goes on
meanwhile) the blob is read whole from the primary store: every segment's
AES-GCM tag is checked (:func:`~dicomvault.storage.open_sealed`), then the
plaintext SHA-256 and size against the index, and the index's hash against
the ``instance_stored`` event in the ledger. With a replica, its copy is
checked the same way.

A damaged or missing copy is recorded in the ledger (``blob_damaged``) and,
with ``repair``, replaced by a good copy: from the other side of the
replication pair, else from the newest backup generation that holds one
(checked against the manifest hash and decrypted before it is used). The
repair is recorded too (``blob_repaired``). A copy is only ever replaced by
one that verifies, so a repair can never make things worse.

Blobs no index row refers to (orphans) are reported; ``fsck`` removes them.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from dicomvault.access import Door, RequestContext, system_context
from dicomvault.archive import Archive, InstanceLocation
from dicomvault.backup.common import manifests
from dicomvault.backup.ledger_checks import content_hash
from dicomvault.backup.manifest import Manifest
from dicomvault.backup.schema import replication_queue
from dicomvault.backup.sealed import hash_object
from dicomvault.backup.target import BackupTarget, open_target
from dicomvault.daemon import Daemon
from dicomvault.errors import DicomVaultError, IntegrityError, KeyUnavailableError
from dicomvault.index import instances
from dicomvault.index.lookup import stored_instances_select, to_stored_instance
from dicomvault.ledger import EventType
from dicomvault.storage import BlobStore, open_sealed
from dicomvault.storage.replicated import ReplicatedBlobStore, copy_blob

log = logging.getLogger(__name__)

_BATCH = 500
#: Unindexed blobs younger than this may belong to a store in flight.
ORPHAN_GRACE_SECONDS = 3600.0


class Problem(enum.StrEnum):
    MISSING = "missing"
    UNREADABLE = "unreadable"  # a GCM tag failed, truncated, not an envelope
    HASH = "hash-mismatch"  # decrypts, but not to what the index recorded
    LEDGER = "ledger-mismatch"  # the index's hash is not the ledger's


@dataclass(frozen=True, slots=True)
class Finding:
    blob_name: str
    copy: str  # "primary" or "replica"
    problem: Problem
    repaired_from: str | None = None


@dataclass(slots=True)
class ScrubReport:
    checked: int = 0
    bytes_read: int = 0
    skipped_shredded: int = 0
    findings: list[Finding] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)

    @property
    def damaged(self) -> int:
        return len(self.findings)

    @property
    def repaired(self) -> int:
        return sum(1 for f in self.findings if f.repaired_from is not None)

    @property
    def unrepaired(self) -> list[Finding]:
        return [f for f in self.findings if f.repaired_from is None]


def check_blob(archive: Archive, store: BlobStore, location: InstanceLocation) -> Problem | None:
    """Read ``location``'s blob whole from ``store``; what is wrong with it, if anything."""
    if not store.exists(location.blob_name):
        return Problem.MISSING
    digest = hashlib.sha256()
    size = 0
    try:
        data_key = archive.keys.unwrap(location.kek_id, location.wrapped_key)
        # Hashed here even where the blob's last tag binds its hash: scrub re-reads every
        # byte on purpose (see "Integrity of stored images" in docs/security.md).
        for segment in open_sealed(data_key, store.read(location.blob_name),
                                   content_sha256=location.sha256):
            digest.update(segment)
            size += len(segment)
    except KeyUnavailableError:
        raise
    except IntegrityError:
        return Problem.MISSING if not store.exists(location.blob_name) else Problem.UNREADABLE
    if size != location.size or digest.hexdigest() != location.sha256:
        return Problem.HASH
    return None


class Scrubber:
    """One scrub pass over the whole archive; see the module docstring."""

    def __init__(self, archive: Archive, *, backup: BackupTarget | None = None,
                 repair: bool = True, ctx: RequestContext | None = None) -> None:
        self.archive = archive
        self.backup = backup
        self.repair = repair
        self.ctx = ctx or system_context(Door.SYSTEM, actor="scrub")
        blobs = archive.blobs
        self.primary = blobs.primary if isinstance(blobs, ReplicatedBlobStore) else blobs
        self.replica = blobs.replica if isinstance(blobs, ReplicatedBlobStore) else None
        self._manifests: list[Manifest] | None = None

    def run(self) -> ScrubReport:
        report = ScrubReport()
        queued = self._queued_for_replica()
        last_pk = 0
        while True:
            with self.archive.engine.connect() as conn:
                rows = conn.execute(
                    stored_instances_select(instances.c.pk)
                    .where(instances.c.pk > last_pk).order_by(instances.c.pk).limit(_BATCH)
                ).mappings().all()
                if not rows:
                    break
                last_pk = int(rows[-1]["pk"])
                ledger_hashes = {
                    row["SOPInstanceUID"]: content_hash(self.archive.audit.ledger, conn,
                                                        row["SOPInstanceUID"])
                    for row in rows
                }
            for row in rows:
                location = InstanceLocation.from_row(to_stored_instance(row))
                self._scrub_one(location, ledger_hashes[location.sop_instance_uid], queued,
                                report)
        report.orphans = self._orphans()
        return report

    def _scrub_one(self, location: InstanceLocation, ledger_hash: str | None,
                   queued: set[str], report: ScrubReport) -> None:
        report.checked += 1
        report.bytes_read += location.size
        if ledger_hash != location.sha256:
            self._record(report, location, "primary", Problem.LEDGER, None)
            return
        try:
            problem = check_blob(self.archive, self.primary, location)
            replica_problem = None
            if self.replica is not None and location.blob_name not in queued:
                replica_problem = check_blob(self.archive, self.replica, location)
        except KeyUnavailableError:
            report.skipped_shredded += 1  # crypto-shredded: nothing left to check
            return
        if problem is not None:
            source = self.repair_primary(location) if self.repair else None
            self._record(report, location, "primary", problem, source)
            if source == "replica":
                replica_problem = None
        if replica_problem is not None and self.replica is not None:
            source = None
            if self.repair and check_blob(self.archive, self.primary, location) is None:
                copy_blob(self.primary, self.replica, location.blob_name)
                source = "primary"
            self._record(report, location, "replica", replica_problem, source)

    def repair_primary(self, location: InstanceLocation) -> str | None:
        name = location.blob_name
        if self.replica is not None and check_blob(self.archive, self.replica, location) is None:
            copy_blob(self.replica, self.primary, name)
            if check_blob(self.archive, self.primary, location) is None:
                return "replica"
        if self.backup is None:
            return None
        for manifest in self._backup_manifests():
            wanted = manifest.object_hashes().get(name)
            if wanted is None:
                continue
            try:
                good = (hash_object(self.backup.blobs, name)[0] == wanted
                        and check_blob(self.archive, self.backup.blobs, location) is None)
            except DicomVaultError:
                good = False
            if good:
                copy_blob(self.backup.blobs, self.primary, name)
                if check_blob(self.archive, self.primary, location) is None:
                    return f"backup generation {manifest.generation}"
        return None

    def _backup_manifests(self) -> list[Manifest]:
        """The backup's generations, newest first (read once per pass)."""
        if self._manifests is None:
            assert self.backup is not None
            self._manifests = manifests(self.backup, self.archive)
        return self._manifests

    def _record(self, report: ScrubReport, location: InstanceLocation, copy: str,
                problem: Problem, source: str | None) -> None:
        report.findings.append(Finding(location.blob_name, copy, problem, source))
        self.record_finding(location, copy, problem, source)

    def record_finding(self, location: InstanceLocation, copy: str, problem: Problem,
                       source: str | None) -> None:
        """Log a damaged copy and record it (and its repair) in the ledger."""
        log.warning("scrub: %s copy of blob %s: %s%s", copy, location.blob_name, problem.value,
                    f"; repaired from {source}" if source else "; NOT repaired")
        ids = {"study": location.study_instance_uid, "series": location.series_instance_uid,
               "sop": location.sop_instance_uid}
        self.archive.record_event(self.ctx, EventType.BLOB_DAMAGED, **ids,
                                  details={"problem": problem.value, "copy": copy})
        if source is not None:
            self.archive.record_event(self.ctx, EventType.BLOB_REPAIRED, **ids,
                                      details={"copy": copy, "source": source})

    def _queued_for_replica(self) -> set[str]:
        if self.replica is None:
            return set()
        with self.archive.engine.connect() as conn:
            return set(conn.execute(sa.select(replication_queue.c.blob_name)).scalars())

    def _orphans(self) -> list[str]:
        return unindexed_blobs(self.archive, self.primary, ORPHAN_GRACE_SECONDS)


def unindexed_blobs(archive: Archive, store: BlobStore, grace_seconds: float) -> list[str]:
    """Blobs in ``store`` no index row refers to, committed more than ``grace_seconds`` ago."""
    with archive.engine.connect() as conn:
        indexed = set(conn.execute(sa.select(instances.c.blob_name)).scalars())
    cutoff = time.time() - grace_seconds
    found = []
    for name in store.names():
        if name in indexed:
            continue
        try:
            if store.committed_at(name) <= cutoff:
                found.append(name)
        except IntegrityError:
            continue  # deleted meanwhile
    return found


class ScrubDaemon(Daemon):
    """The scheduled scrub (``scrub_interval_hours``), repairing from replica or backup.

    A full pass reads every blob, so it must not start again at every
    restart: the time the last pass completed is kept in
    ``<data_dir>/scrub.last``, and the job wakes at most hourly to see
    whether a pass is due.
    """

    name = "scrub"

    def __init__(self, archive: Archive, period_seconds: float) -> None:
        super().__init__(min(period_seconds, 3600.0))
        self.archive = archive
        self.period_seconds = period_seconds
        self._state = scrub_state_file(archive)

    def _last_completed(self) -> float:
        return last_scrub(self._state) or 0.0

    def run_once(self) -> None:
        if time.time() - self._last_completed() < self.period_seconds:
            return
        target = self.archive.settings.backup_target
        backup = open_target(target, self.archive.settings) if target else None
        report = Scrubber(self.archive, backup=backup).run()
        self._state.write_text(f"{time.time():.0f}\n", encoding="ascii")
        log.info("scrub: %d instances checked, %d damaged copies, %d repaired, %d orphans",
                 report.checked, report.damaged, report.repaired, len(report.orphans))


def scrub_state_file(archive: Archive) -> Path:
    """Where the scheduled scrub notes when its last pass completed (POSIX seconds)."""
    return archive.settings.data_dir / "scrub.last"


def last_scrub(state: Path) -> float | None:
    """When the last scheduled scrub completed (POSIX seconds), None if never."""
    try:
        return float(state.read_text(encoding="ascii"))
    except (FileNotFoundError, ValueError):
        return None
