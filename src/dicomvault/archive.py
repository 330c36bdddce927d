"""The Archive service: the one place that orchestrates store, find, retrieve and delete.

Every door (DICOMweb, DIMSE, CLI, UI) turns its protocol into calls on
:class:`Archive` and results back into its protocol; no door touches the
database, the blob store or the keys directly.

Order of a store (ARCHITECTURE.md "Ingest, step by step"):

1. :meth:`Archive.begin_upload` streams the bytes into a sealed (AES-256-GCM)
   blob under a random name while keeping the header;
2. ``upload.finish()`` validates the header and makes the blob durable (or, for
   DIMSE, starts making it durable in the background; step 3 waits for it);
3. :meth:`Archive.commit` indexes a batch of staged instances and appends
   their ledger events in ONE database transaction, applying the duplicate
   policy. Only when it returns is anything acknowledged. If the transaction
   fails, the batch's new blobs are deleted; a crash between steps 2 and 3
   leaves only unreferenced blobs, which ``fsck`` removes.

Retrieval is the mirror: look up, unwrap the data key, read and authenticate
the sealed blob segment by segment, check the SHA-256 recorded at ingest, and
record the access in the ledger.

Access control happens HERE, once for every door (docs/security.md): each
operation asks :class:`~dicomvault.access.AccessPolicy` whether the context's
principal holds the permission (store, search, retrieve, delete, manage keys)
and within which study scope. Searches are filtered by the scope in the one
matching engine; retrieves and deletes of an out-of-scope study are refused
(403 / 0xA801) unless the glass is broken, which is recorded. Deleting a whole
study shreds its key (:mod:`dicomvault.keys.hierarchy`); deleting part of one
re-keys the rest, so no copy of the deleted part decrypts any more.

Lossless compression (``dicomvault.codecs``, docs/codecs.md): the storage
policy may replace a native instance's blob by a compressed copy, on ingest
or later (:meth:`Archive.replace_stored`). The instance keeps its identity:
:meth:`Archive.stream_instance` still returns the acknowledged file, rebuilt
byte for byte and checked against the SHA-256 in the index and the ledger;
:meth:`Archive.stream_stored` returns the compressed copy itself.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from pydicom.dataset import Dataset

from dicomvault.access import AccessPolicy, Permission, Principal, RequestContext
from dicomvault.access.policy import ScopeDecision
from dicomvault.access.schema import break_glass_log
from dicomvault.audit import AuditTrail
from dicomvault.codecs import ByteCache, CompressedCopy, OriginalLayout, StoragePolicy
from dicomvault.codecs.compressor import compress_on_ingest
from dicomvault.codecs.original import restore_original
from dicomvault.codecs.retrieve import prefetch_pool
from dicomvault.config import DuplicatePolicy, Settings
from dicomvault.dicom.header import load_header
from dicomvault.errors import (
    DicomVaultError,
    DuplicateInstanceError,
    IntegrityError,
    InvalidInputError,
    KeyUnavailableError,
    NotFoundError,
    OutOfResourcesError,
    PermissionDeniedError,
    StudyMismatchError,
)
from dicomvault.index import (
    Query,
    QueryLevel,
    ResultRow,
    StudyScope,
    count_query,
    database_reachable,
    delete_instances,
    existing_content_hashes,
    insert_instances,
    instances_of,
    replace_instance,
    run_query,
    study_in_scope,
    write_transaction,
)
from dicomvault.index.stored import (
    Candidate,
    CodecState,
    StorageFigures,
    StoredRepresentation,
    compression_candidates,
    count_candidates,
    last_stored_at,
    mark_codec_state,
    replace_representation,
    storage_figures,
)
from dicomvault.ingest import InstanceUpload, StagedInstance, blob_commit_pool
from dicomvault.keys import (
    KeyProvider,
    RotationProgress,
    StudyKeys,
    new_data_key,
    parse_key_ref,
    rewrap_key,
)
from dicomvault.keys.rotation import ProgressCallback, rotate_keys
from dicomvault.keys.schema import key_rotations, study_keys
from dicomvault.ledger import EventType
from dicomvault.storage import (
    BlobStore,
    SealingWriter,
    new_blob_name,
    open_bytes,
    open_sealed,
    open_sealed_into,
    seal_bytes,
)

if TYPE_CHECKING:
    from dicomvault.access.service import AccessService

log = logging.getLogger(__name__)


class StoreOutcome(enum.StrEnum):
    """How a store ended for one instance that was accepted."""

    STORED = "stored"
    REPLACED = "replaced"
    ALREADY_STORED = "already-stored"  # identical bytes were archived before
    DUPLICATE_IGNORED = "duplicate-ignored"  # different bytes, archived copy kept (warning)


@dataclass(frozen=True, slots=True)
class StoreResult:
    sop_class_uid: str
    sop_instance_uid: str
    study_instance_uid: str
    series_instance_uid: str
    outcome: StoreOutcome

    @property
    def is_warning(self) -> bool:
        return self.outcome is StoreOutcome.DUPLICATE_IGNORED


@dataclass(frozen=True, slots=True)
class StoreFailure:
    """An instance of a batch that was refused, with the error that says why."""

    sop_class_uid: str
    sop_instance_uid: str
    error: DicomVaultError


@dataclass(frozen=True, slots=True)
class InstanceLocation:
    """An archived instance as the index knows it: enough to read and describe it."""

    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax_uid: str
    number_of_frames: int | None
    blob_name: str
    size: int
    sha256: str
    kek_id: str
    wrapped_key: bytes
    sealed_header: bytes
    # -- codecs: set when the blob holds a compressed copy (see the module docstring).
    stored_transfer_syntax_uid: str | None = None
    stored_size: int | None = None
    stored_sha256: str | None = None
    sealed_layout: bytes | None = None

    @property
    def is_compressed_copy(self) -> bool:
        """Whether the blob holds a compressed copy rather than the file as received."""
        return self.stored_transfer_syntax_uid is not None

    @property
    def blob_transfer_syntax_uid(self) -> str:
        """The transfer syntax of the bytes in the blob (:meth:`Archive.stream_stored`)."""
        return self.stored_transfer_syntax_uid or self.transfer_syntax_uid

    @classmethod
    def of_staged(cls, item: StagedInstance) -> InstanceLocation:
        """The location of an instance just committed as received (no index read)."""
        return cls(
            study_instance_uid=item.parsed.study.StudyInstanceUID,
            series_instance_uid=item.parsed.series.SeriesInstanceUID,
            sop_instance_uid=item.sop_instance_uid,
            sop_class_uid=item.sop_class_uid,
            transfer_syntax_uid=item.parsed.instance.TransferSyntaxUID,
            number_of_frames=item.parsed.instance.NumberOfFrames,
            blob_name=item.stored.blob_name,
            size=item.stored.size,
            sha256=item.stored.sha256,
            kek_id=item.stored.kek_id,
            wrapped_key=item.stored.wrapped_key,
            sealed_header=item.stored.sealed_header,
        )

    @classmethod
    def from_row(cls, row: Any) -> InstanceLocation:
        return cls(
            study_instance_uid=row.StudyInstanceUID,
            series_instance_uid=row.SeriesInstanceUID,
            sop_instance_uid=row.SOPInstanceUID,
            sop_class_uid=row.SOPClassUID,
            transfer_syntax_uid=row.TransferSyntaxUID,
            number_of_frames=row.NumberOfFrames,
            blob_name=row.blob_name,
            size=row.size,
            sha256=row.sha256,
            kek_id=row.kek_id,
            wrapped_key=bytes(row.wrapped_key),
            sealed_header=bytes(row.sealed_header),
            stored_transfer_syntax_uid=row.stored_transfer_syntax,
            stored_size=row.stored_size,
            stored_sha256=row.stored_sha256,
            sealed_layout=None if row.sealed_layout is None else bytes(row.sealed_layout),
        )


class Archive:
    """Store, find, retrieve and delete instances; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        engine: sa.Engine,
        keys: KeyProvider,
        blobs: BlobStore,
        audit: AuditTrail,
        *,
        policy: AccessPolicy | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.keys = keys
        self.blobs = blobs
        self.audit = audit
        self.policy = policy or AccessPolicy(settings.dimse_ae_roles)
        self.study_keys = StudyKeys(engine, keys)
        #: Accounts, tokens and logins (set by :func:`dicomvault.node.open_archive`).
        self.access: AccessService | None = None
        self.storage_policy = StoragePolicy.from_settings(settings)
        self.codec_cache = ByteCache(settings.transcode_cache_bytes)
        #: Threads that decrypt (and decode) instances ahead of a retrieve's response.
        self.prefetch_pool = prefetch_pool()
        #: Threads that make staged blobs durable while a door goes on receiving.
        self.blob_commits = blob_commit_pool()

    def close(self) -> None:
        """Stop the node's worker threads once what they were given is done, and close the
        database's connections. Called when a server stops; a one-shot command may skip it
        (the threads end with the process)."""
        self.blob_commits.shutdown(wait=True)
        self.prefetch_pool.shutdown(wait=True, cancel_futures=True)
        self.engine.dispose()

    # -- access ----------------------------------------------------------------

    def authorize(self, ctx: RequestContext, permission: Permission) -> Principal:
        """Refuse early (PermissionDeniedError) what ``ctx`` may not do at all.

        Every operation checks again itself; doors call this before reading a
        request body so that a refused STOW-RS is not received first.
        """
        return self.policy.require(ctx, permission)

    def _break_glass(self, conn: sa.Connection, ctx: RequestContext, operation: str,
                     study: str | None) -> None:
        """Record emergency access: a flagged ledger event (reason hashed: it may hold
        PHI) and the reason itself in ``break_glass_log`` for the auditors."""
        reason = (ctx.break_glass_reason or "").strip()
        digest = hashlib.sha256(reason.encode("utf-8")).hexdigest()
        self.audit.record(conn, ctx, EventType.BREAK_GLASS, study=study, details={
            "operation": operation, "reason_sha256": digest, "break_glass": True})
        subject = self.audit.ledger.identifiers.hash("study", study) if study else ""
        conn.execute(break_glass_log.insert().values(
            actor=ctx.actor[:128], door=ctx.door.value, client=ctx.client_address[:64],
            operation=operation, study_subject=subject, reason=reason,
            at=datetime.now(UTC)))
        log.warning("break-the-glass %s by %s", operation, ctx.actor)

    def _check_study(self, conn: sa.Connection, ctx: RequestContext, decision: ScopeDecision,
                     study_uid: str, operation: str) -> None:
        """Refuse an out-of-scope study (unless the glass is broken, then record it)."""
        scope = decision.principal.scope
        if scope.unrestricted:
            return
        visible = study_in_scope(conn, study_uid, scope)
        if visible is None or visible:
            return
        if not decision.break_glass:
            raise PermissionDeniedError(
                "this study is outside the account's scope (a clinician may give a "
                "break-the-glass reason)")
        self._break_glass(conn, ctx, operation, study_uid)

    # -- store -----------------------------------------------------------------

    def begin_upload(self) -> InstanceUpload:
        """Start receiving one instance (see :class:`InstanceUpload`)."""
        return InstanceUpload(self.blobs, self.study_keys,
                              max_bytes=self.settings.max_part_bytes, commits=self.blob_commits)

    def store_bytes(self, data: bytes, ctx: RequestContext) -> StoreResult:
        """Store one complete Part 10 file held in memory (CLI import, DIMSE)."""
        upload = self.begin_upload()
        upload.write(data)
        staged = upload.finish()
        results, failures = self.commit([staged], ctx)
        if failures:
            raise failures[0].error
        return results[0]

    def store_many(
        self,
        sources: Iterable[tuple[str, Iterable[bytes]]],
        ctx: RequestContext,
        *,
        batch_size: int = 50,
    ) -> Iterator[tuple[str, StoreResult | StoreFailure]]:
        """Store many files, committing them in batches (one transaction per batch).

        ``sources`` yields a label (for the caller's report) and the file's
        chunks. Results come back per label once its batch is committed.
        """
        pending: list[tuple[str, StagedInstance]] = []
        for label, chunks in sources:
            upload = self.begin_upload()
            try:
                for chunk in chunks:
                    upload.write(chunk)
                pending.append((label, upload.finish()))
            except DicomVaultError as exc:
                upload.abort()
                yield label, StoreFailure("", "", exc)
            if len(pending) >= batch_size:
                yield from self._commit_labelled(pending, ctx)
                pending = []
        if pending:
            yield from self._commit_labelled(pending, ctx)

    def _commit_labelled(
        self, pending: list[tuple[str, StagedInstance]], ctx: RequestContext
    ) -> Iterator[tuple[str, StoreResult | StoreFailure]]:
        results, failures = self.commit([staged for _, staged in pending], ctx)
        by_uid: dict[str, StoreResult | StoreFailure] = {r.sop_instance_uid: r for r in results}
        by_uid.update({f.sop_instance_uid: f for f in failures})
        for label, staged in pending:
            yield label, by_uid[staged.sop_instance_uid]

    def commit(
        self,
        staged: Sequence[StagedInstance],
        ctx: RequestContext,
        *,
        expected_study_uid: str | None = None,
    ) -> tuple[list[StoreResult], list[StoreFailure]]:
        """Index a batch of staged instances in one transaction (group commit).

        Instances refused by the duplicate policy or the study constraint are
        returned as failures and their blobs removed; the rest are committed
        together with their ledger events, or not at all.
        """
        try:
            principal = self.policy.require(ctx, Permission.STORE)
        except PermissionDeniedError:
            self.discard(staged)
            raise
        accepted: list[StagedInstance] = []
        failures: list[StoreFailure] = []
        for item in staged:
            study = item.parsed.study
            if expected_study_uid and study.StudyInstanceUID != expected_study_uid:
                failures.append(_failure(item, StudyMismatchError(
                    "instance belongs to another study than the one in the request URL"
                )))
                self.discard([item])
            elif not principal.scope.allows(study.InstitutionName,
                                            study.InstitutionalDepartmentName,
                                            study.ReferringPhysicianName):
                failures.append(_failure(item, PermissionDeniedError(
                    "this account may not store studies outside its scope")))
                self.discard([item])
            else:
                accepted.append(item)
        obsolete_blobs: list[str] = []
        to_insert: list[StagedInstance] = []
        try:
            with database_reachable(), write_transaction(self.engine) as conn:
                accepted = self._with_current_keys(conn, accepted, failures)
                to_insert, results, dup_failures, replaced = self._apply_duplicate_policy(
                    conn, accepted
                )
                failures.extend(dup_failures)
                insert_instances(
                    conn, [s.record() for s in to_insert if s.sop_instance_uid not in replaced]
                )
                for item in to_insert:
                    if item.sop_instance_uid in replaced:
                        old = replace_instance(conn, item.record())
                        if old is not None:
                            obsolete_blobs.append(old.blob_name)
                self.audit.instances_stored(conn, ctx, to_insert, replaced)
                # Blobs committing in the background (DIMSE) were flushing to disk while
                # the statements above ran; none is indexed before it is durable.
                for item in to_insert:
                    item.wait_durable()
        except DicomVaultError:
            self.discard(accepted)
            raise
        for name in obsolete_blobs:
            self.blobs.delete(name)
        kept = {s.stored.blob_name for s in to_insert}
        self.discard([s for s in accepted if s.stored.blob_name not in kept])
        self._compress_on_ingest(to_insert, ctx)
        return results, failures

    def _with_current_keys(self, conn: sa.Connection, staged: list[StagedInstance],
                           failures: list[StoreFailure]) -> list[StagedInstance]:
        """Refuse instances whose study was deleted, or whose key version retired, while
        they were being received (their data key would be unrecoverable)."""
        # One check per (study, key version), not per instance: the provider reads it afresh.
        bad = self.study_keys.unusable(conn, dict.fromkeys(
            (s.parsed.study.StudyInstanceUID, s.stored.kek_id) for s in staged))
        if not bad:
            return staged
        kept = []
        for item in staged:
            if item.parsed.study.StudyInstanceUID in bad:
                failures.append(_failure(item, OutOfResourcesError(
                    "the study's key changed while storing (deleted or rotated); retry")))
                self.discard([item])
            else:
                kept.append(item)
        return kept

    def _compress_on_ingest(self, stored: Sequence[StagedInstance], ctx: RequestContext) -> None:
        """Apply an ``ingest`` storage policy to what was just committed (ARCHITECTURE.md
        "Ingest" step 3). The store stands whatever happens here; a failure leaves the
        original, which the background compressor or ``dicomvault compress`` retries."""
        compress_on_ingest(self, stored, ctx)

    def _apply_duplicate_policy(
        self, conn: sa.Connection, staged: Sequence[StagedInstance]
    ) -> tuple[list[StagedInstance], list[StoreResult], list[StoreFailure], set[str]]:
        policy = self.settings.duplicate_policy
        existing = {
            uid: sha256
            for uid, (_, sha256) in existing_content_hashes(
                conn, [s.sop_instance_uid for s in staged]
            ).items()
        }
        to_insert: list[StagedInstance] = []
        results: list[StoreResult] = []
        failures: list[StoreFailure] = []
        replaced: set[str] = set()
        seen_in_batch: dict[str, str] = {}
        for item in staged:
            uid = item.sop_instance_uid
            previous_hash = existing.get(uid, seen_in_batch.get(uid))
            if previous_hash is None:
                to_insert.append(item)
                seen_in_batch[uid] = item.stored.sha256
                results.append(_result(item, StoreOutcome.STORED))
            elif previous_hash == item.stored.sha256:
                results.append(_result(item, StoreOutcome.ALREADY_STORED))
            elif policy is DuplicatePolicy.REJECT:
                failures.append(_failure(item, DuplicateInstanceError(
                    "an instance with this SOP Instance UID is already archived"
                )))
            elif policy is DuplicatePolicy.REPLACE and uid in existing and uid not in replaced:
                to_insert.append(item)
                replaced.add(uid)
                results.append(_result(item, StoreOutcome.REPLACED))
            else:
                results.append(_result(item, StoreOutcome.DUPLICATE_IGNORED))
        return to_insert, results, failures, replaced

    def discard(self, staged: Sequence[StagedInstance]) -> None:
        """Delete the blobs of staged instances that will not be committed (a door whose
        request failed half-way); waits for a blob still committing in the background."""
        for item in staged:
            try:
                item.wait_durable()  # a background commit must not publish it after the delete
            except DicomVaultError:
                continue  # the failed commit left nothing
            self.blobs.delete(item.stored.blob_name)

    def record_event(self, ctx: RequestContext, kind: EventType, *,
                     study: str | None = None, series: str | None = None,
                     sop: str | None = None, patient: str | None = None,
                     details: dict[str, str | int | bool] | None = None) -> None:
        """Record an event that is not part of a store/retrieve/delete, in its own transaction."""
        with database_reachable(), write_transaction(self.engine) as conn:
            self.audit.record(conn, ctx, kind, study=study, series=series, sop=sop,
                              patient=patient, details=details)

    def record_export(self, ctx: RequestContext, locations: Sequence[InstanceLocation],
                      destination: str) -> None:
        """Record that ``locations`` are being released outside the archive (as files...).

        Recorded before the bytes leave: an export that fails half-way is
        over-reported, never hidden.
        """
        with write_transaction(self.engine) as conn:
            self.audit.instances_exported(conn, ctx, locations, destination)

    # -- find ------------------------------------------------------------------

    def find(self, query: Query, ctx: RequestContext) -> list[ResultRow]:
        """Match the index (the one engine behind QIDO-RS and C-FIND), within the
        principal's study scope: what it may not see is neither returned nor counted.

        The search's ledger event commits without waiting for the disk flush
        unless ``flush_access_events`` is set or the glass is broken.
        """
        decision = self.policy.scope_for(ctx, Permission.SEARCH)
        flush = self.settings.flush_access_events or decision.break_glass
        with database_reachable(), write_transaction(self.engine, flush=flush) as conn:
            rows = run_query(conn, query, decision.scope)
            if decision.break_glass:
                self._break_glass(conn, ctx, "search", query.study_uid)
            self.audit.searched(conn, ctx, query, len(rows))
        return rows

    def count(self, query: Query, ctx: RequestContext | None = None) -> int:
        """How many match (within the scope of ``ctx``'s principal if given)."""
        scope: StudyScope | None = None
        if ctx is not None:
            scope = self.policy.scope_for(ctx, Permission.SEARCH).scope
        with database_reachable(), self.engine.connect() as conn:
            return count_query(conn, query, scope)

    # -- retrieve --------------------------------------------------------------

    def locate(
        self,
        ctx: RequestContext,
        study_uid: str,
        series_uid: str | None = None,
        sop_uid: str | None = None,
        *,
        record_access: bool = True,
        prepare: Callable[[list[InstanceLocation]], object] | None = None,
    ) -> list[InstanceLocation]:
        """Find the instances of a study / series / instance, recording the access.

        Refused (PermissionDeniedError) if the study is outside the principal's
        scope and the glass is not broken. The access's ledger event commits
        without waiting for the disk flush unless ``flush_access_events`` is set
        or the glass is broken.

        ``prepare`` is called with the instances found, before their access is
        recorded: a door may start reading them meanwhile, but releases nothing
        before this returns (the ledger event has then committed; if it raises,
        the door discards what it prepared).
        """
        decision = self.policy.scope_for(ctx, Permission.RETRIEVE)
        flush = self.settings.flush_access_events or decision.break_glass
        with database_reachable(), write_transaction(self.engine, flush=flush) as conn:
            self._check_study(conn, ctx, decision, study_uid, "retrieve")
            rows = instances_of(conn, study_uid, series_uid, sop_uid)
            if not rows:
                level = "instance" if sop_uid else "series" if series_uid else "study"
                raise NotFoundError(f"no such {level} in the archive")
            locations = [InstanceLocation.from_row(row) for row in rows]
            if prepare is not None:
                prepare(locations)
            if record_access:
                self.audit.instances_retrieved(conn, ctx, locations)
        return locations

    def stored_sop_classes(self, sop_instance_uids: Sequence[str]) -> dict[str, str]:
        """SOP Instance UID -> SOP Class UID for those of ``sop_instance_uids`` that are
        archived and committed (blob durable, index row and ledger entry committed).

        Storage Commitment (PS3.4 J) reports success only for these.
        """
        with database_reachable(), self.engine.connect() as conn:
            found = existing_content_hashes(conn, sop_instance_uids)
        return {uid: sop_class for uid, (sop_class, _) in found.items()}

    def _data_key(self, location: InstanceLocation) -> bytes:
        return self.keys.unwrap(location.kek_id, location.wrapped_key)

    def stream_instance(self, location: InstanceLocation) -> Iterator[bytes]:
        """The instance's Part 10 bytes as acknowledged, every segment authenticated
        before release; a compressed copy is decoded back into the original file.

        The content must be the one whose SHA-256 was recorded at ingest, else
        :class:`IntegrityError` (the stream is then cut, never completed): a blob
        bound to that hash proves it with its last tag, any other is hashed again
        (see :mod:`dicomvault.storage.envelope`).
        """
        if location.is_compressed_copy:
            yield from _verified(self._rebuild_original(location), location.size,
                                 location.sha256)
        else:
            yield from self._open_blob(location, location.sha256)

    def _open_blob(self, location: InstanceLocation, content_sha256: str) -> Iterator[bytes]:
        """The blob's plaintext, opened as the content recorded as ``content_sha256``."""
        return open_sealed(self._data_key(location), self.blobs.read(location.blob_name),
                           content_sha256=content_sha256)

    def stream_stored(self, location: InstanceLocation) -> Iterator[bytes]:
        """The blob's own Part 10 bytes (the compressed copy, if there is one), verified.

        Its transfer syntax is :attr:`InstanceLocation.blob_transfer_syntax_uid`.
        """
        if not location.is_compressed_copy:
            yield from self.stream_instance(location)
            return
        yield from self._open_blob(location, _stored_sha256(location))

    def read_stored(self, location: InstanceLocation) -> bytes:
        """The whole verified blob content (see :meth:`stream_stored`)."""
        return b"".join(self.stream_stored(location))

    def read_stored_into(self, location: InstanceLocation, into: memoryview) -> None:
        """The whole verified blob content (:meth:`stream_stored`) decrypted into ``into``,
        exactly its size (``stored_size``, else ``size``): a door puts its framing and
        several instances in one buffer, sent at once, without copying them
        (:func:`~dicomvault.storage.open_sealed_into`). Released only if it verifies."""
        sealed = b"".join(self.blobs.read(location.blob_name))
        open_sealed_into(self._data_key(location), sealed, into,
                         content_sha256=_stored_sha256(location))

    def _rebuild_original(self, location: InstanceLocation) -> Iterator[bytes]:
        layout = self.original_layout(location)
        if layout is None:
            raise IntegrityError("a compressed instance has lost its layout")
        compressed = self.read_stored(location)
        yield from restore_original(self.read_header_bytes(location), layout, compressed)

    def original_layout(self, location: InstanceLocation) -> OriginalLayout | None:
        """How the original is rebuilt from a compressed copy (``None``: the blob is it)."""
        if location.sealed_layout is None:
            return None
        return OriginalLayout.from_bytes(open_bytes(self._data_key(location),
                                                    location.sealed_layout))

    def read_header_bytes(self, location: InstanceLocation) -> bytes:
        """The header's Part 10 bytes as kept at ingest (everything before Pixel Data)."""
        return zlib.decompress(open_bytes(self._data_key(location), location.sealed_header))

    def read_instance(self, location: InstanceLocation) -> bytes:
        """The whole verified Part 10 file (no byte is returned unless all verify)."""
        return b"".join(self.stream_instance(location))

    def read_header(self, location: InstanceLocation) -> Dataset:
        """The instance's header (no pixel data) from the sealed cache in the index."""
        return load_header(open_bytes(self._data_key(location), location.sealed_header))

    # -- storage representation (codecs) -------------------------------------------

    def replace_stored(self, ctx: RequestContext, location: InstanceLocation,
                       copy: CompressedCopy) -> bool:
        """Replace the instance's blob by a proven compressed copy (the worker's step).

        The copy is sealed under a fresh data key and read back before the
        index points at it; the index change and its ``transcoded`` ledger
        event commit together, and only then is the old blob deleted.
        Returns ``False`` (and leaves everything as it was) if the instance
        was deleted or replaced meanwhile.
        """
        try:
            header = open_bytes(self._data_key(location), location.sealed_header)
        except KeyUnavailableError:
            return False  # the study was deleted (its key shredded) meanwhile
        data_key = new_data_key()
        # Under the study's own KEK, as at ingest (crypto-shredding covers the copy too).
        wrapped = self.study_keys.wrap(location.study_instance_uid, data_key)
        blob_name = self._write_blob(data_key, copy.data, copy.sha256)
        new = StoredRepresentation(
            blob_name=blob_name, kek_id=wrapped.kek_id, wrapped_key=wrapped.wrapped,
            sealed_header=seal_bytes(data_key, header),
            sealed_layout=seal_bytes(data_key, copy.layout.to_bytes()),
            transfer_syntax=copy.transfer_syntax, size=copy.size, sha256=copy.sha256,
        )
        try:
            with write_transaction(self.engine) as conn:
                replaced = replace_representation(
                    conn, location.sop_instance_uid, expected_blob=location.blob_name,
                    expected_sha256=location.sha256, new=new)
                if replaced:
                    self.audit.record(conn, ctx, EventType.TRANSCODED, **_subjects(location),
                                      details=_transcoded_details(location, copy))
        except BaseException:
            self.blobs.delete(blob_name)
            raise
        self.blobs.delete(location.blob_name if replaced else blob_name)
        return replaced

    def _write_blob(self, data_key: bytes, data: bytes, sha256: str) -> str:
        """Seal ``data`` into a new durable blob and check it reads back as ``sha256``."""
        writer = self.blobs.begin(new_blob_name())
        try:
            sealer = SealingWriter(data_key, writer.write)
            view = memoryview(data)
            for start in range(0, len(data), _WRITE_CHUNK):
                sealer.write(bytes(view[start:start + _WRITE_CHUNK]))
            sealer.close()
            writer.commit()
        except BaseException:
            writer.abort()
            raise
        try:
            for _ in open_sealed(data_key, self.blobs.read(writer.name), content_sha256=sha256):
                pass
        except BaseException:
            self.blobs.delete(writer.name)
            raise
        return writer.name

    def keep_as_received(self, ctx: RequestContext, location: InstanceLocation,
                         state: CodecState, *, target: str, reason: str) -> None:
        """Remember that the compressor leaves this instance as it is; a failed proof
        (``MISMATCH``) is also recorded in the ledger, in the same transaction."""
        with write_transaction(self.engine) as conn:
            mark_codec_state(conn, location.sop_instance_uid, location.blob_name, state)
            if state is CodecState.MISMATCH:
                self.audit.record(conn, ctx, EventType.TRANSCODED, **_subjects(location),
                                  details={"outcome": "kept-original", "reason": reason[:200],
                                           "content_sha256": location.sha256,
                                           "from": location.transfer_syntax_uid, "to": target})

    def compression_candidates(self, transfer_syntaxes: Sequence[str], *, after_pk: int = 0,
                               since: datetime | None = None,
                               stored_before: datetime | None = None,
                               limit: int = 100) -> list[tuple[Candidate, InstanceLocation]]:
        """Instances the compressor has not looked at (see :mod:`dicomvault.index.stored`)."""
        with self.engine.connect() as conn:
            found = compression_candidates(conn, transfer_syntaxes, after_pk=after_pk,
                                           since=since, stored_before=stored_before,
                                           limit=limit)
        return [(c, InstanceLocation.from_row(c.instance)) for c in found]

    def count_compression_candidates(self, transfer_syntaxes: Sequence[str], *,
                                     since: datetime | None = None) -> int:
        with self.engine.connect() as conn:
            return count_candidates(conn, transfer_syntaxes, since=since)

    def last_stored_at(self) -> datetime | None:
        with self.engine.connect() as conn:
            return last_stored_at(conn)

    def storage_figures(self) -> list[StorageFigures]:
        """Stored and original bytes per modality and transfer syntax (``dicomvault stats``)."""
        with self.engine.connect() as conn:
            return storage_figures(conn)

    # -- delete ----------------------------------------------------------------

    def delete(
        self,
        ctx: RequestContext,
        study_uid: str,
        series_uid: str | None = None,
        sop_uid: str | None = None,
    ) -> int:
        """Delete a study, series or instance; returns how many instances went.

        A study left empty loses its key (crypto-shredding, also of every backup);
        a study that keeps instances is re-keyed, so that copies of the deleted
        instances' wrapped data keys no longer unwrap.
        """
        decision = self.policy.scope_for(ctx, Permission.DELETE)
        with database_reachable(), write_transaction(self.engine) as conn:
            self._check_study(conn, ctx, decision, study_uid, "delete")
            rows = instances_of(conn, study_uid, series_uid, sop_uid)
            if not rows:
                raise NotFoundError("nothing to delete at that address")
            locations = [InstanceLocation.from_row(row) for row in rows]
            delete_instances(conn, [loc.sop_instance_uid for loc in locations])
            self.audit.instances_deleted(conn, ctx, locations)
            study_gone = study_in_scope(conn, study_uid, StudyScope()) is None
            if study_gone:
                self.study_keys.forget_study(conn, study_uid)
        for location in locations:
            self.blobs.delete(location.blob_name)
        if study_gone:
            self.study_keys.shred_pending()
        else:
            key_names = {parse_key_ref(loc.kek_id)[0] for loc in locations}
            for name in key_names:
                rewrap_key(self.engine, self.keys, name, rotate=True)
        return len(locations)

    def delete_patient(self, ctx: RequestContext, patient_id: str,
                       issuer: str = "") -> int:
        """Delete every study of a patient (each study's key is shredded).

        ``issuer`` empty: the Patient ID under any issuer. Wildcards are not
        matching here: the ID is compared exactly.
        """
        self.policy.require(ctx, Permission.DELETE)
        if not patient_id or any(c in patient_id for c in "*?\\"):
            raise InvalidInputError("a patient is deleted by its exact Patient ID")
        filters = {"PatientID": patient_id, **({"IssuerOfPatientID": issuer} if issuer else {})}
        with self.engine.connect() as conn:
            rows = run_query(conn, Query(level=QueryLevel.STUDY, filters=filters))
        deleted = 0
        for row in rows:
            deleted += self.delete(ctx, str(row.get("StudyInstanceUID")))
        if not deleted:
            raise NotFoundError("no study of that patient in the archive")
        return deleted

    # -- keys ------------------------------------------------------------------

    def rotate_keys(self, ctx: RequestContext,
                    on_progress: ProgressCallback | None = None) -> RotationProgress:
        """Rotate every study KEK and re-wrap every data key (resumable; see keys/rotation)."""
        self.policy.require(ctx, Permission.MANAGE_KEYS)
        self.study_keys.shred_pending()
        progress = rotate_keys(self.engine, self.keys, on_progress=on_progress)
        self.record_event(ctx, EventType.KEY_ROTATED, details={
            "rotation": progress.rotation_id, "keys": progress.keys_done,
            "rewrapped": progress.instances_rewrapped, "resumed": progress.resumed,
            "provider": self.keys.kind})
        return progress

    def key_status(self, ctx: RequestContext) -> dict[str, Any]:
        """What backs the keys, how many there are, the last rotation (no secret)."""
        self.policy.require(ctx, Permission.MANAGE_KEYS)
        with self.engine.connect() as conn:
            last = conn.execute(sa.select(key_rotations).order_by(
                key_rotations.c.id.desc()).limit(1)).first()
            studies = conn.execute(sa.select(sa.func.count()).select_from(study_keys)).scalar_one()
        rotation = None if last is None else {
            "id": last.id, "started_at": last.started_at.isoformat(),
            "finished_at": last.finished_at.isoformat() if last.finished_at else None,
            "keys_done": last.keys_done, "keys_total": last.keys_total,
            "instances_rewrapped": last.instances_rewrapped}
        return {"provider": self.keys.describe(), "study_keys": int(studies),
                "pending_shreds": self.study_keys.pending_shreds(), "last_rotation": rotation}


