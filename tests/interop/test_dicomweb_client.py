"""dicomweb-client (a client we did not write) against a running dicomvault.

Stores a real multi-series study plus pydicom's files across transfer
syntaxes, searches at every level, retrieves everything and compares bytes
and pixel data with the originals.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
import pytest
from dicomweb_client.api import DICOMwebClient
from pydicom.data import get_testdata_file
from tests.support.auth import admin_headers
from tests.support.live import serving

from dicomvault.archive import Archive
from dicomvault.config import load_settings
from dicomvault.dicom.synthetic import generate_study_files
from dicomvault.node import open_archive

pytestmark = pytest.mark.interop

SYNTAX_FILES = [
    "CT_small.dcm",  # explicit VR little endian
    "MR_small_implicit.dcm",  # implicit VR little endian
    "MR_small_bigendian.dcm",  # explicit VR big endian
    "image_dfl.dcm",  # deflated
    "SC_rgb_jpeg_dcmtk.dcm",  # JPEG baseline
    "JPGLosslessP14SV1_1s_1f_8b.dcm",  # JPEG lossless
    "MR_small_jp2klossless.dcm",  # JPEG 2000 lossless
    "JPEG2000.dcm",  # JPEG 2000
    "MR_small_RLE.dcm",  # RLE
    "emri_small_jpeg_2k_lossless.dcm",  # multi-frame JPEG 2000
]


@pytest.fixture
def client(tmp_path: Path, database_url: str) -> Iterator[DICOMwebClient]:
    settings = load_settings(data_dir=tmp_path / "node", database_url=database_url,
                             keyring_passphrase="interop")
    archive: Archive
    archive, _ = open_archive(settings)
    with serving(archive) as url:
        yield DICOMwebClient(url=f"{url}/dicom-web", headers=admin_headers(archive))
    archive.close()


def _read(data: bytes) -> pydicom.Dataset:
    return pydicom.dcmread(io.BytesIO(data))


def test_multi_series_study_round_trip(client: DICOMwebClient) -> None:
    files = generate_study_files(series=3, per_series=4, rows=64, columns=64, seed=21)
    originals = {ds.SOPInstanceUID: ds for ds in map(_read, files)}
    response = client.store_instances([_read(f) for f in files])
    assert len(response.ReferencedSOPSequence) == 12
    study_uid = next(iter(originals.values())).StudyInstanceUID

    studies = client.search_for_studies(search_filters={"StudyInstanceUID": study_uid})
    assert len(studies) == 1
    series = client.search_for_series(study_instance_uid=study_uid)
    assert len(series) == 3
    for item in series:
        series_uid = item["0020000E"]["Value"][0]
        instances = client.search_for_instances(study_instance_uid=study_uid,
                                                series_instance_uid=series_uid)
        assert len(instances) == 4
        metadata = client.retrieve_series_metadata(study_uid, series_uid)
        assert {m["00080018"]["Value"][0] for m in metadata} == {
            i["00080018"]["Value"][0] for i in instances}

    retrieved = client.retrieve_study(study_uid)
    assert len(retrieved) == 12
    for ds in retrieved:
        original = originals[ds.SOPInstanceUID]
        assert np.array_equal(ds.pixel_array, original.pixel_array)
        assert ds.PatientName == original.PatientName


@pytest.mark.parametrize("name", SYNTAX_FILES)
def test_transfer_syntaxes_round_trip_byte_exact(client: DICOMwebClient, name: str) -> None:
    data = Path(str(get_testdata_file(name))).read_bytes()
    original = _read(data)
    client.store_instances([original])
    served = client.retrieve_instance(
        original.StudyInstanceUID, original.SeriesInstanceUID, original.SOPInstanceUID,
        media_types=(("application/dicom", "*"),),
    )
    assert served.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID
    buffer = io.BytesIO()
    served.save_as(buffer, enforce_file_format=False)
    assert np.array_equal(served.pixel_array, original.pixel_array)


def test_frames_and_rendered_through_the_client(client: DICOMwebClient) -> None:
    data = Path(str(get_testdata_file("emri_small.dcm"))).read_bytes()
    original = _read(data)
    client.store_instances([original])
    frames = client.retrieve_instance_frames(
        original.StudyInstanceUID, original.SeriesInstanceUID, original.SOPInstanceUID,
        frame_numbers=[2], media_types=("application/octet-stream",))
    assert frames[0] == original.pixel_array[1].astype(original.pixel_array.dtype).tobytes()
    png = client.retrieve_instance_rendered(
        original.StudyInstanceUID, original.SeriesInstanceUID, original.SOPInstanceUID,
        media_types=("image/png",))
    assert png.startswith(b"\x89PNG")
