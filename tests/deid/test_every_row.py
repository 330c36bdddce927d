"""Every row of Table E.1-1, at the top level and nested in a sequence, under every option.

A data set is built that holds every attribute the table lists (a valid value
for its VR from pydicom's dictionary; sequences get one item), once at the
top level and once inside an item of Referenced Image Sequence (whose
``X/Z/U*`` keeps it and walks it). After de-identification each occurrence
must be what the row says under the profile, read from the TSV by this test:
removed, emptied, a dummy, a new UID, kept, or cleaned.
"""

from __future__ import annotations

import copy
import warnings

import pytest
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from tests.deid.corpus import KEY_A, real_dataset, table_rows

from dicomvault.deid import Deidentifier, DeidOption, DeidProfile

COLUMNS = {
    DeidOption.RETAIN_SAFE_PRIVATE: "rtn_safe_private", DeidOption.RETAIN_UIDS: "rtn_uids",
    DeidOption.RETAIN_DEVICE_IDENTITY: "rtn_device_id",
    DeidOption.RETAIN_PATIENT_CHARACTERISTICS: "rtn_patient_chars",
    DeidOption.RETAIN_LONGITUDINAL_FULL_DATES: "rtn_long_full_dates",
    DeidOption.RETAIN_LONGITUDINAL_MODIFIED_DATES: "rtn_long_modified_dates",
    DeidOption.CLEAN_DESCRIPTORS: "clean_descriptors",
}
#: Compound codes resolved as docs/deid.md says.
COMPOUND = {"X/Z": "Z", "X/D": "D", "Z/D": "D", "X/Z/D": "D", "X/Z/U*": "U"}
TYPE2_KEPT_EMPTY = {0x300A00B2}
MAPPING = Deidentifier(KEY_A, DeidProfile())
NEST = 0x00081140  # Referenced Image Sequence
SKIP = {NEST, 0x00100010, 0x00100020}  # the carrier, and the pseudonymised patient name/ID


def _value(vr: str, number: int) -> object:
    vr = vr.split(" or ", maxsplit=1)[0]
    return {
        "AE": "AETITLE", "AS": "045Y", "CS": "VALUE", "DA": "20200131", "DS": "1.5",
        "DT": "20200131101010", "IS": "7", "TM": "101010", "UI": f"1.2.3.4.{number}",
        "UR": "http://example.org/x", "PN": f"DOE^JOHN{number}", "AT": 0x00100010,
        "FL": 1.5, "FD": 1.5, "SL": 7, "SS": 7, "UL": 7, "US": 7, "SV": 7, "UV": 7,
    }.get(vr, f"VALUE {number}" if vr in ("LO", "LT", "SH", "ST", "UC", "UT") else b"\x01" * 8)


def _rows() -> list[tuple[int, dict[str, str]]]:
    rows = []
    for row in table_rows():
        digits = row["tag"].strip("()").replace(",", "")
        if len(digits) == 8 and "X" not in digits.upper():
            rows.append((int(digits, 16), row))
    return rows


def _filled() -> Dataset:
    """Every table attribute with a value, in a real CT (kept as the carrier)."""
    carrier = real_dataset("CT_small.dcm")
    attributes = Dataset()
    for number, (tag, _) in enumerate(_rows()):
        vr = dictionary_VR(tag)
        if vr == "SQ":
            item = Dataset()
            item.CodeValue = f"C{number}"
            attributes.add_new(tag, "SQ", Sequence([item]))
        else:
            attributes.add_new(tag, vr.split(" or ")[0], _value(vr, number))
    for element in attributes:
        if int(element.tag) not in SKIP:
            carrier[element.tag] = copy.deepcopy(element)
    nested = copy.deepcopy(attributes)
    for tag in SKIP:
        if tag in nested:
            del nested[tag]
    carrier.add_new(NEST, "SQ", Sequence([nested]))
    return carrier


def _expected(row: dict[str, str], options: frozenset[DeidOption]) -> str:
    codes = {row[COLUMNS[o]] for o in options if row[COLUMNS[o]]}
    for code in ("K", "C", "X"):
        if code in codes:
            return code
    return COMPOUND.get(row["basic_profile"], row["basic_profile"])


def _check(where: str, tag: int, row: dict[str, str], code: str, before: Dataset,
           after: Dataset) -> None:
    label = f"{row['name']} {row['tag']} ({where}, expected {code})"
    if code == "X" and tag in TYPE2_KEPT_EMPTY:
        code = "Z"
    if code == "X":
        assert tag not in after, label
        return
    assert tag in after, label
    old, new = before[tag], after[tag]
    if code == "Z":
        assert new.is_empty, label
    elif code == "K":
        assert new.value == old.value, label
    elif new.VR == "SQ":  # D, U, C on a sequence: kept with de-identified items
        assert len(new.value) == len(old.value), label
    elif code == "U" or (code == "D" and new.VR == "UI"):
        mapped = MAPPING.remap_uid(str(old.value))  # the keyed map, whatever the options
        assert str(new.value) == mapped != str(old.value), label
    elif code == "D":
        assert not new.is_empty and new.value != old.value, label
    elif code == "C":
        if new.VR in ("DA", "DT"):
            assert new.value != old.value and len(str(new.value)) == len(str(old.value)), label
        elif new.VR == "TM" or tag == 0x00080201:  # whole-day shifts keep times; UTC offsets
            assert new.value == old.value, label
        else:  # text: each word kept, or replaced by * when it is an identity of the instance
            before_words, after_words = str(old.value).split(), str(new.value).split()
            assert len(before_words) == len(after_words), label
            assert all(a in (b, "*") for a, b in zip(after_words, before_words, strict=True))
    else:
        pytest.fail(f"unexpected action {code} for {label}")


OPTION_SETS = {
    "basic": frozenset(),
    "retain-uids+device+patient": frozenset({
        DeidOption.RETAIN_UIDS, DeidOption.RETAIN_DEVICE_IDENTITY,
        DeidOption.RETAIN_PATIENT_CHARACTERISTICS}),
    "full-dates+clean-descriptors": frozenset({
        DeidOption.RETAIN_LONGITUDINAL_FULL_DATES, DeidOption.CLEAN_DESCRIPTORS}),
    "modified-dates+safe-private": frozenset({
        DeidOption.RETAIN_LONGITUDINAL_MODIFIED_DATES, DeidOption.RETAIN_SAFE_PRIVATE}),
}


@pytest.mark.parametrize("options", list(OPTION_SETS))
def test_every_table_row_is_applied_at_top_level_and_nested(options: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # values chosen per VR, not per attribute meaning
        original = _filled()
    profile = DeidProfile(OPTION_SETS[options], allow_burned_in=True)
    outcome = Deidentifier(KEY_A, profile).deidentify(original)
    out = outcome.dataset
    assert out is not None
    nested_before, nested_after = original[NEST].value[0], out[NEST].value[0]
    checked = 0
    for tag, row in _rows():
        if tag in SKIP or tag >> 16 in (0x0000, 0x0002, 0x0004):
            continue  # command, meta and directory groups: checked nested below
        code = _expected(row, profile.options)
        _check("top level", tag, row, code, original, out)
        _check("nested", tag, row, code, nested_before, nested_after)
        checked += 1
    for tag, row in _rows():
        if tag >> 16 in (0x0000, 0x0002, 0x0004):
            _check("nested", tag, row, _expected(row, profile.options), nested_before,
                   nested_after)
    assert checked > 440
    reported = {(change.path, change.tag) for change in outcome.report}
    assert ("", "(0010,0030)") in reported
    assert ("ReferencedImageSequence[0].", "(0010,0030)") in reported
