"""The DICOM JSON model with BulkDataURIs (PS3.18 F.2, 10.4.1.1.2 and 10.4.1.1.5)."""

from __future__ import annotations

import copy
from typing import Any

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from dicomvault.dicom.json import bulk_data_paths, bulk_value, dataset_to_json
from dicomvault.errors import NotFoundError

ROOT = "https://pacs.example/dicom-web/studies/1/series/2/instances/3/bulk"


def _read(name: str) -> Dataset:
    return pydicom.dcmread(str(get_testdata_file(name)), force=True)


def _round_trip(ds: Dataset, document: dict[str, Any]) -> Dataset:
    """Dataset.from_json, fetching every BulkDataURI from ``ds`` as a client would."""
    def fetch(tag: str, vr: str, uri: str) -> bytes:
        assert uri.startswith(ROOT + "/")
        return bulk_value(ds, uri.removeprefix(ROOT + "/"))

    return Dataset.from_json(document, bulk_data_uri_handler=fetch)


def _without_group_lengths(ds: Dataset) -> Dataset:
    result = copy.deepcopy(ds)
    for elem in list(result.iterall()):
        if elem.tag.element == 0:
            del result[elem.tag]
    return result


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")  # rtdose.dcm has a bad UID
@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "rtstruct.dcm",
                                  "rtdose.dcm", "test-SR.dcm", "waveform_ecg.dcm",
                                  "emri_small.dcm", "nested_priv_SQ.dcm"])
def test_json_round_trips_through_from_json_with_bulk_data(name: str) -> None:
    ds = _read(name)
    document = dataset_to_json(ds, ROOT)
    assert _round_trip(ds, document) == _without_group_lengths(ds)


def test_pixel_data_becomes_a_bulk_data_uri_that_resolves() -> None:
    ds = _read("CT_small.dcm")
    document = dataset_to_json(ds, ROOT + "/")
    assert document["7FE00010"] == {"vr": "OW", "BulkDataURI": f"{ROOT}/7FE00010"}
    assert bulk_data_paths(ds) == ["00431029", "7FE00010"]  # a private OB, then pixels
    assert bulk_value(ds, "7FE00010") == ds.PixelData
    assert document["00100010"]["Value"] == [{"Alphabetic": str(ds.PatientName)}]


def test_small_pixel_data_is_still_bulk_but_other_small_binaries_are_inline() -> None:
    ds = _read("CT_small.dcm")
    ds.PixelData = b"\x00\x01"
    ds.add_new(0x00091001, "OB", b"\x01\x02\x03\x04")
    document = dataset_to_json(ds, ROOT)
    assert "BulkDataURI" in document["7FE00010"]
    assert document["00091001"]["InlineBinary"] == "AQIDBA=="


def test_nested_bulk_values_get_item_paths() -> None:
    ds = _read("waveform_ecg.dcm")
    paths = bulk_data_paths(ds)
    assert "54000100/1/54001010" in paths  # WaveformSequence item 1, WaveformData
    document = dataset_to_json(ds, ROOT)
    item = document["54000100"]["Value"][0]
    assert item["54001010"]["BulkDataURI"] == f"{ROOT}/54000100/1/54001010"
    waveform = ds.WaveformSequence[0].WaveformData
    assert bulk_value(ds, "54000100/1/54001010") == waveform


def test_custom_uri_function_and_threshold() -> None:
    ds = _read("waveform_ecg.dcm")
    seen: list[str] = []

    def uri(path: str) -> str:
        seen.append(path)
        return f"urn:bulk:{path}"

    dataset_to_json(ds, bulk_data_uri=uri, bulk_threshold=10**9)
    assert seen == []  # nothing above a huge threshold, and no pixel data here
    assert bulk_data_paths(ds, bulk_threshold=10**9) == []


def test_without_a_uri_binary_values_are_inline() -> None:
    ds = _read("MR_small.dcm")
    document = dataset_to_json(ds)
    assert "InlineBinary" in document["7FE00010"]
    assert Dataset.from_json(document) == _without_group_lengths(ds)


def test_empty_sequences_and_values_carry_no_value() -> None:
    ds = Dataset()
    ds.ReferencedStudySequence = Sequence()
    ds.AccessionNumber = ""
    document = dataset_to_json(ds, ROOT)
    assert document == {"00080050": {"vr": "SH"}, "00081110": {"vr": "SQ"}}


def test_group_lengths_are_left_out() -> None:
    ds = _read("CT_small.dcm")
    ds.add_new(0x00090000, "UL", 4)
    assert "00090000" not in dataset_to_json(ds, ROOT)


def test_big_endian_values_are_served_little_endian() -> None:
    big = _read("MR_small_bigendian.dcm")
    little = _read("MR_small.dcm")
    assert big.original_encoding[1] is False
    assert bulk_value(big, "7FE00010") == little.PixelData
    expected = big.pixel_array.astype("<i2").tobytes()
    assert bulk_value(big, "7FE00010") == expected


def test_compressed_pixel_data_is_served_decoded() -> None:
    ds = _read("JPEG2000.dcm")
    value = bulk_value(ds, "7FE00010")
    array = ds.pixel_array
    assert value == array.astype(array.dtype.newbyteorder("<")).tobytes()
    assert len(value) == ds.Rows * ds.Columns * 2


@pytest.mark.parametrize("path", ["7FE00011", "00100010", "nonsense", "7FE00010/1",
                                  "54000100/3/54001010", "54000100/0/54001010",
                                  "00100010/1/54001010", "", "54000100/x/54001010"])
def test_paths_that_name_no_bulk_value_are_404(path: str) -> None:
    ds = _read("waveform_ecg.dcm")
    with pytest.raises(NotFoundError) as caught:
        bulk_value(ds, path)
    assert caught.value.http_status == 404


def test_unencodable_values_keep_the_attribute_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pydicom.config.settings, "reading_validation_mode", pydicom.config.IGNORE)
    ds = _read("badVR.dcm")  # Number of Frames is "1A", not an Integer String
    document = dataset_to_json(ds, ROOT)
    assert document["00280008"] == {"vr": "IS"}
    assert document["00280010"] == {"vr": "US", "Value": [ds.Rows]}
    assert "BulkDataURI" in document["7FE00010"]
