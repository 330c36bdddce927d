"""How instances are held in their blobs: compressed copies, work left, storage figures.

The storage policy (``dicomvault.codecs``) may replace an instance's blob by
a compressed copy; the index then records the copy beside the original's
identity (``TransferSyntaxUID``, ``size`` and ``sha256`` keep describing
the acknowledged file). Functions here run in the caller's transaction.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, select, update
from sqlalchemy.engine import Connection

from dicomvault.index.lookup import (
    HIERARCHY,
    StoredInstance,
    stored_instances_select,
    to_stored_instance,
)
from dicomvault.index.schema import instances, series


class CodecState(enum.StrEnum):
    """What the compressor made of an instance (``None`` in the index: not looked at yet)."""

    COMPRESSED = "compressed"
    KEPT = "kept"  # cannot be compressed and rebuilt exactly (format, syntax): kept as received
    MISMATCH = "mismatch"  # the proof failed: kept as received, event recorded


@dataclass(frozen=True, slots=True)
class StoredRepresentation:
    """A new blob for an instance: where it is, what unlocks it, what it holds."""

    blob_name: str
    kek_id: str
    wrapped_key: bytes
    sealed_header: bytes
    sealed_layout: bytes
    transfer_syntax: str
    size: int
    sha256: str


def replace_representation(conn: Connection, sop_uid: str, *, expected_blob: str,
                           expected_sha256: str, new: StoredRepresentation) -> bool:
    """Point the instance at ``new`` if it still is the one that was compressed.

    The instance must still have blob ``expected_blob`` and content hash
    ``expected_sha256`` (it may have been deleted or replaced meanwhile);
    returns whether the row was updated.
    """
    statement = (
        update(instances)
        .where(and_(instances.c.SOPInstanceUID == sop_uid,
                    instances.c.blob_name == expected_blob,
                    instances.c.sha256 == expected_sha256))
        .values(blob_name=new.blob_name, kek_id=new.kek_id, wrapped_key=new.wrapped_key,
                sealed_header=new.sealed_header, sealed_layout=new.sealed_layout,
                stored_transfer_syntax=new.transfer_syntax, stored_size=new.size,
                stored_sha256=new.sha256, codec_state=CodecState.COMPRESSED.value)
    )
    return conn.execute(statement).rowcount == 1


def mark_codec_state(conn: Connection, sop_uid: str, blob_name: str, state: CodecState) -> None:
    """Remember that the compressor left this blob as it is, and why."""
    conn.execute(update(instances)
                 .where(and_(instances.c.SOPInstanceUID == sop_uid,
                             instances.c.blob_name == blob_name))
                 .values(codec_state=state.value))


@dataclass(frozen=True, slots=True)
class Candidate:
    """An instance the compressor has not looked at yet, with what the policy decides on."""

    pk: int
    modality: str
    instance: StoredInstance


def compression_candidates(conn: Connection, transfer_syntaxes: Sequence[str], *,
                           after_pk: int = 0, since: datetime | None = None,
                           stored_before: datetime | None = None,
                           limit: int = 100) -> list[Candidate]:
    """Instances still held as received, in ``transfer_syntaxes``, in primary-key order.

    Resumable by construction: processed instances get a ``codec_state``,
    and ``after_pk`` continues a pass where the previous batch ended.
    """
    statement = (
        stored_instances_select(instances.c.pk.label("_pk"), series.c.Modality.label("_modality"))
        .where(instances.c.codec_state.is_(None))
        .where(instances.c.TransferSyntaxUID.in_(list(transfer_syntaxes)))
        .where(instances.c.pk > after_pk)
        .order_by(instances.c.pk)
        .limit(limit)
    )
    if since is not None:
        statement = statement.where(instances.c.stored_at >= _as_stored(since))
    if stored_before is not None:
        statement = statement.where(instances.c.stored_at < _as_stored(stored_before))
    return [Candidate(row["_pk"], row["_modality"] or "", to_stored_instance(row))
            for row in conn.execute(statement).mappings()]


def count_candidates(conn: Connection, transfer_syntaxes: Sequence[str], *,
                     since: datetime | None = None) -> int:
    """How many instances :func:`compression_candidates` would still go through."""
    statement = (select(func.count()).select_from(instances)
                 .where(instances.c.codec_state.is_(None))
                 .where(instances.c.TransferSyntaxUID.in_(list(transfer_syntaxes))))
    if since is not None:
        statement = statement.where(instances.c.stored_at >= _as_stored(since))
    return int(conn.execute(statement).scalar_one())


def _as_stored(moment: datetime) -> datetime:
    """``moment`` in local time, as ``stored_at`` is written (SQLite keeps it naive)."""
    return moment.astimezone()


def last_stored_at(conn: Connection) -> datetime | None:
    """When the most recent instance was stored (the background compressor waits for quiet)."""
    value: datetime | None = conn.execute(select(func.max(instances.c.stored_at))).scalar()
    return value


@dataclass(frozen=True, slots=True)
class StorageFigures:
    """Stored and original bytes of the instances of one modality held in one syntax."""

    modality: str
    transfer_syntax: str
    instances: int
    original_bytes: int
    stored_bytes: int

    @property
    def ratio(self) -> float:
        """Original bytes per stored byte (1.0 when nothing is saved)."""
        return self.original_bytes / self.stored_bytes if self.stored_bytes else 1.0

    def public(self) -> dict[str, str | int | float]:
        """As ``dicomvault stats --json`` and ``GET /api/stats`` show it."""
        return {"modality": self.modality, "transfer_syntax": self.transfer_syntax,
                "instances": self.instances, "original_bytes": self.original_bytes,
                "stored_bytes": self.stored_bytes, "ratio": round(self.ratio, 3)}


def storage_figures(conn: Connection) -> list[StorageFigures]:
    """Per modality and stored transfer syntax: instances, original and stored bytes."""
    syntax = func.coalesce(instances.c.stored_transfer_syntax, instances.c.TransferSyntaxUID)
    statement = (
        select(series.c.Modality, syntax.label("syntax"), func.count(),
               func.sum(instances.c.size),
               func.sum(func.coalesce(instances.c.stored_size, instances.c.size)))
        .select_from(HIERARCHY)
        .group_by(series.c.Modality, syntax)
        .order_by(series.c.Modality, syntax)
    )
    return [StorageFigures(modality or "", str(ts), int(count), int(original or 0),
                           int(stored or 0))
            for modality, ts, count, original, stored in conn.execute(statement)]
