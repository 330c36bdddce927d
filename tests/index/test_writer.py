"""The writer keeps patients, studies, series and every computed attribute right."""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from tests.index.factories import make_records, uid, with_instance_uid

from dicomvault.errors import DuplicateInstanceError, InvalidInputError
from dicomvault.index import (
    InstanceRecord,
    delete_instances,
    delete_series,
    delete_study,
    existing_sop_instance_uids,
    get_instance,
    insert_instances,
    instances_of,
    replace_instance,
    write_transaction,
)
from dicomvault.index.schema import instances, patients, series, studies


def snapshot(conn: Connection) -> dict[str, Any]:
    """Every computed attribute in the database, keyed by the natural keys."""
    return {
        "patients": {
            (r.PatientID, r.IssuerOfPatientID): (
                r.NumberOfPatientRelatedStudies,
                r.NumberOfPatientRelatedSeries,
                r.NumberOfPatientRelatedInstances,
            )
            for r in conn.execute(sa.select(patients))
        },
        "studies": {
            r.StudyInstanceUID: (
                r.NumberOfStudyRelatedSeries,
                r.NumberOfStudyRelatedInstances,
                r.ModalitiesInStudy,
            )
            for r in conn.execute(sa.select(studies))
        },
        "series": {
            r.SeriesInstanceUID: r.NumberOfSeriesRelatedInstances
            for r in conn.execute(sa.select(series))
        },
        "instances": set(conn.execute(sa.select(instances.c.SOPInstanceUID)).scalars()),
    }


def expected(records: Sequence[InstanceRecord]) -> dict[str, Any]:
    """The same, computed in plain Python from the records that should be indexed."""
    series_of_study: dict[str, set[str]] = defaultdict(set)
    modalities: dict[str, set[str]] = defaultdict(set)
    per_series: dict[str, int] = defaultdict(int)
    per_study: dict[str, int] = defaultdict(int)
    studies_of: dict[tuple[str, str], set[str]] = defaultdict(set)
    for r in records:
        key = (r.patient.PatientID, r.patient.IssuerOfPatientID)
        studies_of[key].add(r.study.StudyInstanceUID)
        series_of_study[r.study.StudyInstanceUID].add(r.series.SeriesInstanceUID)
        modalities[r.study.StudyInstanceUID].add(r.series.Modality)
        per_series[r.series.SeriesInstanceUID] += 1
        per_study[r.study.StudyInstanceUID] += 1
    return {
        "patients": {
            key: (
                len(uids),
                sum(len(series_of_study[u]) for u in uids),
                sum(per_study[u] for u in uids),
            )
            for key, uids in studies_of.items()
        },
        "studies": {
            uid: (len(series_of_study[uid]), per_study[uid], "\\".join(sorted(modalities[uid])))
            for uid in per_study
        },
        "series": dict(per_series),
        "instances": {r.instance.SOPInstanceUID for r in records},
    }


