"""Canonical JSON per RFC 8785 (JSON Canonicalization Scheme), for our restricted types.

A ledger leaf is the canonical JSON of its event, so that the same event always
hashes to the same leaf and a verifier in any language can re-derive it.
Ledger events hold only strings, integers, booleans, null, arrays and objects
(no floats), so the two hard parts of JCS reduce to:

* numbers (RFC 8785 3.2.2.3): integers print in plain decimal, which is what
  ECMAScript's Number-to-String gives for every integer of magnitude below
  2**53; larger ones are refused because they cannot round-trip through an
  IEEE 754 double.
* strings (3.2.2.2): only ``"``, ``\\`` and controls below U+0020 are escaped,
  with the short forms ``\\b \\t \\n \\f \\r`` and lowercase ``\\u00xx``
  otherwise; everything else is written as UTF-8. Lone surrogates are refused
  (3.2.1: I-JSON, RFC 7493).
* object members are sorted by the UTF-16 code units of their names (3.2.3).

Pure standard library: the standalone verifier imports it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

#: The JSON values ledger events may contain.
JSONValue = str | int | bool | None | Sequence["JSONValue"] | Mapping[str, "JSONValue"]

_MAX_SAFE_INTEGER = 2**53 - 1
_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n",
                  "\f": "\\f", "\r": "\\r"}


#: A character that needs an escape or is refused; strings without one (hashes, UIDs,
#: names: nearly all) are written as they are, without a loop over their characters.
_SPECIAL = re.compile(r'["\\\x00-\x1f\ud800-\udfff]')


class CanonicalJSONError(ValueError):
    """The value cannot be written as canonical JSON (float, huge int, lone surrogate...)."""


def _string(value: str) -> str:
    if _SPECIAL.search(value) is None:
        return f'"{value}"'
    out = ['"']
    for char in value:
        if char in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[char])
        elif char < " ":
            out.append(f"\\u{ord(char):04x}")
        elif "\ud800" <= char <= "\udfff":
            raise CanonicalJSONError("string contains a lone surrogate (RFC 8785 3.2.1)")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _utf16_key(name: str) -> bytes:
    return name.encode("utf-16-be")


def _write(value: object, out: list[str]) -> None:
    # bool before int: True is an int in Python.
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        if abs(value) > _MAX_SAFE_INTEGER:
            raise CanonicalJSONError("integer outside the I-JSON range +/-(2**53 - 1)")
        out.append(str(value))
    elif isinstance(value, str):
        out.append(_string(value))
    elif isinstance(value, Mapping):
        names = list(value)
        if not all(isinstance(name, str) for name in names):
            raise CanonicalJSONError("object member names must be strings")
        out.append("{")
        for position, name in enumerate(sorted(names, key=_utf16_key)):
            if position:
                out.append(",")
            out.append(_string(name))
            out.append(":")
            _write(value[name], out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for position, item in enumerate(value):
            if position:
                out.append(",")
            _write(item, out)
        out.append("]")
    else:
        raise CanonicalJSONError(f"{type(value).__name__} is not allowed in canonical JSON")


def canonical_json(value: JSONValue) -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of ``value``."""
    out: list[str] = []
    _write(value, out)
    return "".join(out).encode("utf-8")


def parse_canonical_json(data: bytes) -> JSONValue:
    """Parse ``data`` and insist that it is already canonical.

    Used on leaves: the bytes that were hashed must be the only way to write
    what they say, so two readers cannot interpret one leaf differently
    (duplicate member names, floats and non-canonical spellings are refused).
    """

    def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
        result = dict(pairs)
        if len(result) != len(pairs):
            raise CanonicalJSONError("duplicate object member name")
        return result

    def _no_floats(text: str) -> object:
        raise CanonicalJSONError(f"number {text} is not an integer")

    try:
        text = data.decode("utf-8")
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_float=_no_floats,
                           parse_constant=_no_floats)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CanonicalJSONError(f"not JSON: {exc}") from exc
    if canonical_json(value) != data:
        raise CanonicalJSONError("JSON is not in RFC 8785 canonical form")
    result: JSONValue = value
    return result
