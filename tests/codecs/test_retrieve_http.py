"""WADO-RS over HTTP on a node that compresses on ingest: instances in any syntax the
client accepts, frames one at a time, rendered images, the cache, and 406 up front."""

from __future__ import annotations

import io
from collections.abc import Iterator

import httpx
import imagecodecs
import numpy as np
import pydicom
import pytest
from PIL import Image
from tests.codecs.images import pixel_array, real_file, synthetic
from tests.support.auth import admin_headers
from tests.support.live import serving
from tests.support.multipart import split_related, stow_body

from dicomvault.archive import Archive
from dicomvault.codecs import bitstreams
from dicomvault.codecs.syntaxes import (
    EXPLICIT_VR_LITTLE_ENDIAN,
    HTJ2K_LOSSLESS,
    IMPLICIT_VR_LITTLE_ENDIAN,
    JPEG_2000_LOSSLESS,
    JPEG_LS_LOSSLESS,
)

DICOM = 'multipart/related; type="application/dicom"'


@pytest.fixture
def http(ingest_archive: Archive) -> Iterator[httpx.Client]:
    with serving(ingest_archive) as url, httpx.Client(
            base_url=url, timeout=60, headers=admin_headers(ingest_archive)) as client:
        yield client


def _parts(response: httpx.Response) -> list[tuple[str, bytes]]:
    return split_related(response.headers["content-type"], response.content)


def _store(http: httpx.Client, *files: bytes) -> None:
    body, content_type = stow_body(list(files))
    response = http.post("/dicom-web/studies", content=body,
                         headers={"Content-Type": content_type})
    assert response.status_code == 200, response.text


def _address(data: bytes) -> str:
    ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
    return (f"/dicom-web/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
            f"/instances/{ds.SOPInstanceUID}")


def _get(http: httpx.Client, data: bytes, syntax: str) -> tuple[str, bytes]:
    response = http.get(_address(data), headers={"Accept": f"{DICOM}; transfer-syntax={syntax}"})
    assert response.status_code == 200, response.text
    [part] = _parts(response)
    return part


def test_as_stored_and_in_the_original_syntax_the_original_bytes_come_back(
        http: httpx.Client) -> None:
    data = real_file("CT_small.dcm")
    _store(http, data)
    for syntax in ("*", EXPLICIT_VR_LITTLE_ENDIAN):
        content_type, payload = _get(http, data, syntax)
        assert payload == data
        assert f"transfer-syntax={EXPLICIT_VR_LITTLE_ENDIAN}" in content_type


def test_the_compressed_copy_is_served_as_it_is_to_clients_that_accept_it(
        http: httpx.Client, ingest_archive: Archive) -> None:
    data = real_file("CT_small.dcm")
    _store(http, data)
    content_type, payload = _get(http, data, JPEG_LS_LOSSLESS)
    assert f"transfer-syntax={JPEG_LS_LOSSLESS}" in content_type
    [location] = ingest_archive.locate(*_ids(data))
    assert payload == ingest_archive.read_stored(location)


def _ids(data: bytes) -> tuple[object, str, str, str]:
    from dicomvault.access import Door, system_context

    ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
    return (system_context(Door.CLI), ds.StudyInstanceUID, ds.SeriesInstanceUID,
            ds.SOPInstanceUID)


@pytest.mark.parametrize("syntax", [IMPLICIT_VR_LITTLE_ENDIAN, JPEG_2000_LOSSLESS,
                                    HTJ2K_LOSSLESS])
def test_other_syntaxes_are_transcoded_from_the_copy(http: httpx.Client, syntax: str) -> None:
    data = real_file("emri_small.dcm")
    _store(http, data)
    content_type, payload = _get(http, data, syntax)
    assert f"transfer-syntax={syntax}" in content_type
    assert pydicom.dcmread(io.BytesIO(payload)).file_meta.TransferSyntaxUID == syntax
    assert np.array_equal(pixel_array(payload), pixel_array(data))


