"""RFC 8785 canonical JSON for the value types ledger events use."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dicomvault.ledger.canonical import CanonicalJSONError, canonical_json, parse_canonical_json


def test_rfc8785_string_and_literal_example() -> None:
    # RFC 8785 3.2.2: the "literals" and "string" members of the sample input
    # (its numbers are floats, which ledger events never hold).
    value = {"literals": [None, True, False],
             "string": "\u20ac$\u000f\u000aA'\u0042\u0022\u005c\\\"/"}
    assert canonical_json(value) == (
        '{"literals":[null,true,false],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    ).encode()


def test_rfc8785_property_sorting_example() -> None:
    # RFC 8785 3.2.3: members sorted by UTF-16 code units, so U+1F600 (a surrogate
    # pair, D83D DE00) sorts before U+FB33 although its code point is larger.
    value = {"\u20ac": "Euro Sign", "\r": "Carriage Return",
             "\ufb33": "Hebrew Letter Dalet With Dagesh",
             "1": "One", "\U0001f600": "Emoji: Grinning Face", "\u0080": "Control",
             "\u00f6": "Latin Small Letter O With Diaeresis"}
    assert list(json.loads(canonical_json(value))) == [
        "\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


def test_control_characters_use_short_escapes_or_lowercase_hex() -> None:
    assert canonical_json("\b\t\n\f\r\x00\x1f\x7f") == b'"\\b\\t\\n\\f\\r\\u0000\\u001f\x7f"'


@pytest.mark.parametrize("bad", [1.5, 2**53, -(2**53), "\ud800", {1: "x"}, b"bytes"])
def test_values_without_a_canonical_form_are_refused(bad: object) -> None:
    with pytest.raises(CanonicalJSONError):
        canonical_json(bad)  # type: ignore[arg-type]


def test_parse_refuses_non_canonical_duplicate_and_float_input() -> None:
    assert parse_canonical_json(b'{"a":1,"b":[true]}') == {"a": 1, "b": [True]}
    for data in (b'{"b":1,"a":2}', b'{"a": 1}', b'{"a":1,"a":1}', b'{"a":1.0}', b'"\\u00e9"'):
        with pytest.raises(CanonicalJSONError):
            parse_canonical_json(data)


basic_plane = st.characters(max_codepoint=0xFFFF, exclude_categories=["Cs"])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(basic_plane),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.text(basic_plane, max_size=5),
        children, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_agrees_with_sorted_compact_json_for_basic_plane_text(value: object) -> None:
    # Within the BMP, UTF-16 order is code point order, and Python's json escapes
    # exactly what JCS escapes when ensure_ascii is off.
    expected = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    assert canonical_json(value) == expected.encode()  # type: ignore[arg-type]
    assert parse_canonical_json(expected.encode()) == value
