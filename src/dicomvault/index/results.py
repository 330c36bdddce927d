"""Query results as pydicom data sets and as DICOM JSON (PS3.18 F.2).

A :class:`ResultRow` carries the values the index holds for one matching
patient, study, series or instance, and which attributes the response
returns. :func:`to_dataset` turns it into a :class:`pydicom.Dataset` with the
VRs of pydicom's data dictionary; :func:`to_dicom_json` into the DICOM JSON
model directly from the stored values (the same JSON pydicom's
``to_json_dict`` would write for :func:`to_dataset`, without building a data
set per row: a search answering 100 studies spent most of its time there);
:class:`DicomJsonWriter` writes a whole response's array as text.
Nothing is invented: an
attribute the response returns but the index holds no value for is present
with zero length, as QIDO-RS (PS3.18 10.6.3.3) and C-FIND (PS3.4 C.4.1.1.3.2)
both require. ``RetrieveURL`` is the door's business, not the index's.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

from pydicom.dataelem import DataElement, empty_value_for_VR
from pydicom.dataset import Dataset
from pydicom.jsonrep import convert_to_python_number
from pydicom.sequence import Sequence as DicomSequence
from pydicom.valuerep import PersonName

from dicomvault.dicom.json import keyword_info
from dicomvault.index.attributes import REQUEST_ATTRIBUTES, QueryLevel

Value = str | int | None


@dataclass(frozen=True, slots=True)
class ResultRow:
    """One match: the index's values by DICOM keyword and the keywords to return.

    ``values`` may hold more than is returned (e.g. the leaves of
    RequestAttributesSequence); a keyword in ``returned`` but not in
    ``values`` is one the index does not hold and is returned empty.
    """

    level: QueryLevel
    values: Mapping[str, Value]
    returned: tuple[str, ...]

    def get(self, keyword: str) -> Value:
        """The value of ``keyword``, ``None`` when empty or not held."""
        value = self.values.get(keyword)
        return None if value == "" else value


def _element_value(vr: str, multi_valued: bool, value: Value) -> Any:
    if value is None or value == "":
        return empty_value_for_VR(vr)
    if isinstance(value, int):
        return value if vr in {"US", "UL", "SS", "SL"} else str(value)
    if multi_valued and "\\" in value:
        return value.split("\\")
    return value


def _element(keyword: str, value: Value) -> DataElement:
    info = keyword_info(keyword)
    if info is None:
        raise KeyError(keyword)
    if info.vr == "SQ":
        return DataElement(info.tag, info.vr, DicomSequence())
    return DataElement(info.tag, info.vr, _element_value(info.vr, info.multi_valued, value))


def _request_attributes(row: ResultRow) -> DataElement:
    """RequestAttributesSequence (PS3.18 Table 10.6.3-4): one item if anything is held."""
    element = _element("RequestAttributesSequence", None)
    held = {keyword: row.get(keyword) for keyword in REQUEST_ATTRIBUTES}
    if any(value is not None for value in held.values()):
        item = Dataset()
        for keyword, value in held.items():
            item.add(_element(keyword, value))
        element.value.append(item)
    return element


def to_dataset(row: ResultRow) -> Dataset:
    """The returned attributes of ``row`` as a data set (values as stored, VRs from pydicom)."""
    dataset = Dataset()
    for keyword in row.returned:
        if keyword == "RequestAttributesSequence":
            dataset.add(_request_attributes(row))
        elif keyword_info(keyword) is not None:
            dataset.add(_element(keyword, row.values.get(keyword)))
    return dataset


_NUMBER_VRS = frozenset({"IS", "DS", "US", "UL", "SS", "SL", "FL", "FD", "SV", "UV"})
_TEXT_VRS = frozenset({"AE", "AS", "CS", "DA", "DT", "LO", "LT", "SH", "ST", "TM", "UC", "UI",
                       "UR", "UT"})


def _person_name_json(value: str) -> dict[str, str]:
    """One PN value as its component groups (PS3.18 F.2.2)."""
    if value and "=" not in value:
        return {"Alphabetic": value}  # one group: what PersonName(value) gives, cheaper
    components = PersonName(value).components
    groups = {"Alphabetic": components[0]}
    if len(components) > 1:
        groups["Ideographic"] = components[1]
    if len(components) > 2:
        groups["Phonetic"] = components[2]
    return groups


def _json_element(keyword: str, vr: str, multi: bool, value: Value) -> dict[str, Any]:
    element: dict[str, Any] = {"vr": vr}
    if value is None or value == "":
        return element
    if isinstance(value, int):
        element["Value"] = [value]
        return element
    values: list[Any] = value.split("\\") if multi and "\\" in value else [value]
    if vr == "PN":
        element["Value"] = [_person_name_json(item) for item in values]
    elif vr in _NUMBER_VRS:
        element["Value"] = convert_to_python_number(values, vr)
    else:
        element["Value"] = values
    return element


def _fields_json(row: ResultRow, keywords: tuple[str, ...]) -> dict[str, Any]:
    elements = []
    for keyword in keywords:
        info = keyword_info(keyword)
        if info is not None:
            elements.append((info.key, _json_element(keyword, info.vr, info.multi_valued,
                                                      row.values.get(keyword))))
    return dict(sorted(elements))


def _request_attributes_json(row: ResultRow) -> dict[str, Any]:
    """RequestAttributesSequence as :func:`_request_attributes` builds it, in DICOM JSON."""
    if all(row.get(keyword) is None for keyword in REQUEST_ATTRIBUTES):
        return {"vr": "SQ", "Value": []}
    return {"vr": "SQ", "Value": [_fields_json(row, tuple(REQUEST_ATTRIBUTES))]}


_PLAIN, _REQUEST, _OTHER = range(3)


@functools.lru_cache(maxsize=256)
def _json_plan(returned: tuple[str, ...]) -> tuple[tuple[str, str, str, bool, int], ...]:
    """(tag, keyword, VR, multi-valued, kind) of each returned attribute, in tag order.

    The same for every row of a search, so worked out once per set of returned
    attributes (bounded: ``includefield`` lets clients vary it).
    """
    plan = []
    for keyword in returned:
        info = keyword_info(keyword)
        if info is None:
            continue
        tag, vr, multi = info.key, info.vr, info.multi_valued
        if vr in _TEXT_VRS or vr in _NUMBER_VRS or vr == "PN":
            kind = _PLAIN
        elif keyword == "RequestAttributesSequence":
            kind = _REQUEST
        else:
            kind = _OTHER
        plan.append((tag, keyword, vr, multi, kind))
    return tuple(sorted(plan))


def to_dicom_json(row: ResultRow) -> dict[str, Any]:
    """The returned attributes of ``row`` in the DICOM JSON model (PS3.18 F.2)."""
    values = row.values
    result: dict[str, Any] = {}
    for tag, keyword, vr, multi, kind in _json_plan(row.returned):
        if kind == _PLAIN:
            result[tag] = _json_element(keyword, vr, multi, values.get(keyword))
        elif kind == _REQUEST:
            result[tag] = _request_attributes_json(row)
        else:
            result[tag] = _element(keyword, values.get(keyword)).to_json_dict(None, 1024)
    return result


#: What starlette's JSONResponse writes: UTF-8, no spaces, no NaN.
_dumps = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode
_string = json.encoder.encode_basestring  # C-accelerated where available


class _Layout(NamedTuple):
    """How a :class:`DicomJsonWriter` writes rows that return the same attributes."""

    plan: tuple[tuple[str, str, str, bool, int], ...]
    keywords: tuple[str, ...]
    #: Positions whose value is not one stored column (RequestAttributesSequence).
    special: tuple[int, ...]
    memos: list[dict[Any, str]]


class DicomJsonWriter:
    """Search results as one DICOM JSON array (PS3.18 F.2), written as text.

    The text is exactly ``json.dumps`` of :func:`to_dicom_json` of each row
    (with the ``extra`` elements after them), without a dict per attribute
    and a generic encoder walking them: the rows of one search repeat most
    values (every instance of a study carries the study's and its series'
    attributes), so each distinct element is encoded once per response and
    a row is mostly C-level look-ups of text already made.
    """

    def __init__(self) -> None:
        self._rows: list[str] = []
        # What the last row returned (the rows of one search share one tuple), its plan,
        # and one memo per planned attribute: value -> the element's text.
        self._returned: tuple[str, ...] | None = None
        self._layout: _Layout | None = None
        self._layouts: dict[tuple[str, ...], _Layout] = {}

    def _layout_of(self, returned: tuple[str, ...]) -> _Layout:
        if returned is self._returned and self._layout is not None:
            return self._layout
        layout = self._layouts.get(returned)
        if layout is None:
            plan = _json_plan(returned)
            keywords = tuple(keyword for _, keyword, _, _, _ in plan)
            special = tuple(i for i, entry in enumerate(plan) if entry[4] == _REQUEST)
            layout = self._layouts[returned] = _Layout(plan, keywords, special,
                                                       [{} for _ in plan])
        self._returned, self._layout = returned, layout
        return layout

    def add(self, row: ResultRow, extra: Mapping[str, tuple[str, str]] | None = None) -> None:
        """Append ``row``; ``extra`` maps a tag (8 hex digits) to (VR, one string value)
        for attributes the door adds, such as RetrieveURL."""
        plan, keywords, special, memos = self._layout_of(row.returned)
        values: list[Any] = list(map(row.values.get, keywords))
        for position in special:  # RequestAttributesSequence: keyed by its leaves' values
            values[position] = tuple(map(row.get, REQUEST_ATTRIBUTES))
        found: list[str | None] = list(map(dict.get, memos, values))
        if None in found:  # the first time this response meets a value: encode it once
            found = [text if text is not None else self._remember(
                memos[position], row, plan[position], values[position])
                for position, text in enumerate(found)]
        texts = cast(list[str], found)
        if extra:
            for tag, (vr, value) in extra.items():
                texts.append(f'"{tag}":{{"vr":"{vr}","Value":[{_string(value)}]}}')
        self._rows.append("{" + ",".join(texts) + "}")

    @staticmethod
    def _remember(memo: dict[Any, str], row: ResultRow, entry: tuple[str, str, str, bool, int],
                  value: Any) -> str:
        text = memo[value] = _element_text(row, entry, value)
        return text

    def __len__(self) -> int:
        return len(self._rows)

    def text(self) -> str:
        """The JSON array of every row added so far."""
        return "[" + ",".join(self._rows) + "]"


def _element_text(row: ResultRow, entry: tuple[str, str, str, bool, int], value: Any) -> str:
    """One attribute of ``row`` as DICOM JSON text, ``"tag":{...}``."""
    tag, keyword, vr, multi, kind = entry
    if kind == _PLAIN and type(value) is str and value and vr in _TEXT_VRS \
            and not (multi and "\\" in value):
        return f'"{tag}":{{"vr":"{vr}","Value":[{_string(value)}]}}'  # one string, as below
    if kind == _PLAIN and type(value) is int:
        return f'"{tag}":{{"vr":"{vr}","Value":[{value}]}}'
    if kind == _PLAIN:
        element = _json_element(keyword, vr, multi, value)
    elif kind == _REQUEST:
        element = _request_attributes_json(row)
    else:
        element = _element(keyword, value).to_json_dict(None, 1024)
    return f'"{tag}":' + _dumps(element)