def test_a_series_read_twice_is_decoded_once(http: httpx.Client,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    files = [synthetic(bits_stored=12, seed=seed, rows=40, columns=40) for seed in range(3)]
    files = [_same_series(f, files[0], number) for number, f in enumerate(files, start=1)]
    _store(http, *files)
    decoded: list[int] = []
    real = bitstreams.decode_frame

    def counting(*args: object, **kwargs: object) -> object:
        decoded.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(bitstreams, "decode_frame", counting)
    series = _address(files[0]).rsplit("/instances/", 1)[0]
    first = http.get(series, headers={"Accept": DICOM})
    assert len(decoded) == 3
    second = http.get(series, headers={"Accept": DICOM})
    assert len(decoded) == 3  # all from the cache
    assert [p for _, p in _parts(first)] == [p for _, p in _parts(second)] == files


def _same_series(data: bytes, first: bytes, number: int) -> bytes:
    ds = pydicom.dcmread(io.BytesIO(data))
    lead = pydicom.dcmread(io.BytesIO(first), stop_before_pixels=True)
    ds.StudyInstanceUID, ds.SeriesInstanceUID = lead.StudyInstanceUID, lead.SeriesInstanceUID
    ds.InstanceNumber = number
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def test_frames_are_decoded_one_at_a_time_in_the_original_layout(
        http: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    data = synthetic(bits_stored=8, samples=3, photometric="RGB", planar=1, frames=5, seed=9)
    _store(http, data)
    decoded: list[int] = []
    real = bitstreams.decode_frame

    def counting(syntax: str, bitstream: bytes, fmt: object, *, frame: int = 1) -> object:
        decoded.append(frame)
        return real(syntax, bitstream, fmt, frame=frame)  # type: ignore[arg-type]

    monkeypatch.setattr(bitstreams, "decode_frame", counting)
    response = http.get(_address(data) + "/frames/4", headers={
        "Accept": 'multipart/related; type="application/octet-stream"'})
    assert response.status_code == 200
    [(_, payload)] = _parts(response)
    length = 96 * 80 * 3
    raw = pydicom.dcmread(io.BytesIO(data)).PixelData
    assert payload == raw[3 * length:4 * length]  # planar, as the original stores it
    assert decoded == [4]


def test_frames_as_the_stored_bitstream(http: httpx.Client) -> None:
    data = real_file("emri_small.dcm")
    _store(http, data)
    response = http.get(_address(data) + "/frames/2,9", headers={
        "Accept": 'multipart/related; type="image/jls"'})
    assert response.status_code == 200
    payloads = [payload for _, payload in _parts(response)]
    expected = pixel_array(data)
    for payload, index in zip(payloads, (1, 8), strict=True):
        assert np.array_equal(imagecodecs.jpegls_decode(payload), expected[index])


def test_rendered_from_a_compressed_copy_is_the_rendered_original(
        http: httpx.Client, archive_of_originals: httpx.Client) -> None:
    data = real_file("CT_small.dcm")
    _store(http, data)
    _store(archive_of_originals, data)
    query = "/rendered?window=40,400"
    compressed = http.get(_address(data) + query, headers={"Accept": "image/png"})
    original = archive_of_originals.get(_address(data) + query, headers={"Accept": "image/png"})
    assert compressed.status_code == original.status_code == 200
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(compressed.content))),
                          np.asarray(Image.open(io.BytesIO(original.content))))


@pytest.fixture
def archive_of_originals(archive: Archive) -> Iterator[httpx.Client]:
    """A second node with the default policy (nothing compressed yet)."""
    with serving(archive) as url, httpx.Client(base_url=url, timeout=60,
                                               headers=admin_headers(archive)) as client:
        yield client


def test_a_syntax_the_pixels_cannot_take_is_406_before_anything_is_sent(
        http: httpx.Client) -> None:
    data = real_file("rtdose.dcm")  # 32-bit dose grid
    _store(http, data)
    response = http.get(_address(data), headers={
        "Accept": f"{DICOM}; transfer-syntax={JPEG_LS_LOSSLESS}"})
    assert response.status_code == 406
    assert "32 bits" in response.text


def test_large_instances_stream_lazily_and_still_whole(http: httpx.Client,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from dicomvault.codecs import retrieve

    monkeypatch.setattr(retrieve, "WHOLE_LIMIT", 0)  # every as-stored instance counts as large
    data = real_file("MR_small_bigendian.dcm")  # kept as received: streamed from its blob
    _store(http, data)
    content_type, payload = _get(http, data, "*")
    assert payload == data
    assert "1.2.840.10008.1.2.2" in content_type
