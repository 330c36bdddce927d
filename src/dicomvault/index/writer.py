"""Writing the index: insert, replace and delete instances, keeping every counter right.

All functions run inside the caller's transaction (the Archive service owns
the boundary, ARCHITECTURE.md "Ingest"): nothing here commits.

A batch costs a handful of statements whatever its size, each built once
(building and cache-keying a statement costs more than running it): patients,
studies and series are looked up with one SELECT each, the missing ones
created with one ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` (which names
the rows this transaction really created), instances go in with one
executemany, and the computed attributes of the touched series, studies and
patients are kept:

* NumberOfSeriesRelatedInstances, NumberOfStudyRelatedSeries/Instances,
  NumberOfPatientRelatedStudies/Series/Instances (PS3.4 C.3.2-C.3.4),
* ModalitiesInStudy: the distinct Modality values of the study's series,
  sorted and joined with ``\\``.

An insert adds to the counters (``n = n + :added``: the instances it inserted,
the series and studies its own INSERTs created) instead of recounting them,
and recomputes ModalitiesInStudy only for a study that gained a series or
whose series got their Modality filled; a replace or delete (rarer, and able
to empty a level) recounts everything it touched from the rows themselves.
A failed insert (a duplicate SOP Instance UID) rolls the whole transaction
back, counters included.

Concurrency: ``ON CONFLICT DO NOTHING`` makes two transactions creating the
same patient, study or series at once both succeed with one row; only the
one whose INSERT returned the row counts it as new. On PostgreSQL the patient
rows of a batch are then locked (``SELECT ... FOR UPDATE``, in primary-key
order so writers cannot deadlock on them), so writers of the same patient
take turns, and each ``n = n + :added`` reads the committed work of the
previous one. SQLite has a single writer anyway (see
:func:`dicomvault.index.database.write_transaction`).

Attribute updates: the latest non-empty patient demographics win (a later
store corrects a name); study and series attributes only fill columns that
are still empty, so the first instance that carried a value decides it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, and_, bindparam, delete, func, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError as SQLIntegrityError
from sqlalchemy.sql.dml import Insert

from dicomvault.errors import DuplicateInstanceError, InvalidInputError
from dicomvault.index.lookup import (
    HIERARCHY,
    StoredInstance,
    stored_instances_select,
    to_stored_instance,
)
from dicomvault.index.matching import normalize_person_name
from dicomvault.index.records import InstanceRecord
from dicomvault.index.schema import instances, patients, series, studies

_PatientKey = tuple[str, str]
_DEMOGRAPHICS = ("PatientName", "PatientBirthDate", "PatientSex")
_NORMALISED = {
    "PatientName": "PatientName_norm",
    "ReferringPhysicianName": "ReferringPhysicianName_norm",
}


@dataclass
class _Touched:
    """Primary keys whose computed attributes must be recounted."""

    series: set[int] = field(default_factory=set)
    studies: set[int] = field(default_factory=set)
    patients: set[int] = field(default_factory=set)

    def update(self, other: _Touched) -> None:
        self.series |= other.series
        self.studies |= other.studies
        self.patients |= other.patients


@dataclass
class _Upserted:
    """Rows found or created by one upsert: pk by natural key, and which pks changed."""

    pks: dict[Any, int]
    #: Rows this transaction's INSERT created.
    created: set[int] = field(default_factory=set)
    #: Rows that existed and had empty columns filled.
    filled: set[int] = field(default_factory=set)


def _with_norms(values: dict[str, Any]) -> dict[str, Any]:
    for name, norm in _NORMALISED.items():
        if name in values:
            values[norm] = normalize_person_name(values[name])
    return values


def _columns(record: Any) -> dict[str, Any]:
    """The fields of a flat record (:mod:`dicomvault.index.records`) as column values:
    ``dataclasses.asdict`` without its deep copy, which no scalar needs."""
    return {f.name: getattr(record, f.name) for f in fields(record)}


def _is_empty(value: object) -> bool:
    return value is None or value == ""


# Built once: constructing and cache-keying a statement costs more than running it.
_PATIENTS_BY_KEY = (
    select(patients)
    .where(tuple_(patients.c.PatientID, patients.c.IssuerOfPatientID)
           .in_(bindparam("keys", expanding=True)))
    .order_by(patients.c.pk)
    .with_for_update()
)
_BY_UID = {
    table.name: select(table).where(table.c[uid].in_(bindparam("uids", expanding=True)))
    for table, uid in ((studies, "StudyInstanceUID"), (series, "SeriesInstanceUID"))
}
_INSERT_INSTANCES = instances.insert()
_ADD_TO_SERIES = (
    update(series)
    .where(series.c.pk == bindparam("b_pk"))
    .values(NumberOfSeriesRelatedInstances=series.c.NumberOfSeriesRelatedInstances
            + bindparam("b_instances"))
)
_ADD_TO_STUDIES = (
    update(studies)
    .where(studies.c.pk == bindparam("b_pk"))
    .values(
        NumberOfStudyRelatedSeries=studies.c.NumberOfStudyRelatedSeries + bindparam("b_series"),
        NumberOfStudyRelatedInstances=studies.c.NumberOfStudyRelatedInstances
        + bindparam("b_instances"),
        updated_at=bindparam("b_now"),
    )
)
_ADD_TO_PATIENTS = (
    update(patients)
    .where(patients.c.pk == bindparam("b_pk"))
    .values(
        NumberOfPatientRelatedStudies=patients.c.NumberOfPatientRelatedStudies
        + bindparam("b_studies"),
        NumberOfPatientRelatedSeries=patients.c.NumberOfPatientRelatedSeries
        + bindparam("b_series"),
        NumberOfPatientRelatedInstances=patients.c.NumberOfPatientRelatedInstances
        + bindparam("b_instances"),
    )
)
_CREATING: dict[tuple[str, str], Insert] = {}


def _creating(dialect: str, table: Table, keys: Sequence[str]) -> Insert:
    """INSERT ... ON CONFLICT (keys) DO NOTHING RETURNING pk, keys, in ``dialect``."""
    statement = _CREATING.get((dialect, table.name))
    if statement is None:
        dialect_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = (
            dialect_insert(table)
            .on_conflict_do_nothing(index_elements=list(keys))
            .returning(table.c.pk, *(table.c[k] for k in keys))
        )
        _CREATING[(dialect, table.name)] = statement
    return statement


def _insert_ignoring_conflicts(
    conn: Connection, table: Table, rows: list[dict[str, Any]], keys: Sequence[str]
) -> dict[Any, int]:
    """Insert ``rows`` unless their ``keys`` exist; the pks of the rows really inserted,
    by key (one column: its value; several: a tuple)."""
    statement = _creating(conn.dialect.name, table, keys)
    created = conn.execute(statement, rows).all()
    if len(keys) == 1:
        return {row[1]: row[0] for row in created}
    return {tuple(row[1:]): row[0] for row in created}


def _patient_key(record: InstanceRecord) -> _PatientKey:
    return record.patient.PatientID, record.patient.IssuerOfPatientID


def _patient_rows(conn: Connection, keys: Collection[_PatientKey]) -> dict[_PatientKey, Any]:
    """Select (and on PostgreSQL lock, in pk order) the patients with these keys."""
    rows = conn.execute(_PATIENTS_BY_KEY, {"keys": list(keys)}).all()
    return {(row.PatientID, row.IssuerOfPatientID): row for row in rows}


def _upsert_patients(conn: Connection, records: Sequence[InstanceRecord]) -> _Upserted:
    latest: dict[_PatientKey, dict[str, str]] = {}
    for record in records:
        demographics = latest.setdefault(_patient_key(record), {})
        for name in _DEMOGRAPHICS:
            value = getattr(record.patient, name)
            if value:
                demographics[name] = value
    found = _patient_rows(conn, latest)
    missing = sorted(set(latest) - set(found))
    created: dict[Any, int] = {}
    if missing:
        new_rows = [
            _with_norms(
                {
                    "PatientID": pid,
                    "IssuerOfPatientID": issuer,
                    **{name: latest[(pid, issuer)].get(name, "") for name in _DEMOGRAPHICS},
                    "NumberOfPatientRelatedStudies": 0,
                    "NumberOfPatientRelatedSeries": 0,
                    "NumberOfPatientRelatedInstances": 0,
                }
            )
            for pid, issuer in missing
        ]
        created = _insert_ignoring_conflicts(
            conn, patients, new_rows, ("PatientID", "IssuerOfPatientID"))
        # Lock them too (PostgreSQL), and find those another transaction created meanwhile.
        found.update(_patient_rows(conn, missing))
    for key, row in found.items():
        changes = {n: v for n, v in latest[key].items() if getattr(row, n) != v}
        if changes and key not in created:
            statement = update(patients).where(patients.c.pk == row.pk)
            conn.execute(statement.values(_with_norms(changes)))
    return _Upserted({key: row.pk for key, row in found.items()}, set(created.values()))


def _merge_first_non_empty(items: Iterable[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for item in items:
        for name, value in item.items():
            if _is_empty(merged.get(name)):
                merged[name] = value
    return merged


def _upsert_children(
    conn: Connection,
    table: Table,
    *,
    uid_column: str,
    parent_column: str,
    wanted: dict[str, tuple[int, dict[str, Any]]],
    extra: dict[str, Any],
) -> _Upserted:
    """Find-or-create study or series rows, filling their still-empty columns.

    ``wanted`` maps a UID to (parent pk, merged attributes). A row that exists
    under another parent is refused: a UID names one study/series only.
    """

    def lookup(uids: Collection[str]) -> dict[str, Any]:
        rows = conn.execute(_BY_UID[table.name], {"uids": list(uids)}).all()
        return {getattr(row, uid_column): row for row in rows}

    found = lookup(wanted)
    missing = sorted(set(wanted) - set(found))
    result = _Upserted({uid: row.pk for uid, row in found.items()})
    if missing:
        new_rows = [
            _with_norms({**wanted[uid][1], parent_column: wanted[uid][0], **extra})
            for uid in missing
        ]
        created = _insert_ignoring_conflicts(conn, table, new_rows, (uid_column,))
        result.pks.update(created)
        result.created.update(created.values())
        lost = [uid for uid in missing if uid not in created]  # created by a concurrent writer
        if lost:
            found.update(lookup(lost))
    for uid, row in found.items():
        parent_pk, attributes = wanted[uid]
        if getattr(row, parent_column) != parent_pk:
            kind = "study" if table is studies else "series"
            raise InvalidInputError(
                f"{kind} {uid} is already indexed under another "
                f"{'patient' if table is studies else 'study'}"
            )
        fills = {
            n: v for n, v in attributes.items() if not _is_empty(v) and _is_empty(getattr(row, n))
        }
        if fills:
            conn.execute(update(table).where(table.c.pk == row.pk).values(_with_norms(fills)))
            result.filled.add(row.pk)
        result.pks[uid] = row.pk
    return result


def _check_repeats(records: Sequence[InstanceRecord]) -> None:
    uids = [record.instance.SOPInstanceUID for record in records]
    repeated = sorted(uid for uid, times in Counter(uids).items() if times > 1)
    if repeated:
        raise DuplicateInstanceError(f"SOP Instance UID repeated in one batch: {repeated[0]}")


def _insert(conn: Connection, records: Sequence[InstanceRecord]) -> _Touched:
    """Insert ``records`` and add them to every counter; what they touched."""
    _check_repeats(records)
    now = datetime.now(UTC)
    patient_rows = _upsert_patients(conn, records)
    patient_pks = patient_rows.pks
    study_wanted: dict[str, tuple[int, dict[str, Any]]] = {}
    for uid in dict.fromkeys(r.study.StudyInstanceUID for r in records):
        group = [r for r in records if r.study.StudyInstanceUID == uid]
        study_wanted[uid] = (
            patient_pks[_patient_key(group[0])],
            _merge_first_non_empty(_columns(r.study) for r in group),
        )
    study_rows = _upsert_children(
        conn,
        studies,
        uid_column="StudyInstanceUID",
        parent_column="patient_pk",
        wanted=study_wanted,
        extra={
            "ModalitiesInStudy": "",
            "NumberOfStudyRelatedSeries": 0,
            "NumberOfStudyRelatedInstances": 0,
            "created_at": now,
            "updated_at": now,
        },
    )
    study_pks = study_rows.pks
    series_wanted: dict[str, tuple[int, dict[str, Any]]] = {}
    for uid in dict.fromkeys(r.series.SeriesInstanceUID for r in records):
        group = [r for r in records if r.series.SeriesInstanceUID == uid]
        series_wanted[uid] = (
            study_pks[group[0].study.StudyInstanceUID],
            _merge_first_non_empty(_columns(r.series) for r in group),
        )
    series_rows = _upsert_children(
        conn,
        series,
        uid_column="SeriesInstanceUID",
        parent_column="study_pk",
        wanted=series_wanted,
        extra={"NumberOfSeriesRelatedInstances": 0},
    )
    series_pks = series_rows.pks
    rows = [
        {
            **_columns(r.instance),
            **_columns(r.stored),
            "stored_at": r.stored_at,
            "series_pk": series_pks[r.series.SeriesInstanceUID],
        }
        for r in records
    ]
    try:
        conn.execute(_INSERT_INSTANCES, rows)
    except SQLIntegrityError as exc:
        # The unique constraints are the check (no SELECT first: one round trip less per
        # batch, and it is the only check that also holds against concurrent writers).
        raise DuplicateInstanceError("SOP Instance UID (or blob name) already indexed") from exc
    _add_to_counters(conn, records, patient_pks=patient_pks, study_rows=study_rows,
                     series_rows=series_rows, now=now)
    return _Touched(set(series_pks.values()), set(study_pks.values()), set(patient_pks.values()))


def _add_to_counters(conn: Connection, records: Sequence[InstanceRecord], *,
                     patient_pks: dict[Any, int], study_rows: _Upserted,
                     series_rows: _Upserted, now: datetime) -> None:
    """Add what ``records`` brought to the computed attributes of their three levels."""
    per_series: Counter[int] = Counter()
    series_of_study: dict[int, set[int]] = {}
    studies_of_patient: dict[int, set[int]] = {}
    for record in records:
        series_pk = series_rows.pks[record.series.SeriesInstanceUID]
        study_pk = study_rows.pks[record.study.StudyInstanceUID]
        per_series[series_pk] += 1
        series_of_study.setdefault(study_pk, set()).add(series_pk)
        studies_of_patient.setdefault(patient_pks[_patient_key(record)], set()).add(study_pk)
    new_series = {study: len(pks & series_rows.created) for study, pks in series_of_study.items()}
    per_study = {study: sum(per_series[pk] for pk in pks)
                 for study, pks in series_of_study.items()}
    conn.execute(_ADD_TO_SERIES, [{"b_pk": pk, "b_instances": n}
                                  for pk, n in per_series.items()])
    conn.execute(_ADD_TO_STUDIES, [
        {"b_pk": pk, "b_series": new_series[pk], "b_instances": per_study[pk], "b_now": now}
        for pk in series_of_study])
    conn.execute(_ADD_TO_PATIENTS, [
        {"b_pk": patient_pk, "b_studies": len(pks & study_rows.created),
         "b_series": sum(new_series[pk] for pk in pks),
         "b_instances": sum(per_study[pk] for pk in pks)}
        for patient_pk, pks in studies_of_patient.items()])
    # Only a new series, or one whose Modality was empty until now, changes the set.
    changed = series_rows.created | series_rows.filled
    modalities = {study for study, pks in series_of_study.items() if pks & changed}
    if modalities:
        _refresh_modalities(conn, modalities)


def _count(table: Table, where: Any) -> Any:
    return select(func.count()).select_from(table).where(where).scalar_subquery()


def _sum(table: Table, column: str, where: Any) -> Any:
    return select(func.coalesce(func.sum(table.c[column]), 0)).where(where).scalar_subquery()


def _refresh(conn: Connection, touched: _Touched, *, prune: bool) -> None:
    """Recount the computed attributes of touched rows; with ``prune``, drop emptied ones."""
    if touched.series:
        conn.execute(
            update(series)
            .where(series.c.pk.in_(touched.series))
            .values(
                NumberOfSeriesRelatedInstances=_count(
                    instances, instances.c.series_pk == series.c.pk
                )
            )
        )
        if prune:
            conn.execute(
                delete(series).where(
                    series.c.pk.in_(touched.series), series.c.NumberOfSeriesRelatedInstances == 0
                )
            )
    if touched.studies:
        in_study = series.c.study_pk == studies.c.pk
        conn.execute(
            update(studies)
            .where(studies.c.pk.in_(touched.studies))
            .values(
                NumberOfStudyRelatedSeries=_count(series, in_study),
                NumberOfStudyRelatedInstances=_sum(
                    series, "NumberOfSeriesRelatedInstances", in_study
                ),
                updated_at=datetime.now(UTC),
            )
        )
        _refresh_modalities(conn, touched.studies)
        if prune:
            conn.execute(
                delete(studies).where(
                    studies.c.pk.in_(touched.studies), studies.c.NumberOfStudyRelatedSeries == 0
                )
            )
    if touched.patients:
        of_patient = studies.c.patient_pk == patients.c.pk
        conn.execute(
            update(patients)
            .where(patients.c.pk.in_(touched.patients))
            .values(
                NumberOfPatientRelatedStudies=_count(studies, of_patient),
                NumberOfPatientRelatedSeries=_sum(
                    studies, "NumberOfStudyRelatedSeries", of_patient
                ),
                NumberOfPatientRelatedInstances=_sum(
                    studies, "NumberOfStudyRelatedInstances", of_patient
                ),
            )
        )
        if prune:
            conn.execute(
                delete(patients).where(
                    patients.c.pk.in_(touched.patients),
                    patients.c.NumberOfPatientRelatedStudies == 0,
                )
            )


def _refresh_modalities(conn: Connection, study_pks: set[int]) -> None:
    """Set ModalitiesInStudy to the sorted distinct modalities of each study's series."""
    statement = (
        select(studies.c.pk, studies.c.ModalitiesInStudy, series.c.Modality)
        .distinct()
        .select_from(studies.outerjoin(series, series.c.study_pk == studies.c.pk))
        .where(studies.c.pk.in_(study_pks))
    )
    current: dict[int, str] = {}
    found: dict[int, set[str]] = {}
    for study_pk, stored, modality in conn.execute(statement):
        current[study_pk] = stored
        found.setdefault(study_pk, set()).update([modality] if modality else [])
    changes = [
        {"b_pk": pk, "b_modalities": "\\".join(sorted(found[pk]))}
        for pk, value in current.items()
        if value != "\\".join(sorted(found[pk]))
    ]
    if changes:
        conn.execute(
            update(studies)
            .where(studies.c.pk == bindparam("b_pk"))
            .values(ModalitiesInStudy=bindparam("b_modalities")),
            changes,
        )


