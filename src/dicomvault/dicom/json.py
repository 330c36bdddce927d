"""The DICOM JSON Model (PS3.18 Annex F) for WADO-RS metadata, with bulk data by URI.

WADO-RS metadata (PS3.18 10.4.1.1.2) is the instance's attributes in the
JSON model of PS3.18 F.2, except that Pixel Data and other large binary
values are replaced by a ``BulkDataURI`` (F.2.6) that the client fetches from
the bulkdata resource (10.4.1.1.5). Element values are encoded by pydicom's
``DataElement.to_json_dict``; this module walks the data set itself so that
every bulk value gets a URI that says where it sits:

``{root}/{tag}``
    a top-level attribute, e.g. ``.../bulk/7FE00010``;
``{root}/{sequence tag}/{item}/{tag}``
    inside item ``item`` (1-based, as DICOM numbers items and frames) of a
    sequence, nesting as deep as the data set does, e.g.
    ``.../bulk/00282000/1/00283006``.

Tags are the 8 upper-case hex digits JSON uses as keys. :func:`bulk_data_paths`
lists the paths one data set produces and :func:`bulk_value` resolves a path
back to bytes, so the metadata and bulkdata resources share one scheme.

A value becomes bulk data when its VR is binary (OB, OD, OF, OL, OV, OW, UN)
and it is longer than the threshold; Pixel Data (and Float / Double Float
Pixel Data) always does when a URI can be given, since PS3.18 10.4.1.1.2 keeps
pixel data out of metadata. Group Length attributes (gggg,0000) are left out:
they describe a binary encoding the JSON does not have (PS3.5 7.2).

Speed (measured on this project's 2-core machine): 1-5 ms per freshly read
CT/MR/RT header, the same as pydicom's own ``Dataset.to_json_dict`` since
most of it is pydicom converting raw elements; a 50-instance CT series takes
about 0.25 s. ``tests/dicom/test_json.py`` keeps it under a generous bound.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydicom.datadict import dictionary_VM, dictionary_VR, tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.filewriter import correct_ambiguous_vr_element
from pydicom.tag import BaseTag, Tag
from pydicom.uid import UID

from dicomvault.errors import NotFoundError

log = logging.getLogger(__name__)

DEFAULT_BULK_THRESHOLD = 1024
PIXEL_DATA_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})
BINARY_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})
_WORD_SIZE = {"OW": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8}

BulkDataURI = Callable[[str], str]


@dataclass(frozen=True, slots=True)
class KeywordInfo:
    """What building an element from a dictionary keyword needs."""

    tag: int
    key: str  # the tag as DICOM JSON keys it: 8 upper-case hex digits
    vr: str
    multi_valued: bool


@functools.cache
def keyword_info(keyword: str) -> KeywordInfo | None:
    """The data dictionary's entry for ``keyword`` (None if it is not one), looked up
    once: building responses element by element, the three dictionary lookups per
    element were most of the time (C-FIND matches, QIDO-RS, STOW-RS responses)."""
    tag = tag_for_keyword(keyword)
    if tag is None:
        return None
    return KeywordInfo(tag, f"{tag:08X}", str(dictionary_VR(keyword)),
                       str(dictionary_VM(keyword)) != "1")


def _key(tag: BaseTag) -> str:
    return f"{int(tag):08X}"


def _resolved(elem: DataElement, ds: Dataset) -> DataElement:
    """An element whose VR pydicom could not settle ("OB or OW"...), settled from its data set."""
    if " or " in elem.VR:
        corrected = correct_ambiguous_vr_element(elem, ds, True)
        if isinstance(corrected, DataElement):
            return corrected
    return elem


def _becomes_bulk(elem: DataElement, threshold: int) -> bool:
    if elem.VR not in BINARY_VRS or elem.is_empty:
        return False
    return int(elem.tag) in PIXEL_DATA_TAGS or len(elem.value) > threshold


def _elements(ds: Dataset, prefix: str) -> Iterator[tuple[str, DataElement]]:
    for elem in ds:
        if elem.tag.element == 0:
            continue
        yield f"{prefix}{_key(elem.tag)}", _resolved(elem, ds)


def _to_json(ds: Dataset, prefix: str, uri: BulkDataURI | None, threshold: int) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for path, elem in _elements(ds, prefix):
        key = path.rpartition("/")[2]
        if elem.VR == "SQ":
            items = [_to_json(item, f"{path}/{number}/", uri, threshold)
                     for number, item in enumerate(elem.value, start=1)]
            document[key] = {"vr": "SQ", "Value": items} if items else {"vr": "SQ"}
        elif uri is not None and _becomes_bulk(elem, threshold):
            document[key] = {"vr": elem.VR, "BulkDataURI": uri(path)}
        else:
            try:
                document[key] = elem.to_json_dict(None, threshold)
            except (ValueError, TypeError, OverflowError) as exc:
                # One unencodable value must not cost the client the whole metadata:
                # the attribute is kept, empty (PS3.18 F.2.5), and the tag logged.
                log.warning("attribute %s has a value DICOM JSON cannot carry: %s",
                            key, type(exc).__name__)
                document[key] = {"vr": elem.VR}
    return document


def dataset_to_json(ds: Dataset, bulk_root: str | None = None, *,
                    bulk_data_uri: BulkDataURI | None = None,
                    bulk_threshold: int = DEFAULT_BULK_THRESHOLD) -> dict[str, Any]:
    """The DICOM JSON object of ``ds`` (PS3.18 F.2), bulk values as ``BulkDataURI``.

    URIs are ``f"{bulk_root}/{path}"``, or ``bulk_data_uri(path)`` when that
    is given; with neither, binary values are inlined (``InlineBinary``).
    """
    uri = bulk_data_uri
    if uri is None and bulk_root is not None:
        root = bulk_root.rstrip("/")

        def uri(path: str) -> str:
            return f"{root}/{path}"

    return _to_json(ds, "", uri, bulk_threshold)


def bulk_data_paths(ds: Dataset, bulk_threshold: int = DEFAULT_BULK_THRESHOLD) -> list[str]:
    """The paths (see the module docstring) of every value that metadata gives by URI."""
    paths: list[str] = []

    def walk(dataset: Dataset, prefix: str) -> None:
        for path, elem in _elements(dataset, prefix):
            if elem.VR == "SQ":
                for number, item in enumerate(elem.value, start=1):
                    walk(item, f"{path}/{number}/")
            elif _becomes_bulk(elem, bulk_threshold):
                paths.append(path)

    walk(ds, "")
    return paths


def _parse_path(path: str) -> tuple[list[tuple[BaseTag, int]], BaseTag]:
    steps = path.strip("/").split("/")
    if len(steps) % 2 != 1:
        raise ValueError("a bulk data path has an odd number of segments")
    tags = [Tag(int(text, 16)) for text in steps[::2] if len(text) == 8]
    numbers = [int(text) for text in steps[1::2]]
    if len(tags) != len(steps[::2]) or any(n < 1 for n in numbers):
        raise ValueError("malformed bulk data path")
    return list(zip(tags[:-1], numbers, strict=True)), tags[-1]


def _little_endian(elem: DataElement, little: bool) -> bytes:
    """The value as ``application/octet-stream`` carries it: little endian (PS3.18 8.7.3.3)."""
    value = bytes(elem.value)
    size = _WORD_SIZE.get(elem.VR)
    if little or size is None:
        return value
    return np.frombuffer(value, dtype=f">u{size}").astype(f"<u{size}").tobytes()


def _decoded_pixels(ds: Dataset) -> bytes:
    """Native little-endian pixels of every frame, as pydicom decodes them."""
    from pydicom.pixels.utils import pixel_array

    array = pixel_array(ds)
    return array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()


def bulk_value(ds: Dataset, path: str) -> bytes:
    """The bytes a BulkDataURI path refers to, as ``application/octet-stream``.

    Binary values are returned little endian whatever the data set's
    encoding. Top-level Pixel Data that is compressed (or big endian) is
    decoded to native little-endian pixels, which is what an uncompressed
    bulk data response holds (PS3.18 8.7.3.3); compressed frames as stored
    are served by the frames resource instead. NotFoundError (404) for a
    path that names no binary value.
    """
    try:
        steps, tag = _parse_path(path)
    except ValueError as exc:
        raise NotFoundError(f"no bulk data at {path!r}: {exc}") from exc
    dataset = ds
    for sequence_tag, number in steps:
        elem = dataset.get(sequence_tag)
        if elem is None or elem.VR != "SQ" or number > len(elem.value):
            raise NotFoundError(f"no bulk data at {path!r}: no such sequence item")
        dataset = elem.value[number - 1]
    if tag not in dataset:
        raise NotFoundError(f"no bulk data at {path!r}: attribute absent")
    elem = _resolved(dataset[tag], dataset)
    if elem.VR not in BINARY_VRS:
        raise NotFoundError(f"no bulk data at {path!r}: attribute is not binary")
    _, little = ds.original_encoding
    little = little is not False
    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    if not steps and int(tag) == 0x7FE00010 and (
        not little or (syntax is not None and UID(syntax).is_encapsulated)
    ):
        return _decoded_pixels(ds)
    return _little_endian(elem, little)


__all__ = ["DEFAULT_BULK_THRESHOLD", "bulk_data_paths", "bulk_value", "dataset_to_json"]
