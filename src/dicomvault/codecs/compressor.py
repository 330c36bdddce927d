"""Applying the storage policy to archived instances: on ingest, by command, in the background.

Three ways in, one step (:func:`compress_instance`):

* on ingest, right after a store committed, for instances whose rule says
  ``when = "ingest"`` (:func:`compress_on_ingest`, called by the Archive);
* ``dicomvault compress --since ...`` (:func:`compress_pending`): every
  instance still held as received, resumable (each instance looked at gets a
  ``codec_state``, so a rerun continues where an interrupted one stopped);
* :class:`CompressionDaemon`, the background worker of ``dicomvault
  serve``: the same passes, only while nothing is being stored (ingest
  keeps its full speed) and at a lower CPU priority.

The step reads the verified original, asks :func:`compress_original` for a
proven copy and lets :meth:`Archive.replace_stored` swap the blob; a failed
proof keeps the original and is recorded in the ledger.
"""

from __future__ import annotations

import enum
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from dicomvault.access import Door, RequestContext, system_context
from dicomvault.codecs.compress import Refusal, compress_original
from dicomvault.codecs.original import SPLITTABLE
from dicomvault.codecs.syntaxes import syntax_label
from dicomvault.daemon import Daemon
from dicomvault.errors import DicomVaultError
from dicomvault.index.stored import CodecState

if TYPE_CHECKING:
    from dicomvault.archive import Archive, InstanceLocation
    from dicomvault.ingest import StagedInstance

log = logging.getLogger(__name__)

#: Instances fetched from the index per query while walking the candidates.
_BATCH = 50
#: Nice value of the background compressor's thread (Linux: per thread).
_BACKGROUND_NICENESS = 10


class Outcome(enum.StrEnum):
    """What happened to one instance."""

    COMPRESSED = "compressed"
    KEPT = "kept"  # cannot be compressed and rebuilt exactly: kept as received
    MISMATCH = "mismatch"  # the proof failed: kept as received, recorded in the ledger
    POLICY_KEEPS = "policy-keeps"  # the storage policy keeps this kind as received
    GONE = "gone"  # deleted or replaced while it was being compressed
    FAILED = "failed"  # an error (storage, keys); left as it was, retried next time


@dataclass
class CompressionReport:
    """What a pass did: counts per outcome, bytes before and after, where it stopped."""

    outcomes: dict[Outcome, int] = field(default_factory=dict)
    original_bytes: int = 0
    stored_bytes: int = 0
    last_pk: int = 0
    seconds: float = 0.0

    def count(self, outcome: Outcome) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    @property
    def looked_at(self) -> int:
        return sum(self.outcomes.values())


def compress_instance(archive: Archive, ctx: RequestContext, location: InstanceLocation,
                      target: str) -> tuple[Outcome, int]:
    """Compress one instance to ``target`` if it can be proven lossless; returns the
    outcome and the bytes the blob now holds."""
    original = archive.read_instance(location)
    result = compress_original(original, target,
                               kept_header=archive.read_header_bytes(location),
                               original_sha256=location.sha256)
    if isinstance(result, Refusal):
        state = CodecState.MISMATCH if result.mismatch else CodecState.KEPT
        if result.mismatch:
            log.warning("compression to %s refused for blob %s: %s; original kept",
                        syntax_label(target), location.blob_name, result.reason)
        archive.keep_as_received(ctx, location, state, target=target, reason=result.reason)
        return (Outcome.MISMATCH if result.mismatch else Outcome.KEPT), location.size
    if not archive.replace_stored(ctx, location, result):
        return Outcome.GONE, location.size
    return Outcome.COMPRESSED, result.size


def compress_on_ingest(archive: Archive, stored: Sequence[StagedInstance],
                       ctx: RequestContext) -> None:
    """Compress what was just stored where the policy says ``when = "ingest"``."""
    from dicomvault.archive import InstanceLocation  # the Archive imports this module
    for item in stored:
        decision = archive.storage_policy.decide(item.parsed.series.Modality, item.sop_class_uid)
        if decision.target is None or not decision.compresses_on_ingest \
                or item.parsed.instance.TransferSyntaxUID not in SPLITTABLE:
            continue
        try:
            compress_instance(archive, ctx, InstanceLocation.of_staged(item), decision.target)
        except DicomVaultError as exc:
            log.warning("compression on ingest failed (%s); the original is kept and will be "
                        "retried by the background compressor", exc.message)