def _lock_and_delete(conn: Connection, where: Any) -> tuple[list[StoredInstance], _Touched]:
    """Delete the instance rows matching ``where``; return them and what to recount."""
    hierarchy_pks = stored_instances_select(
        instances.c.pk.label("_instance_pk"),
        series.c.pk.label("_series_pk"),
        studies.c.pk.label("_study_pk"),
        studies.c.patient_pk.label("_patient_pk"),
    ).where(where)
    patient_pks = sorted(
        set(conn.execute(select(hierarchy_pks.subquery().c._patient_pk)).scalars())
    )
    if not patient_pks:
        return [], _Touched()
    conn.execute(
        select(patients.c.pk)
        .where(patients.c.pk.in_(patient_pks))
        .order_by(patients.c.pk)
        .with_for_update()
    )
    rows = conn.execute(hierarchy_pks).mappings().all()
    # By subquery, not by a list of pks: a study may exceed SQLite's bound-parameter limit.
    doomed = select(instances.c.pk).select_from(HIERARCHY).where(where)
    conn.execute(delete(instances).where(instances.c.pk.in_(doomed)))
    touched = _Touched(
        {r["_series_pk"] for r in rows},
        {r["_study_pk"] for r in rows},
        {r["_patient_pk"] for r in rows},
    )
    return [to_stored_instance(row) for row in rows], touched


