"""Replacement values: properties of date shifts, UIDs and cleaning, and the public surface."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st
from pydicom.uid import UID
from tests.deid.corpus import KEY_A

import dicomvault.deid
from dicomvault.deid.pseudonyms import MAX_SHIFT_DAYS, Pseudonymizer
from dicomvault.deid.values import clean_text, identifying_words, shift_dates

DATES = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2100, 12, 31))


def _da(day: dt.date) -> str:
    return day.strftime("%Y%m%d")


@given(DATES, DATES, st.integers(min_value=1, max_value=MAX_SHIFT_DAYS))
def test_a_shift_keeps_every_interval(first: dt.date, second: dt.date, days: int) -> None:
    a, b = shift_dates(_da(first), "DA", days), shift_dates(_da(second), "DA", days)
    parse = lambda text: dt.datetime.strptime(text, "%Y%m%d").date()  # noqa: E731
    assert parse(b) - parse(a) == second - first
    assert first - parse(a) == dt.timedelta(days=days)


@given(DATES, st.integers(0, 23), st.integers(0, 59))
def test_datetime_shift_moves_the_date_and_keeps_the_time(day: dt.date, hour: int,
                                                          minute: int) -> None:
    value = f"{_da(day)}{hour:02d}{minute:02d}00.000000+0100"
    shifted = shift_dates(value, "DT", 10)
    assert shifted[8:] == value[8:]
    assert shifted[:8] == _da(day - dt.timedelta(days=10))
    assert shift_dates("101500", "TM", 10) == "101500"


@given(st.text(min_size=1, max_size=80))
def test_any_uid_maps_to_a_valid_uid_under_each_root(original: str) -> None:
    for root in ("2.25", "1.2.826.0.1.3680043.10.1291.99999999999"):
        mapped = Pseudonymizer(KEY_A, root).uid(original)
        assert UID(mapped).is_valid and mapped.startswith(root + ".") and len(mapped) <= 64
        assert Pseudonymizer(KEY_A, root).uid(original) == mapped


@given(st.text(min_size=1, max_size=30), st.text(min_size=1, max_size=30))
def test_distinct_patients_get_distinct_pseudonyms(a: str, b: str) -> None:
    p = Pseudonymizer(KEY_A)
    assert (p.patient(a) == p.patient(b)) == (a == b)


def test_cleaning_removes_whole_identifying_words_only() -> None:
    words = identifying_words(["DOE^ANN", "MRN12345"])
    cleaned = clean_text("Ann Doe, MRN12345: SCANNER protocol for doe", words)
    assert cleaned == "* *, *: SCANNER protocol for *"


def test_public_surface() -> None:
    """What sharing and the CLI import: a locked, documented list."""
    assert sorted(dicomvault.deid.__all__) == [
        "Action", "AttributeChange", "DeidOption", "DeidOutcome", "DeidProfile",
        "Deidentifier", "generate_key", "part10_bytes", "read_key_file", "write_key_file"]
    assert [option.value for option in dicomvault.deid.DeidOption] == [
        "retain-longitudinal-full-dates", "retain-longitudinal-modified-dates",
        "retain-patient-characteristics", "retain-device-identity", "retain-uids",
        "retain-safe-private", "clean-descriptors"]
