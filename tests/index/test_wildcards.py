"""Property: SQL wildcard matching agrees with a plain Python reference (PS3.4 C.2.2.2.4).

Data and patterns are random strings over an alphabet rich in characters that
are special to SQL LIKE (``%``, ``_``, the escape ``!``), to DICOM (``\\``,
``^``, ``=``) or to case folding (``ß``, ``İ``, ``Σ``), so escaping and
case-insensitive PN matching are exercised on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from dicomvault.index import Query, QueryLevel, run_query
from dicomvault.index.matching import normalize_person_name
from dicomvault.index.schema import patients

ALPHABET = "aAbB%_!\\^=*?ßİΣσ. 1"
values = st.text(alphabet=ALPHABET.replace("*", "").replace("?", ""), max_size=8)
patterns = st.text(alphabet=ALPHABET, max_size=8)


def fnmatch(pattern: str, value: str) -> bool:
    """DICOM wildcards by regular expression: ``*`` any run, ``?`` one character."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.DOTALL) is not None


def reference(keyword: str, pattern: str, value: str) -> bool:
    pattern = pattern.strip()
    if pattern in {"", "*"}:
        return True
    if keyword == "PatientID":
        return fnmatch(pattern, value) if "*" in pattern or "?" in pattern else pattern == value
    query, stored = normalize_person_name(pattern), normalize_person_name(value)
    whole = fnmatch(query, stored) if "*" in query or "?" in query else query == stored
    # A query without "=" also matches a name that carries more component groups.
    return whole or ("=" not in query and fnmatch(query + "=*", stored))


def check(engine: Engine, keyword: str, data: list[str], pattern: str) -> None:
    rows = [
        {
            "PatientID": value if keyword == "PatientID" else f"id{i}",
            "IssuerOfPatientID": str(i),
            "PatientName": value,
            "PatientName_norm": normalize_person_name(value),
            "PatientBirthDate": "",
            "PatientSex": "",
            "NumberOfPatientRelatedStudies": 0,
            "NumberOfPatientRelatedSeries": 0,
            "NumberOfPatientRelatedInstances": 0,
        }
        for i, value in enumerate(data)
    ]
    with engine.connect() as conn, conn.begin() as transaction:
        conn.execute(patients.insert(), rows)
        found = run_query(conn, Query(QueryLevel.PATIENT, filters={keyword: pattern}))
        transaction.rollback()
    got = sorted(str(row.values["IssuerOfPatientID"]) for row in found)
    want = sorted(str(i) for i, value in enumerate(data) if reference(keyword, pattern, value))
    assert got == want, (pattern, data)


_settings = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@_settings
@given(data=st.lists(values, min_size=1, max_size=6), pattern=patterns)
def test_wildcards_on_case_sensitive_strings(engine: Engine, data: list[str], pattern: str) -> None:
    check(engine, "PatientID", data, pattern)


@_settings
@given(data=st.lists(values, min_size=1, max_size=6), pattern=patterns)
def test_wildcards_on_person_names(engine: Engine, data: list[str], pattern: str) -> None:
    check(engine, "PatientName", data, pattern)


@_settings
@given(data=st.lists(values, min_size=1, max_size=6), picks=st.data())
def test_patterns_derived_from_the_data_find_it(
    engine: Engine, data: list[str], picks: st.DataObject
) -> None:
    """Patterns made by hiding parts of a stored value must find that value."""
    target = picks.draw(st.sampled_from(data))
    pattern = "".join(picks.draw(st.sampled_from([c, "?", "*" + c, c + "*"])) for c in target)
    check(engine, "PatientID", data, pattern)