def insert_instances(conn: Connection, records: Sequence[InstanceRecord]) -> None:
    """Index newly stored instances, creating/updating their patient, study and series.

    Raises :class:`~dicomvault.errors.DuplicateInstanceError` if a SOP Instance
    UID is already indexed or appears twice in ``records``; the caller's
    transaction must then be rolled back (leaving a ``with engine.begin()``
    block by the exception does that). The caller applies its duplicate policy
    first (:func:`~dicomvault.index.lookup.existing_sop_instance_uids`). Raises
    :class:`~dicomvault.errors.InvalidInputError` if a study or series UID is
    already indexed under another patient or study.
    """
    if records:
        _insert(conn, records)


def replace_instance(conn: Connection, record: InstanceRecord) -> StoredInstance | None:
    """Index ``record`` in place of the instance with the same SOP Instance UID.

    Returns the replaced instance (its blob is the caller's to delete), ``None``
    if there was none. The old patient/study/series are pruned if left empty.
    """
    old, touched = _lock_and_delete(
        conn, instances.c.SOPInstanceUID == record.instance.SOPInstanceUID
    )
    touched.update(_insert(conn, [record]))
    _refresh(conn, touched, prune=True)
    return old[0] if old else None


def _delete_where(conn: Connection, where: Any) -> list[StoredInstance]:
    deleted, touched = _lock_and_delete(conn, where)
    _refresh(conn, touched, prune=True)
    return deleted


def delete_instances(conn: Connection, sop_uids: Iterable[str]) -> list[StoredInstance]:
    """Remove instances from the index; return what was removed (blobs to delete/shred).

    Series, studies and patients left without instances are removed too. UIDs
    not indexed are ignored; an empty result means nothing was found.
    """
    uids = list(dict.fromkeys(sop_uids))
    return _delete_where(conn, instances.c.SOPInstanceUID.in_(uids)) if uids else []


def delete_series(conn: Connection, study_uid: str, series_uid: str) -> list[StoredInstance]:
    """Remove one series of a study (see :func:`delete_instances`)."""
    return _delete_where(
        conn,
        and_(studies.c.StudyInstanceUID == study_uid, series.c.SeriesInstanceUID == series_uid),
    )


def delete_study(conn: Connection, study_uid: str) -> list[StoredInstance]:
    """Remove a whole study (see :func:`delete_instances`)."""
    return _delete_where(conn, studies.c.StudyInstanceUID == study_uid)
