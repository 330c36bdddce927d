"""Every matching rule of PS3.4 C.2.2.2 / PS3.18 8.3.4, against a real database."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from sqlalchemy.engine import Engine
from tests.index.factories import make_records, stored_object, uid

from dicomvault.errors import InvalidInputError
from dicomvault.index import InstanceRecord, Query, QueryLevel, insert_instances, run_query
from dicomvault.index.query import count_query

CT = "1.2.840.10008.5.1.4.1.1.2"
SR = "1.2.840.10008.5.1.4.1.1.88.11"
_BASE = make_records(
    seed=40, patients=1, studies_per_patient=1, series_per_study=1, instances_per_series=1
)[0]


def record(
    n: int,
    *,
    patient_id: str,
    name: str,
    study: int,
    date: str = "20240301",
    time: str = "101500",
    modality: str = "CT",
    series_no: int = 1,
    sop_class: str = CT,
    referring: str = "",
    accession: str = "",
    description: str = "",
) -> InstanceRecord:
    sop_uid = uid(40, "i", n)
    return replace(
        _BASE,
        patient=replace(
            _BASE.patient, PatientID=patient_id, PatientName=name, IssuerOfPatientID=""
        ),
        study=replace(
            _BASE.study,
            StudyInstanceUID=uid(40, "st", study),
            StudyDate=date,
            StudyTime=time,
            ReferringPhysicianName=referring,
            AccessionNumber=accession or f"ACC{study}",
            StudyDescription=description,
        ),
        series=replace(
            _BASE.series,
            SeriesInstanceUID=uid(40, "se", study, series_no),
            Modality=modality,
            SeriesNumber=series_no,
        ),
        instance=replace(
            _BASE.instance, SOPInstanceUID=sop_uid, SOPClassUID=sop_class, InstanceNumber=n
        ),
        stored=stored_object(40, sop_uid),
    )


WORLD = [
    record(
        1,
        patient_id="P1",
        name="ADAMS^JOHN",
        study=1,
        date="20240105",
        time="0830",
        referring="House^Gregory",
        accession="A_1%",
    ),
    record(
        2,
        patient_id="P1",
        name="ADAMS^JOHN",
        study=1,
        date="20240105",
        time="0830",
        modality="SR",
        series_no=2,
        sop_class=SR,
    ),
    record(3, patient_id="P2", name="John^Adams^^", study=2, date="20240110", time="2359"),
    record(
        4,
        patient_id="P3",
        name="DOE^JANE=ドウ^ジェーン",
        study=3,
        date="20240201",
        time="120000",
        modality="MR",
    ),
    record(5, patient_id="p1", name="DOERING^JANE", study=4, date="", time="", modality="US"),
    record(
        6,
        patient_id="P4",
        name="VAN DER BERG^ANNA",
        study=5,
        date="20240131",
        time="235959.5",
        modality="MR",
        description="KNEE!",
    ),
    record(
        7,
        patient_id="P4",
        name="VAN DER BERG^ANNA",
        study=5,
        date="20240131",
        time="235959.5",
        modality="MR",
        series_no=1,
    ),
]


@pytest.fixture
def world(engine: Engine) -> Iterator[Engine]:
    with engine.begin() as conn:
        insert_instances(conn, WORLD)
    yield engine


def study_ids(
    engine: Engine, *params: tuple[str, str], level: QueryLevel = QueryLevel.STUDY, **scope: str
) -> set[str]:
    """The study numbers (as in WORLD) whose results match."""
    query = Query.from_qido_params(level, list(params), **scope)
    with engine.connect() as conn:
        rows = run_query(conn, query)
    numbers = {uid(40, "st", n): n for n in range(1, 6)}
    return {str(numbers[str(row.values["StudyInstanceUID"])]) for row in rows}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ((), "12345"),
        ((("PatientID", "P1"),), "1"),
        ((("PatientID", "p1"),), "4"),  # case-sensitive outside PN
        ((("PatientID", "*"),), "12345"),
        ((("PatientID", ""),), "12345"),
        ((("PatientID", "P?"),), "1235"),
        ((("AccessionNumber", "A_1%"),), "1"),  # % and _ in data match literally
        ((("AccessionNumber", "A?1*"),), "1"),
        ((("AccessionNumber", "A%*"),), ""),
        ((("StudyDescription", "KNEE!"),), "5"),
        ((("StudyDescription", "KN*!"),), "5"),
    ],
)
def test_single_value_universal_and_wildcard_matching(
    world: Engine, params: tuple[tuple[str, str], ...], expected: str
) -> None:
    assert study_ids(world, *params) == set(expected)


@pytest.mark.parametrize(
    ("name", "fuzzy", "expected"),
    [
        ("adams^john", "false", "1"),  # PN is case-insensitive
        ("ADAMS^JOHN^^", "false", "1"),  # trailing empty components ignored
        ("JOHN^ADAMS", "false", "2"),
        ("ADAMS", "false", ""),  # single value matching is on the whole name
        ("DOE*", "false", "34"),
        ("do?^jane", "false", "3"),  # the alphabetic group of a multi-group name
        ("DOE^JANE=ドウ^ジェーン", "false", "3"),
        ("*ジェーン", "false", "3"),
        ("ADAMS", "true", "12"),  # fuzzy: a prefix of any component
        ("ad^jo", "true", "12"),
        ("DAMS", "true", ""),
        ("BERG", "true", ""),  # components, not words
        ("van^ann", "true", "5"),
        ("ジェ", "true", "3"),
    ],
)
def test_person_name_matching(world: Engine, name: str, fuzzy: str, expected: str) -> None:
    assert study_ids(world, ("PatientName", name), ("fuzzymatching", fuzzy)) == set(expected)


def test_referring_physician_name_matches_case_insensitively(world: Engine) -> None:
    assert study_ids(world, ("ReferringPhysicianName", "house^greg*")) == {"1"}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ((("StudyDate", "20240105"),), "1"),
        ((("StudyDate", "20240105-20240131"),), "125"),
        ((("StudyDate", "20240131-"),), "35"),
        ((("StudyDate", "-20240110"),), "12"),  # an empty date is not in any range
        ((("StudyTime", "0830-1200"),), "13"),
        ((("StudyTime", "-12"),), "13"),  # an upper bound covers every time it prefixes
        ((("StudyTime", "2359-"),), "25"),
        # Combined (PS3.4 C.2.2.2.5.2): from 2024-01-10 23:00 to 2024-01-31 23:59.
        ((("StudyDate", "20240110-20240131"), ("StudyTime", "2300-2359")), "25"),
        ((("StudyDate", "20240105-20240110"), ("StudyTime", "0900-2358")), ""),
        ((("StudyDate", "20240105-"), ("StudyTime", "0831-")), "235"),
        # A single date with a time range is not combined.
        ((("StudyDate", "20240131"), ("StudyTime", "1000-1100")), ""),
    ],
)
def test_date_and_time_range_matching(
    world: Engine, params: tuple[tuple[str, str], ...], expected: str
) -> None:
    assert study_ids(world, *params) == set(expected)


@pytest.mark.parametrize(
    "params",
    [
        (("StudyDate", "2024-01-01"),),
        (("StudyDate", "20240101-20240102-20240103"),),
        (("StudyDate", "-"),),
        (("StudyTime", "8:30"),),
        (("StudyInstanceUID", "1.2.*"),),
        (("SeriesNumber", "one"),),
        (("SeriesNumber", "99999999999"),),
        (("StudyInstanceUID", ","),),
    ],
)
def test_malformed_values_are_refused(world: Engine, params: tuple[tuple[str, str], ...]) -> None:
    level = QueryLevel.SERIES if params[0][0] == "SeriesNumber" else QueryLevel.STUDY
    with pytest.raises(InvalidInputError):
        study_ids(world, *params, level=level)


def test_uid_list_matching_with_backslash_and_comma(world: Engine) -> None:
    one, three = uid(40, "st", 1), uid(40, "st", 3)
    assert study_ids(world, ("StudyInstanceUID", f"{one}\\{three}")) == {"1", "3"}
    assert study_ids(world, ("StudyInstanceUID", f"{one},{three}")) == {"1", "3"}
    assert study_ids(world, ("0020000D", three)) == {"3"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [("MR", "35"), ("SR", "1"), ("CT\\US", "124"), ("CT,US", "124"), ("?R", "135"), ("NM", "")],
)
def test_modalities_in_study_matches_any_series(world: Engine, value: str, expected: str) -> None:
    assert study_ids(world, ("ModalitiesInStudy", value)) == set(expected)


def test_sop_classes_in_study(world: Engine) -> None:
    assert study_ids(world, ("SOPClassesInStudy", SR)) == {"1"}
    query = Query.from_qido_params(
        QueryLevel.STUDY, [("PatientID", "P1"), ("includefield", "SOPClassesInStudy")]
    )
    with world.connect() as conn:
        (row,) = run_query(conn, query)
    assert row.values["SOPClassesInStudy"] == "\\".join(sorted([CT, SR]))


def test_study_attributes_constrain_series_and_instance_queries(world: Engine) -> None:
    series_rows = study_ids(
        world, ("StudyDate", "20240105"), ("Modality", "SR"), level=QueryLevel.SERIES
    )
    assert series_rows == {"1"}
    assert study_ids(
        world, ("PatientName", "van*"), ("SeriesNumber", "1"), level=QueryLevel.IMAGE
    ) == {"5"}
    query = Query.from_qido_params(QueryLevel.SERIES, [], study_uid=uid(40, "st", 1))
    with world.connect() as conn:
        assert [row.values["Modality"] for row in run_query(conn, query)] == ["CT", "SR"]
        scoped = Query.from_qido_params(
            QueryLevel.IMAGE,
            [("InstanceNumber", "2")],
            study_uid=uid(40, "st", 1),
            series_uid=uid(40, "se", 1, 2),
        )
        assert [r.values["SOPInstanceUID"] for r in run_query(conn, scoped)] == [uid(40, "i", 2)]
        wrong = Query.from_qido_params(
            QueryLevel.IMAGE, [], study_uid=uid(40, "st", 2), series_uid=uid(40, "se", 1, 2)
        )
        assert run_query(conn, wrong) == []


def test_patient_level_queries(world: Engine) -> None:
    query = Query(QueryLevel.PATIENT, filters={"PatientName": "*a*"})
    with world.connect() as conn:
        rows = run_query(conn, query)
    by_id = {row.values["PatientID"]: row.values for row in rows}
    assert set(by_id) == {"P1", "P2", "P3", "p1", "P4"}
    assert by_id["P1"]["NumberOfPatientRelatedStudies"] == 1
    assert by_id["P1"]["NumberOfPatientRelatedSeries"] == 2
    assert by_id["P4"]["NumberOfPatientRelatedInstances"] == 2


def test_limit_offset_page_through_in_a_stable_order(engine: Engine) -> None:
    records = make_records(
        seed=41, patients=6, studies_per_patient=4, series_per_study=1, instances_per_series=1
    )
    with engine.begin() as conn:
        insert_instances(conn, records)
        everything = run_query(conn, Query(QueryLevel.STUDY))
        pages = [
            run_query(conn, Query(QueryLevel.STUDY, limit=5, offset=offset))
            for offset in range(0, 30, 5)
        ]
        assert count_query(conn, Query(QueryLevel.STUDY, limit=5, offset=5)) == 24
        assert (
            count_query(
                conn, Query(QueryLevel.STUDY, filters={"PatientID": records[0].patient.PatientID})
            )
            == 4
        )
    paged = [row.values["StudyInstanceUID"] for page in pages for row in page]
    assert paged == [row.values["StudyInstanceUID"] for row in everything]
    assert len(paged) == len(set(paged)) == 24
    keys = [(row.values["StudyDate"], row.values["StudyTime"]) for row in everything]
    assert keys == sorted(keys, reverse=True)
    assert [len(page) for page in pages] == [5, 5, 5, 5, 4, 0]


def test_series_and_instances_are_ordered_by_their_numbers(engine: Engine) -> None:
    records = make_records(
        seed=42, patients=1, studies_per_patient=1, series_per_study=4, instances_per_series=5
    )
    study = records[0].study.StudyInstanceUID
    with engine.begin() as conn:
        insert_instances(conn, list(reversed(records)))
        series_numbers = [
            r.values["SeriesNumber"]
            for r in run_query(conn, Query(QueryLevel.SERIES, study_uid=study))
        ]
        numbers = [
            r.values["InstanceNumber"]
            for r in run_query(
                conn,
                Query(
                    QueryLevel.IMAGE,
                    study_uid=study,
                    series_uid=records[0].series.SeriesInstanceUID,
                    limit=3,
                    offset=1,
                ),
            )
        ]
    assert series_numbers == [1, 2, 3, 4]
    assert numbers == [2, 3, 4]
