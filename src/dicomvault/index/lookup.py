"""Looking up stored instances by UID: what retrieve, delete and WADO-RS need.

A :class:`StoredInstance` is everything the index keeps to find, unlock and
verify one instance's blob (name, size, SHA-256, wrapped data key and its
key id, the sealed header) plus the identifiers and image attributes a
retrieve needs to answer without opening the blob.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, ColumnElement, Select, bindparam, select
from sqlalchemy.engine import Connection, RowMapping

from dicomvault.index.schema import instances, series, studies


@dataclass(frozen=True, slots=True)
class StoredInstance:
    """One indexed instance and the envelope of its blob (fields named as the columns)."""

    StudyInstanceUID: str
    SeriesInstanceUID: str
    SOPInstanceUID: str
    SOPClassUID: str
    TransferSyntaxUID: str
    InstanceNumber: int | None
    Rows: int | None
    Columns: int | None
    BitsAllocated: int | None
    NumberOfFrames: int | None
    blob_name: str
    size: int
    sha256: str
    kek_id: str
    wrapped_key: bytes
    sealed_header: bytes
    stored_at: datetime
    # -- codecs: the blob's own representation when the storage policy compressed it.
    stored_transfer_syntax: str | None = None
    stored_size: int | None = None
    stored_sha256: str | None = None
    sealed_layout: bytes | None = None


_COLUMNS: tuple[Column[Any], ...] = (
    studies.c.StudyInstanceUID,
    series.c.SeriesInstanceUID,
    *(
        instances.c[name]
        for name in (
            "SOPInstanceUID",
            "SOPClassUID",
            "TransferSyntaxUID",
            "InstanceNumber",
            "Rows",
            "Columns",
            "BitsAllocated",
            "NumberOfFrames",
            "blob_name",
            "size",
            "sha256",
            "kek_id",
            "wrapped_key",
            "sealed_header",
            "stored_at",
            "stored_transfer_syntax",
            "stored_size",
            "stored_sha256",
            "sealed_layout",
        )
    ),
)
_NAMES = tuple(column.name for column in _COLUMNS)

#: instances joined to their series and study.
HIERARCHY = instances.join(series, series.c.pk == instances.c.series_pk).join(
    studies, studies.c.pk == series.c.study_pk
)


def stored_instances_select(*extra: ColumnElement[Any]) -> Select[Any]:
    """SELECT of :class:`StoredInstance` columns (and ``extra`` ones) over :data:`HIERARCHY`."""
    return select(*_COLUMNS, *extra).select_from(HIERARCHY)


def to_stored_instance(row: RowMapping) -> StoredInstance:
    """Build a :class:`StoredInstance` from a row of :func:`stored_instances_select`."""
    return _stored_instance([row[name] for name in _NAMES])


#: Positions of the binary columns, which a driver may return as a buffer (memoryview).
_BINARY = tuple(_NAMES.index(name) for name in ("wrapped_key", "sealed_header", "sealed_layout"))


def _stored_instance(values: Sequence[Any]) -> StoredInstance:
    """A :class:`StoredInstance` from the values of its columns in field order."""
    fields = list(values)
    for position in _BINARY:
        if fields[position] is not None:
            fields[position] = bytes(fields[position])  # bytes already: not copied
    return StoredInstance(*fields)


def get_instance(conn: Connection, sop_uid: str) -> StoredInstance | None:
    """The instance with SOP Instance UID ``sop_uid``, ``None`` if not indexed."""
    statement = stored_instances_select().where(instances.c.SOPInstanceUID == sop_uid)
    row = conn.execute(statement).mappings().one_or_none()
    return None if row is None else to_stored_instance(row)


def instances_of(
    conn: Connection,
    study_uid: str,
    series_uid: str | None = None,
    sop_uid: str | None = None,
) -> list[StoredInstance]:
    """The instances of a study (or of one series, or one instance of it), in viewing order.

    Ordered by series (SeriesNumber, numbers missing last) then InstanceNumber,
    which is the order WADO-RS study/series retrieves stream in. An empty list
    means nothing matched; the caller decides whether that is a 404.
    """
    statement = _INSTANCES_OF[series_uid is not None, sop_uid is not None]
    rows = conn.execute(statement, {"study": study_uid, "series": series_uid, "sop": sop_uid})
    return [_stored_instance(row) for row in rows]  # rows as tuples: no mapping built


def _instances_of(by_series: bool, by_sop: bool) -> Select[Any]:
    """The statement of :func:`instances_of` for the UIDs it is given."""
    statement = stored_instances_select().where(
        studies.c.StudyInstanceUID == bindparam("study"))
    if by_series:
        statement = statement.where(series.c.SeriesInstanceUID == bindparam("series"))
    if by_sop:
        statement = statement.where(instances.c.SOPInstanceUID == bindparam("sop"))
    return statement.order_by(
        series.c.SeriesNumber.asc().nulls_last(),
        series.c.pk,
        instances.c.InstanceNumber.asc().nulls_last(),
        instances.c.pk,
    )


# Built once: constructing and cache-keying the statement cost more than running it
# (a retrieve's lookup waits for it before its first byte).
_INSTANCES_OF = {(by_series, by_sop): _instances_of(by_series, by_sop)
                 for by_series in (False, True) for by_sop in (False, True)}


def existing_sop_instance_uids(conn: Connection, sop_uids: Iterable[str]) -> set[str]:
    """Which of ``sop_uids`` are already indexed (for the duplicate policy)."""
    wanted = list(dict.fromkeys(sop_uids))
    if not wanted:
        return set()
    statement = select(instances.c.SOPInstanceUID).where(instances.c.SOPInstanceUID.in_(wanted))
    return set(conn.execute(statement).scalars())


# Built once (every store runs it).
_CONTENT_HASHES = select(
    instances.c.SOPInstanceUID, instances.c.SOPClassUID, instances.c.sha256
).where(instances.c.SOPInstanceUID.in_(bindparam("uids", expanding=True)))


def existing_content_hashes(
    conn: Connection, sop_uids: Iterable[str]
) -> dict[str, tuple[str, str]]:
    """SOP Instance UID -> (SOP Class UID, content SHA-256) for the UIDs already indexed.

    The duplicate policy compares content hashes; Storage Commitment needs the
    SOP classes of what is durably archived.
    """
    wanted = set(sop_uids)
    if not wanted:
        return {}
    rows = conn.execute(_CONTENT_HASHES, {"uids": list(wanted)})
    return {row[0]: (row[1], row[2]) for row in rows}