_WRITE_CHUNK = 1024 * 1024


def _verified(chunks: Iterable[bytes], size: int | None, sha256: str | None) -> Iterator[bytes]:
    """Pass ``chunks`` on; at the end raise :class:`IntegrityError` unless they hash to
    ``sha256`` and add up to ``size`` (the stream is then cut, never completed)."""
    digest = hashlib.sha256()
    total = 0
    for chunk in chunks:
        digest.update(chunk)
        total += len(chunk)
        yield chunk
    if total != size or digest.hexdigest() != sha256:
        raise IntegrityError("stored object does not match the hash recorded at ingest")


def _stored_sha256(location: InstanceLocation) -> str:
    """The SHA-256 of the blob's own content: the compressed copy's, or the instance's."""
    if not location.is_compressed_copy:
        return location.sha256
    if location.stored_sha256 is None:
        raise IntegrityError("a compressed instance has lost its hash")
    return location.stored_sha256


def _subjects(location: InstanceLocation) -> dict[str, str]:
    return {"study": location.study_instance_uid, "series": location.series_instance_uid,
            "sop": location.sop_instance_uid}


def _transcoded_details(location: InstanceLocation,
                        copy: CompressedCopy) -> dict[str, str | int | bool]:
    return {"outcome": "compressed", "content_sha256": location.sha256,
            "stored_sha256": copy.sha256, "from": location.transfer_syntax_uid,
            "to": copy.transfer_syntax, "size": location.size, "stored_size": copy.size}


def _result(item: StagedInstance, outcome: StoreOutcome) -> StoreResult:
    return StoreResult(
        sop_class_uid=item.sop_class_uid,
        sop_instance_uid=item.sop_instance_uid,
        study_instance_uid=item.parsed.study.StudyInstanceUID,
        series_instance_uid=item.parsed.series.SeriesInstanceUID,
        outcome=outcome,
    )


def _failure(item: StagedInstance, error: DicomVaultError) -> StoreFailure:
    return StoreFailure(item.sop_class_uid, item.sop_instance_uid, error)
