"""Query results as pydicom data sets and as DICOM JSON (PS3.18 F.2).

A :class:`ResultRow` carries the values the index holds for one matching
patient, study, series or instance, and which attributes the response
returns. :func:`to_dataset` turns it into a :class:`pydicom.Dataset` with the
VRs of pydicom's data dictionary; :func:`to_dicom_json` into the DICOM JSON
model through pydicom's own ``to_json_dict``. Nothing is invented: an
attribute the response returns but the index holds no value for is present
with zero length, as QIDO-RS (PS3.18 10.6.3.3) and C-FIND (PS3.4 C.4.1.1.3.2)
both require. ``RetrieveURL`` is the door's business, not the index's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydicom.datadict import dictionary_VM, dictionary_VR, tag_for_keyword
from pydicom.dataelem import DataElement, empty_value_for_VR
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

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


def _element_value(keyword: str, value: Value) -> Any:
    vr = str(dictionary_VR(keyword))
    if value is None or value == "":
        return empty_value_for_VR(vr)
    if isinstance(value, int):
        return value if vr in {"US", "UL", "SS", "SL"} else str(value)
    if str(dictionary_VM(keyword)) != "1" and "\\" in value:
        return value.split("\\")
    return value


def _element(keyword: str, value: Value) -> DataElement:
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise KeyError(keyword)
    vr = str(dictionary_VR(keyword))
    if vr == "SQ":
        return DataElement(tag, vr, DicomSequence())
    return DataElement(tag, vr, _element_value(keyword, value))


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
        elif tag_for_keyword(keyword) is not None:
            dataset.add(_element(keyword, row.values.get(keyword)))
    return dataset


def to_dicom_json(row: ResultRow) -> dict[str, Any]:
    """The returned attributes of ``row`` in the DICOM JSON model (PS3.18 F.2)."""
    json_dict: dict[str, Any] = to_dataset(row).to_json_dict()
    return json_dict
