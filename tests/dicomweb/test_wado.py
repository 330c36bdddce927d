"""WADO-RS over HTTP: instances, metadata, frames, bulk data, rendered, delete."""

from __future__ import annotations

import io
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path

import httpx
import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from tests.support.multipart import stow_body


def _file(name: str) -> bytes:
    return Path(str(get_testdata_file(name))).read_bytes()


def _parts(response: httpx.Response) -> list[tuple[str, bytes]]:
    """Split a multipart/related response with the standard library's MIME parser."""
    head = f"Content-Type: {response.headers['content-type']}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + response.content)
    return [(part.get_content_type() + "".join(f"; {k}={v}" for k, v in part.get_params()[1:]),
             part.get_payload(decode=True)) for part in message.iter_parts()]


def _store(http: httpx.Client, *files: bytes) -> None:
    body, content_type = stow_body(list(files))
    assert http.post("/dicom-web/studies", content=body,
                     headers={"Content-Type": content_type}).status_code == 200


def _address(data: bytes) -> str:
    ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
    return (f"/dicom-web/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
            f"/instances/{ds.SOPInstanceUID}")


ANY_SYNTAX = {"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'}


@pytest.mark.parametrize("name", ["CT_small.dcm", "JPEG2000.dcm", "MR_small_bigendian.dcm"])
def test_instance_as_stored_with_transfer_syntax_star(http: httpx.Client, name: str) -> None:
    data = _file(name)
    _store(http, data)
    response = http.get(_address(data), headers=ANY_SYNTAX)
    assert response.status_code == 200
    [(content_type, payload)] = _parts(response)
    assert payload == data
    ts = pydicom.dcmread(io.BytesIO(data)).file_meta.TransferSyntaxUID
    assert f"transfer-syntax={ts}" in content_type


def test_default_syntax_is_explicit_vr_little_endian(http: httpx.Client) -> None:
    data = _file("JPEG2000.dcm")
    _store(http, data)
    response = http.get(_address(data), headers={"Accept": 'multipart/related; '
                                                 'type="application/dicom"'})
    assert response.status_code == 200
    [(_, payload)] = _parts(response)
    served = pydicom.dcmread(io.BytesIO(payload))
    original = pydicom.dcmread(io.BytesIO(data))
    assert response.headers["transfer-encoding"] == "chunked"  # transcoded: size unknown
    assert served.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    assert np.array_equal(served.pixel_array, original.pixel_array)


def test_lossy_source_is_not_served_as_a_lossless_syntax(http: httpx.Client) -> None:
    data = _file("JPEG-lossy.dcm")
    _store(http, data)
    response = http.get(_address(data), headers={
        "Accept": 'multipart/related; type="application/dicom"; '
                  "transfer-syntax=1.2.840.10008.1.2.4.90"})
    assert response.status_code == 406


def test_series_retrieve_returns_every_instance(http: httpx.Client) -> None:
    from dicomvault.dicom.synthetic import generate_study_files

    files = generate_study_files(series=1, per_series=5, rows=32, columns=32, seed=4)
    _store(http, *files)
    ds = pydicom.dcmread(io.BytesIO(files[0]))
    response = http.get(f"/dicom-web/studies/{ds.StudyInstanceUID}/series/"
                        f"{ds.SeriesInstanceUID}", headers=ANY_SYNTAX)
    assert sorted(p for _, p in _parts(response)) == sorted(files)
    # Every part is a blob as stored: the length is announced, the body is not chunked.
    assert int(response.headers["content-length"]) == len(response.content)
    assert "transfer-encoding" not in response.headers


def test_unknown_study_is_404(http: httpx.Client) -> None:
    response = http.get("/dicom-web/studies/1.2.3.999", headers=ANY_SYNTAX)
    assert response.status_code == 404
    assert response.json()["reason"]


def test_metadata_has_bulk_data_uris_that_resolve(http: httpx.Client) -> None:
    data = _file("CT_small.dcm")
    _store(http, data)
    response = http.get(_address(data) + "/metadata", headers={"Accept":
                                                               "application/dicom+json"})
    assert response.status_code == 200
    [document] = response.json()
    assert document["00080018"]["Value"] == [pydicom.dcmread(io.BytesIO(data)).SOPInstanceUID]
    pixel_uri = document["7FE00010"]["BulkDataURI"]
    bulk = http.get(pixel_uri, headers={"Accept": "multipart/related; "
                                        'type="application/octet-stream"'})
    assert bulk.status_code == 200
    [(_, value)] = _parts(bulk)
    assert value == pydicom.dcmread(io.BytesIO(data)).PixelData


def test_native_frames_of_a_multiframe_instance(http: httpx.Client) -> None:
    data = _file("emri_small_RLE.dcm")
    _store(http, data)
    original = pydicom.dcmread(io.BytesIO(data))
    response = http.get(_address(data) + "/frames/1,3", headers={
        "Accept": 'multipart/related; type="application/octet-stream"'})
    assert response.status_code == 200
    frames = [payload for _, payload in _parts(response)]
    assert frames[0] == original.pixel_array[0].astype("<u2").tobytes()
    assert frames[1] == original.pixel_array[2].astype("<u2").tobytes()


def test_frame_out_of_range_is_404(http: httpx.Client) -> None:
    data = _file("CT_small.dcm")
    _store(http, data)
    response = http.get(_address(data) + "/frames/2", headers={
        "Accept": 'multipart/related; type="application/octet-stream"'})
    assert response.status_code == 404


@pytest.mark.parametrize(("accept", "fmt"), [("image/png", "PNG"), ("image/jpeg", "JPEG")])
def test_rendered_instance_and_window_changes_pixels(http: httpx.Client, accept: str,
                                                     fmt: str) -> None:
    data = _file("CT_small.dcm")
    _store(http, data)
    narrow = http.get(_address(data) + "/rendered?window=40,80", headers={"Accept": accept})
    wide = http.get(_address(data) + "/rendered?window=40,2000", headers={"Accept": accept})
    assert narrow.status_code == wide.status_code == 200
    assert narrow.headers["content-type"] == accept
    first, second = Image.open(io.BytesIO(narrow.content)), Image.open(io.BytesIO(wide.content))
    assert first.format == fmt and first.size == (128, 128)
    assert not np.array_equal(np.asarray(first), np.asarray(second))


def test_thumbnail_of_a_study(http: httpx.Client) -> None:
    data = _file("CT_small.dcm")
    _store(http, data)
    ds = pydicom.dcmread(io.BytesIO(data))
    response = http.get(f"/dicom-web/studies/{ds.StudyInstanceUID}/thumbnail",
                        headers={"Accept": "image/png"})
    assert response.status_code == 200
    assert max(Image.open(io.BytesIO(response.content)).size) <= 128


def test_bad_rendered_parameters_are_400(http: httpx.Client) -> None:
    data = _file("CT_small.dcm")
    _store(http, data)
    for query in ["window=abc", "viewport=0,0", "quality=500", "window=40,-1"]:
        response = http.get(_address(data) + f"/rendered?{query}",
                            headers={"Accept": "image/png"})
        assert response.status_code == 400, query


def test_delete_study_then_it_is_gone(http: httpx.Client) -> None:
    data = _file("CT_small.dcm")
    _store(http, data)
    ds = pydicom.dcmread(io.BytesIO(data))
    assert http.delete(f"/dicom-web/studies/{ds.StudyInstanceUID}").status_code == 204
    assert http.get(f"/dicom-web/studies/{ds.StudyInstanceUID}",
                    headers=ANY_SYNTAX).status_code == 404
    assert http.delete(f"/dicom-web/studies/{ds.StudyInstanceUID}").status_code == 404


def test_only_health_needs_no_authentication(http: httpx.Client) -> None:
    anonymous = httpx.Client(base_url=str(http.base_url))
    assert anonymous.get("/healthz").json() == {"status": "ok"}
    for path in ("/openapi.json", "/docs", "/dicom-web/studies", "/api/system"):
        refused = anonymous.get(path)
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Bearer")
    spec = http.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    assert "/dicom-web/studies" in spec["paths"]
    assert "dicomvault DICOMweb API" in http.get("/docs").text


def test_security_headers_on_every_response(http: httpx.Client) -> None:
    response = http.get("/healthz")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