def compress_pending(archive: Archive, ctx: RequestContext, *, since: datetime | None = None,
                     syntax: str | None = None, after_pk: int = 0, limit: int | None = None,
                     progress: Callable[[Outcome, int, int], None] | None = None,
                     should_stop: Callable[[], bool] | None = None) -> CompressionReport:
    """Compress instances still held as received, in index order (see the module docstring).

    ``syntax`` overrides the policy's target for every instance; ``limit``
    bounds how many are compressed; ``progress`` is told each outcome with
    the original and stored sizes; ``should_stop`` is asked between
    instances. Returns where the pass stopped (``last_pk``) to continue from.
    """
    report = CompressionReport(last_pk=after_pk)
    started = time.monotonic()
    while limit is None or report.outcomes.get(Outcome.COMPRESSED, 0) < limit:
        batch = archive.compression_candidates(sorted(SPLITTABLE), after_pk=report.last_pk,
                                               since=since, limit=_BATCH)
        if not batch:
            break
        for candidate, location in batch:
            if should_stop is not None and should_stop():
                report.seconds = time.monotonic() - started
                return report
            target = syntax or archive.storage_policy.decide(
                candidate.modality, location.sop_class_uid).target
            outcome, stored = _one(archive, ctx, location, target)
            report.count(outcome)
            report.last_pk = candidate.pk
            report.original_bytes += location.size
            report.stored_bytes += stored
            if progress is not None:
                progress(outcome, location.size, stored)
            if limit is not None and report.outcomes.get(Outcome.COMPRESSED, 0) >= limit:
                break
    report.seconds = time.monotonic() - started
    return report


def _one(archive: Archive, ctx: RequestContext, location: InstanceLocation,
         target: str | None) -> tuple[Outcome, int]:
    if target is None:
        return Outcome.POLICY_KEEPS, location.size
    try:
        return compress_instance(archive, ctx, location, target)
    except DicomVaultError as exc:
        log.warning("compressing blob %s failed: %s; left as it is", location.blob_name,
                    exc.message)
        return Outcome.FAILED, location.size


class CompressionDaemon(Daemon):
    """The background compressor: passes of :func:`compress_pending` while ingest is idle.

    It runs only when nothing has been stored for ``idle_seconds`` and stops
    a pass as soon as a store arrives, so compression never competes with
    STOW-RS or C-STORE for the CPU; its thread also runs at a lower priority.
    It keeps a cursor in the index so that instances the policy keeps are
    not walked again on every pass.
    """

    name = "compress"

    def __init__(self, archive: Archive, *, interval_seconds: float, idle_seconds: float,
                 per_pass: int = 500) -> None:
        super().__init__(interval_seconds)
        self.archive = archive
        self.idle = timedelta(seconds=idle_seconds)
        self.per_pass = per_pass
        self.cursor = 0
        self._ctx = system_context(Door.SYSTEM, actor="compressor")
        self._lowered = False

    def _ingest_active(self) -> bool:
        last = self.archive.last_stored_at()
        if last is None:
            return False
        if last.tzinfo is None:  # SQLite keeps the local wall-clock time, naive
            last = last.astimezone()
        return datetime.now(UTC) - last < self.idle

    def _lower_priority(self) -> None:
        if not self._lowered and hasattr(os, "setpriority"):
            try:
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), _BACKGROUND_NICENESS)
            except OSError:
                log.debug("could not lower the compressor thread's priority")
            self._lowered = True

    def run_once(self) -> None:
        if self._ingest_active():
            return
        self._lower_priority()
        report = compress_pending(self.archive, self._ctx, after_pk=self.cursor,
                                  limit=self.per_pass, should_stop=self._ingest_active)
        self.cursor = report.last_pk
        if report.looked_at:
            log.info("background compression: %d instances looked at, %d compressed, "
                     "%.1f MB -> %.1f MB", report.looked_at,
                     report.outcomes.get(Outcome.COMPRESSED, 0),
                     report.original_bytes / 1e6, report.stored_bytes / 1e6)


def background_jobs(archive: Archive) -> list[Daemon]:
    """The compressor, when the storage policy leaves anything to the background."""
    if not archive.storage_policy.uses_background:
        return []
    settings = archive.settings
    return [CompressionDaemon(archive, interval_seconds=settings.compression_interval_seconds,
                              idle_seconds=settings.compression_idle_seconds)]