def state(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        return snapshot(conn)


@pytest.fixture
def records() -> list[InstanceRecord]:
    return make_records(seed=7)


def test_batches_index_every_level_with_correct_counters(
    engine: Engine, records: list[InstanceRecord]
) -> None:
    # Uneven batches: a series split across two transactions, batches spanning studies.
    for start, stop in ((0, 3), (3, 17), (17, 18), (18, len(records))):
        with engine.begin() as conn:
            insert_instances(conn, records[start:stop])
    assert state(engine) == expected(records)
    assert len(state(engine)["studies"]) == 6


def test_modalities_in_study_is_sorted_distinct_and_backslash_joined(
    engine: Engine, records: list[InstanceRecord]
) -> None:
    study = records[0].study
    extra = [
        replace(
            with_instance_uid(records[0], f"1.2.3.9.{i}"),
            series=replace(records[0].series, SeriesInstanceUID=f"1.2.3.8.{i}", Modality=modality),
        )
        for i, modality in enumerate(("CT", "AAA", "SR"))
    ]
    of_study = [r for r in records if r.study == study]
    with engine.begin() as conn:
        insert_instances(conn, of_study + extra)
    modalities = state(engine)["studies"][study.StudyInstanceUID][2]
    assert modalities == "\\".join(sorted({r.series.Modality for r in of_study + extra}))
    assert modalities.split("\\") == sorted(set(modalities.split("\\")))


def test_a_repeated_sop_instance_uid_is_refused_and_nothing_is_written(
    engine: Engine, records: list[InstanceRecord]
) -> None:
    batch = [*records[:5], with_instance_uid(records[1], records[1].instance.SOPInstanceUID, 99)]
    repeated = records[1].instance.SOPInstanceUID
    with pytest.raises(DuplicateInstanceError, match=repeated), engine.begin() as conn:
        insert_instances(conn, batch)
    assert state(engine)["instances"] == set()

    with engine.begin() as conn:
        insert_instances(conn, records[:5])
    with pytest.raises(DuplicateInstanceError), engine.begin() as conn:
        insert_instances(conn, records[4:8])
    assert state(engine) == expected(records[:5])
    with engine.connect() as conn:
        uids = [r.instance.SOPInstanceUID for r in records[3:7]]
        assert existing_sop_instance_uids(conn, uids) == set(uids[:2])


def test_latest_non_empty_demographics_win(engine: Engine, records: list[InstanceRecord]) -> None:
    first = records[0]
    renamed = replace(
        with_instance_uid(first, "1.2.3.4.1"),
        patient=replace(first.patient, PatientName="Doe^Jane^^", PatientSex=""),
    )
    with engine.begin() as conn:
        insert_instances(conn, [first])
        insert_instances(conn, [renamed])
        row = conn.execute(sa.select(patients)).one()
    assert row.PatientName == "Doe^Jane^^"
    assert row.PatientName_norm == "doe^jane"
    assert row.PatientSex == first.patient.PatientSex  # empty did not erase it


def test_study_and_series_attributes_fill_only_empty_columns(
    engine: Engine, records: list[InstanceRecord]
) -> None:
    first = records[0]
    bare = replace(
        first,
        study=replace(first.study, StudyDescription="", ReferringPhysicianName=""),
        series=replace(first.series, SeriesNumber=None, BodyPartExamined=""),
    )
    later = replace(
        with_instance_uid(first, "1.2.3.4.2"),
        study=replace(first.study, StudyDescription="LATER", ReferringPhysicianName="Who^Dr"),
        series=replace(
            first.series, SeriesNumber=42, BodyPartExamined="KNEE", SeriesDescription="OTHER"
        ),
    )
    with engine.begin() as conn:
        insert_instances(conn, [bare])
        insert_instances(conn, [later])
        study_row = conn.execute(sa.select(studies)).one()
        series_row = conn.execute(sa.select(series)).one()
    assert (study_row.StudyDescription, study_row.ReferringPhysicianName_norm) == (
        "LATER",
        "who^dr",
    )
    assert (series_row.SeriesNumber, series_row.BodyPartExamined) == (42, "KNEE")
    assert series_row.SeriesDescription == first.series.SeriesDescription  # already set


def test_a_study_uid_under_another_patient_is_refused(
    engine: Engine, records: list[InstanceRecord]
) -> None:
    intruder = replace(
        with_instance_uid(records[0], "1.2.3.4.3"),
        patient=replace(records[0].patient, PatientID="SOMEONE-ELSE"),
    )
    with engine.begin() as conn:
        insert_instances(conn, records[:1])
    with pytest.raises(InvalidInputError, match="another patient"), engine.begin() as conn:
        insert_instances(conn, [intruder])


def test_replace_in_place_keeps_counters_and_returns_the_old_blob(
    engine: Engine, records: list[InstanceRecord]
) -> None:
    with engine.begin() as conn:
        insert_instances(conn, records)
    target = records[5]
    newer = replace(target, stored=replace(target.stored, blob_name="f" * 32))
    with engine.begin() as conn:
        old = replace_instance(conn, newer)
        now = get_instance(conn, target.instance.SOPInstanceUID)
    assert old is not None and old.blob_name == target.stored.blob_name
    assert now is not None and now.blob_name == "f" * 32
    assert state(engine) == expected(records)


def test_replace_into_another_study_prunes_what_it_emptied(engine: Engine) -> None:
    records = make_records(
        seed=3, patients=2, studies_per_patient=1, series_per_study=1, instances_per_series=1
    )
    with engine.begin() as conn:
        insert_instances(conn, records)
    moved = replace(
        records[0], patient=records[1].patient, study=records[1].study, series=records[1].series
    )
    with engine.begin() as conn:
        assert replace_instance(conn, moved) is not None
    assert state(engine) == expected([moved, records[1]])
    with engine.begin() as conn:
        assert replace_instance(conn, with_instance_uid(records[1], "1.2.3.4.4")) is None
    assert len(state(engine)["instances"]) == 3


def test_delete_instances_prunes_and_recounts_every_level(
    engine: Engine, records: list[InstanceRecord]
) -> None:
    with engine.begin() as conn:
        insert_instances(conn, records)
    first_series = records[0].series.SeriesInstanceUID
    doomed = [r for r in records if r.series.SeriesInstanceUID == first_series] + records[-2:]
    with engine.begin() as conn:
        deleted = delete_instances(conn, [r.instance.SOPInstanceUID for r in doomed] + ["9.9"])
    assert {d.blob_name for d in deleted} == {r.stored.blob_name for r in doomed}
    assert all(d.wrapped_key and d.kek_id for d in deleted)
    kept = [r for r in records if r not in doomed]
    assert state(engine) == expected(kept)


def test_delete_series_and_study_down_to_an_empty_index(
    engine: Engine, records: list[InstanceRecord]
) -> None:
    with engine.begin() as conn:
        insert_instances(conn, records)
    one = records[0]
    with engine.begin() as conn:
        gone = delete_series(conn, one.study.StudyInstanceUID, one.series.SeriesInstanceUID)
        assert delete_series(conn, "1.2.3", one.series.SeriesInstanceUID) == []
    assert {g.SeriesInstanceUID for g in gone} == {one.series.SeriesInstanceUID}
    kept = [r for r in records if r.series != one.series]
    assert state(engine) == expected(kept)
    for study_uid in dict.fromkeys(r.study.StudyInstanceUID for r in records):
        with engine.begin() as conn:
            delete_study(conn, study_uid)
        kept = [r for r in kept if r.study.StudyInstanceUID != study_uid]
        assert state(engine) == expected(kept)
    assert state(engine) == expected([])
    with engine.begin() as conn:
        assert delete_study(conn, one.study.StudyInstanceUID) == []


def test_instances_of_returns_blob_envelopes_in_viewing_order(
    engine: Engine, records: list[InstanceRecord]
) -> None:
    shuffled = list(reversed(records))
    with engine.begin() as conn:
        insert_instances(conn, shuffled)
    study = records[0].study.StudyInstanceUID
    with engine.connect() as conn:
        rows = instances_of(conn, study)
        one_series = instances_of(conn, study, records[0].series.SeriesInstanceUID)
        one = instances_of(conn, study, sop_uid=records[1].instance.SOPInstanceUID)
        wrong_study = instances_of(conn, "1.2.3", sop_uid=records[1].instance.SOPInstanceUID)
    want = sorted(
        (r for r in records if r.study.StudyInstanceUID == study),
        key=lambda r: (r.series.SeriesNumber, r.instance.InstanceNumber),
    )
    assert [r.SOPInstanceUID for r in rows] == [w.instance.SOPInstanceUID for w in want]
    first = rows[0]
    source = want[0]
    assert (
        first.blob_name,
        first.size,
        first.sha256,
        first.kek_id,
        first.wrapped_key,
        first.sealed_header,
        first.TransferSyntaxUID,
    ) == (
        source.stored.blob_name,
        source.stored.size,
        source.stored.sha256,
        source.stored.kek_id,
        source.stored.wrapped_key,
        source.stored.sealed_header,
        source.instance.TransferSyntaxUID,
    )
    assert {r.SeriesInstanceUID for r in one_series} == {records[0].series.SeriesInstanceUID}
    assert [r.SOPInstanceUID for r in one] == [records[1].instance.SOPInstanceUID]
    assert wrong_study == []


def test_a_batch_costs_a_few_statements(engine: Engine) -> None:
    records = make_records(
        seed=11, patients=1, studies_per_patient=1, series_per_study=2, instances_per_series=50
    )
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        with engine.begin() as conn:
            insert_instances(conn, records[:50])  # a new patient, study and series
        new_hierarchy = len(statements)
        statements.clear()
        with engine.begin() as conn:
            insert_instances(conn, records[50:])  # a new series in a known study
        statements.clear()
        more = [with_instance_uid(r, uid(11, "more", i)) for i, r in enumerate(records[50:])]
        with engine.begin() as conn:
            insert_instances(conn, more)  # the steady state: a known series
        known = len(statements)
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert new_hierarchy <= 14, statements
    assert known <= 8, statements
    # Counters of a known series are added to, not recounted from the instances.
    assert not any("count(" in s.lower() or "sum(" in s.lower() for s in statements), statements


def test_counters_stay_right_through_any_mix_of_stores_replaces_and_deletes(
    engine: Engine,
) -> None:
    """Inserts add to the counters, replaces and deletes recount: whatever the order,
    every level ends equal to what its surviving instances say."""
    pool = make_records(
        seed=21, patients=2, studies_per_patient=2, series_per_study=2, instances_per_series=3
    )
    rng = random.Random(21)
    indexed: dict[str, InstanceRecord] = {}
    for step in range(60):
        absent = [r for r in pool if r.instance.SOPInstanceUID not in indexed]
        present = list(indexed.values())
        action = rng.choice(["one", "batch", "replace", "delete", "duplicate"])
        with engine.begin() as conn:
            if action in ("one", "batch") and absent:
                chosen = rng.sample(absent, 1 if action == "one" else min(len(absent), 5))
                insert_instances(conn, chosen)
                indexed.update((r.instance.SOPInstanceUID, r) for r in chosen)
            elif action == "replace" and present:
                target = rng.choice(present)
                newer = replace(target, stored=replace(target.stored,
                                                       blob_name=f"{step:032x}"))
                replace_instance(conn, newer)
                indexed[target.instance.SOPInstanceUID] = newer
            elif action == "delete" and present:
                doomed = rng.sample(present, min(len(present), rng.randint(1, 4)))
                delete_instances(conn, [r.instance.SOPInstanceUID for r in doomed])
                for r in doomed:
                    del indexed[r.instance.SOPInstanceUID]
        if action == "duplicate" and present:  # refused: its transaction changes nothing
            with pytest.raises(DuplicateInstanceError), engine.begin() as conn:
                insert_instances(conn, [*absent[:1], rng.choice(present)])
        assert state(engine) == expected(list(indexed.values())), (step, action)


def test_concurrent_single_instance_writers_keep_the_counters(engine: Engine) -> None:
    """Four writers storing one instance per transaction into the same new series,
    study and patient (as four associations do): each level counted once per instance,
    the series and study once each."""
    records = make_records(
        seed=22, patients=1, studies_per_patient=1, series_per_study=2, instances_per_series=12
    )
    errors: list[BaseException] = []

    def store(part: list[InstanceRecord]) -> None:
        try:
            for record in part:
                with write_transaction(engine) as conn:
                    insert_instances(conn, [record])
        except BaseException as exc:  # reported to the main thread
            errors.append(exc)

    writers = [threading.Thread(target=store, args=(records[i::4],)) for i in range(4)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    assert errors == []
    assert state(engine) == expected(records)


def _insert_slowly(
    engine: Engine,
    batch: list[InstanceRecord],
    inserted: threading.Event,
    errors: list[BaseException],
) -> None:
    try:
        with write_transaction(engine) as conn:
            insert_instances(conn, batch)
            inserted.set()
            time.sleep(0.3)  # keep the transaction open while the other one starts
    except BaseException as exc:  # reported to the main thread
        errors.append(exc)
        inserted.set()


def test_concurrent_transactions_creating_the_same_study(engine: Engine) -> None:
    records = make_records(
        seed=5, patients=1, studies_per_patient=1, series_per_study=1, instances_per_series=10
    )
    inserted = threading.Event()
    errors: list[BaseException] = []
    first = threading.Thread(target=_insert_slowly, args=(engine, records[:5], inserted, errors))
    first.start()
    inserted.wait(5)
    with write_transaction(engine) as conn:
        insert_instances(conn, records[5:])
    first.join()
    assert errors == []
    assert state(engine) == expected(records)


def test_concurrent_duplicate_instance_is_refused(engine: Engine) -> None:
    records = make_records(
        seed=6, patients=1, studies_per_patient=1, series_per_study=1, instances_per_series=2
    )
    inserted = threading.Event()
    errors: list[BaseException] = []
    first = threading.Thread(target=_insert_slowly, args=(engine, records, inserted, errors))
    first.start()
    inserted.wait(5)
    with pytest.raises(DuplicateInstanceError), write_transaction(engine) as conn:
        insert_instances(conn, records[1:])
    first.join()
    assert errors == []
    assert state(engine) == expected(records)
