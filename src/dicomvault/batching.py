"""Group commit: instances staged by many concurrent callers, indexed in few transactions.

Each caller (a DIMSE association, one instance at a time) stages its
instance itself: sealing, hashing and the durable blob write run in parallel
in the callers' threads. Committing, though, costs a database transaction
and its flush per commit; under concurrent load :class:`GroupCommitter`
makes one caller the *leader*, which commits every instance queued at that
moment in one :meth:`Archive.commit` (one transaction for index rows and
ledger entries), while the others wait for their result. A caller returns
only when the transaction holding its instance has committed: nothing is
acknowledged before it is durable. Alone, a caller commits its own instance
at once (no added latency).

Instances of different request contexts (callers) commit in separate
transactions of the same round, since :meth:`Archive.commit` records one
context per batch.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from dicomvault.access import Permission, RequestContext
from dicomvault.archive import Archive, StoreFailure, StoreResult
from dicomvault.errors import DicomVaultError
from dicomvault.ingest import StagedInstance


@dataclass(eq=False)
class _Waiting:
    staged: StagedInstance
    ctx: RequestContext
    done: bool = False
    outcome: StoreResult | StoreFailure | None = None


class GroupCommitter:
    """Stores Part 10 files through ``archive``, committing concurrent ones together."""

    def __init__(self, archive: Archive, *, max_batch: int = 64) -> None:
        self._archive = archive
        self._max_batch = max_batch
        self._changed = threading.Condition()
        self._queue: list[_Waiting] = []
        self._leading = False

    def store(self, data: bytes, ctx: RequestContext) -> StoreResult:
        """Stage and commit one file; raises the DicomVaultError that refused it."""
        self._archive.authorize(ctx, Permission.STORE)  # before writing anything
        upload = self._archive.begin_upload()
        try:
            upload.write(data)
            # The blob flushes while the header is parsed and the index statements run;
            # Archive.commit waits for it before its transaction commits.
            staged = upload.finish(in_background=True)
        except BaseException:
            upload.abort()
            raise
        outcome = self.commit(staged, ctx)
        if isinstance(outcome, StoreFailure):
            raise outcome.error
        return outcome

    def commit(self, staged: StagedInstance, ctx: RequestContext) -> StoreResult | StoreFailure:
        """Commit ``staged`` (alone or with others); returns once its transaction ended."""
        mine = _Waiting(staged, ctx)
        with self._changed:
            self._queue.append(mine)
        while True:
            with self._changed:
                while not mine.done and self._leading:
                    self._changed.wait()
                if mine.done:
                    assert mine.outcome is not None
                    return mine.outcome
                self._leading = True
                batch = self._queue[:self._max_batch]
                del self._queue[:self._max_batch]
            try:
                self._commit_round(batch)
            finally:
                with self._changed:
                    self._leading = False
                    self._changed.notify_all()

    def _commit_round(self, batch: list[_Waiting]) -> None:
        by_ctx: dict[RequestContext, list[_Waiting]] = {}
        for waiting in batch:
            by_ctx.setdefault(waiting.ctx, []).append(waiting)
        for ctx, group in by_ctx.items():
            try:
                results, failures = self._archive.commit([w.staged for w in group], ctx)
            except DicomVaultError as exc:
                for waiting in group:
                    waiting.outcome = StoreFailure(waiting.staged.sop_class_uid,
                                                   waiting.staged.sop_instance_uid, exc)
            except BaseException as exc:
                error = DicomVaultError(f"commit failed: {type(exc).__name__}")
                for waiting in group:
                    waiting.outcome = StoreFailure(waiting.staged.sop_class_uid,
                                                   waiting.staged.sop_instance_uid, error)
                raise
            else:
                _assign(group, results, failures)
            finally:
                for waiting in group:
                    waiting.done = True


def _assign(group: list[_Waiting], results: list[StoreResult],
            failures: list[StoreFailure]) -> None:
    """Give each waiter its own outcome (a SOP Instance UID sent twice in one round gets
    the outcomes in order)."""
    pending: dict[str, list[StoreResult | StoreFailure]] = {}
    every: list[StoreResult | StoreFailure] = [*results, *failures]
    for outcome in every:
        pending.setdefault(outcome.sop_instance_uid, []).append(outcome)
    for waiting in group:
        outcomes = pending.get(waiting.staged.sop_instance_uid)
        if outcomes:
            waiting.outcome = outcomes.pop(0)
        else:
            waiting.outcome = StoreFailure(waiting.staged.sop_class_uid,
                                           waiting.staged.sop_instance_uid,
                                           DicomVaultError("instance lost in the batch"))

