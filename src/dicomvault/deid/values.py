"""Replacement values: dummies per VR, shifted dates, cleaned text.

Dummies (action D) are fixed and obviously artificial, valid for their VR, so
a Type 1 attribute stays present without saying anything about anyone.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any

from pydicom.multival import MultiValue

#: The dummy of each VR (action D). Binary VRs get two zero bytes.
_DUMMY_TEXT = "ANONYMOUS"
DUMMIES: dict[str, Any] = {
    "AE": _DUMMY_TEXT, "AS": "000Y", "CS": _DUMMY_TEXT, "DA": "19000101",
    "DS": "0", "DT": "19000101000000", "IS": "0", "LO": _DUMMY_TEXT, "LT": _DUMMY_TEXT,
    "PN": _DUMMY_TEXT + "^", "SH": _DUMMY_TEXT, "ST": _DUMMY_TEXT, "TM": "000000",
    "UC": _DUMMY_TEXT, "UR": "http://example.invalid/", "UT": _DUMMY_TEXT,
    "FL": 0.0, "FD": 0.0, "SL": 0, "SS": 0, "UL": 0, "US": 0, "SV": 0, "UV": 0, "AT": 0,
}
_BINARY_DUMMY = b"\x00\x00"

TEMPORAL_VRS = frozenset({"DA", "DT", "TM"})
TEXT_VRS = frozenset({"LO", "LT", "SH", "ST", "UC", "UT", "PN"})


def dummy_for(vr: str) -> Any:
    """The dummy value of ``vr`` (binary and unknown VRs: two zero bytes)."""
    return DUMMIES.get(vr, _BINARY_DUMMY)


def _values(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    if isinstance(value, list | tuple | MultiValue):
        return list(value)
    return [value]  # str, bytes, PersonName, numbers: one value


def _shift_one(text: str, days: int) -> str:
    """Move the YYYYMMDD prefix of a DA or DT back by ``days``; other parts stay."""
    text = str(text).strip()
    if len(text) < 8 or not text[:8].isdigit():
        return str(DUMMIES["DT" if len(text) > 8 else "DA"])[: max(len(text), 8)]
    try:
        day = dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return str(DUMMIES["DA"]) + text[8:]
    try:
        shifted = day - dt.timedelta(days=days)
    except OverflowError:
        shifted = dt.date(1, 1, 1)
    return f"{shifted.year:04d}{shifted.month:02d}{shifted.day:02d}" + text[8:]


def shift_dates(value: Any, vr: str, days: int) -> Any:
    """Action C for a temporal attribute under Modified Dates (PS3.15 E.3.6).

    Dates (DA, and the date part of DT) move back by the patient's fixed
    number of days, so intervals between a patient's events are exact; times
    of day (TM) are unchanged since the shift is whole days.
    """
    if vr == "TM":
        return value
    shifted = [_shift_one(item, days) for item in _values(value)]
    if not shifted:
        return value
    return shifted[0] if len(shifted) == 1 else shifted


def identifying_words(values: Iterable[Any]) -> list[str]:
    """Words that must not survive cleaning: parts of names, IDs, dates of the instance."""
    words: set[str] = set()
    for value in values:
        for item in _values(value):
            text = str(item)
            for word in re.split(r"[\^=\s,]+", text):
                if len(word) >= 2:
                    words.add(word)
            if len(text.strip()) >= 2:
                words.add(text.strip())
    return sorted(words, key=len, reverse=True)


def clean_text(value: Any, words: list[str]) -> Any:
    """Action C for free text: every identifying word of the instance becomes ``*``.

    This is what a program can promise about descriptors: the identities the
    data set itself names (patient's names and IDs, accession number, birth
    date, institution, staff names) do not survive in them. Text that
    identifies someone the data set does not name is beyond it (docs/deid.md).
    """
    cleaned = []
    for item in _values(value):
        text = str(item)
        for word in words:
            # whole words only: a patient called Ann leaves "SCANNER" alone
            text = re.sub(rf"(?<![0-9A-Za-z]){re.escape(word)}(?![0-9A-Za-z])", "*", text,
                          flags=re.IGNORECASE)
        cleaned.append(text)
    if not cleaned:
        return value
    return cleaned[0] if len(cleaned) == 1 else cleaned
