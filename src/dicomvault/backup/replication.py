"""Asynchronous replication: the queue in the index database and the job that drains it.

:class:`DatabaseReplicationQueue` is the durable queue behind
:class:`~dicomvault.storage.replicated.ReplicatedBlobStore` in ``async``
mode: an entry is committed before the store that caused it is
acknowledged, so a crash or restart never forgets work.
:class:`ReplicationDaemon` copies queued objects, oldest first, as they are
(sealed) from the primary to the replica, and applies queued deletes. A pass
stops at the first failure of the replica (it is unreachable or full) and
the next pass retries; a queued object the primary no longer has (deleted,
or an orphan that fsck removed) is dropped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from dicomvault.backup.schema import replication_queue
from dicomvault.daemon import Daemon
from dicomvault.errors import DicomVaultError, OutOfResourcesError
from dicomvault.index import write_transaction
from dicomvault.storage.replicated import ReplicaOp, ReplicatedBlobStore, copy_blob

log = logging.getLogger(__name__)

_BATCH = 200


class DatabaseReplicationQueue:
    """Replication work as rows of ``replication_queue`` (see the module docstring)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def enqueue(self, name: str, op: ReplicaOp) -> None:
        try:
            with write_transaction(self.engine) as conn:
                conn.execute(sa.insert(replication_queue).values(
                    blob_name=name, op=op.value, attempts=0, enqueued_at=datetime.now(UTC)))
        except sa.exc.OperationalError as exc:
            raise OutOfResourcesError(
                "the index database is unavailable (replication queue); retry later") from exc

    def pending(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(
                sa.select(sa.func.count()).select_from(replication_queue)).scalar_one())

    def oldest(self, limit: int) -> list[tuple[int, str, ReplicaOp]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(replication_queue.c.id, replication_queue.c.blob_name,
                          replication_queue.c.op)
                .order_by(replication_queue.c.id).limit(limit))
            return [(int(r.id), r.blob_name, ReplicaOp(r.op)) for r in rows]

    def done(self, entry_id: int) -> None:
        with write_transaction(self.engine) as conn:
            conn.execute(sa.delete(replication_queue).where(replication_queue.c.id == entry_id))

    def failed(self, entry_id: int) -> None:
        with write_transaction(self.engine) as conn:
            conn.execute(sa.update(replication_queue)
                         .where(replication_queue.c.id == entry_id)
                         .values(attempts=replication_queue.c.attempts + 1))


@dataclass(frozen=True, slots=True)
class DrainReport:
    copied: int
    deleted: int
    dropped: int
    remaining: int


def drain(store: ReplicatedBlobStore, queue: DatabaseReplicationQueue,
          *, batch: int = _BATCH) -> DrainReport:
    """Apply queued replication work until the queue is empty or the replica fails."""
    copied = deleted = dropped = 0
    while entries := queue.oldest(batch):
        for entry_id, name, op in entries:
            try:
                if op is ReplicaOp.DELETE:
                    store.replica.delete(name)
                    deleted += 1
                elif store.primary.exists(name):
                    copy_blob(store.primary, store.replica, name)
                    copied += 1
                else:
                    dropped += 1
            except DicomVaultError as exc:
                queue.failed(entry_id)
                log.warning("replication paused: %s", exc.message)
                return DrainReport(copied, deleted, dropped, queue.pending())
            queue.done(entry_id)
    return DrainReport(copied, deleted, dropped, 0)


class ReplicationDaemon(Daemon):
    """Drains the replication queue in the background (``replication_interval_seconds``)."""

    name = "replication"

    def __init__(self, store: ReplicatedBlobStore, queue: DatabaseReplicationQueue,
                 interval_seconds: float) -> None:
        super().__init__(interval_seconds)
        self.store = store
        self.queue = queue

    def run_once(self) -> None:
        report = drain(self.store, self.queue)
        if report.copied or report.deleted or report.remaining:
            log.info("replication: %d copied, %d deleted, %d dropped, %d waiting",
                     report.copied, report.deleted, report.dropped, report.remaining)
