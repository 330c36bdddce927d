"""What an instance_stored event holds: both hashes, the SOP class and transfer syntax, no PHI.

The pixel data hash is computed while the bytes stream through ingest; it
must equal what anyone gets with ``sha256(pydicom.dcmread(f).PixelData)``,
for every transfer syntax, whether the file fits the ingest buffer or not.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

from dicomvault.access import Door, system_context
from dicomvault.archive import Archive
from dicomvault.dicom.header import read_header
from dicomvault.dicom.synthetic import generate_study_files
from dicomvault.index import create_engine_for, upgrade_database
from dicomvault.ingest import InstanceUpload
from dicomvault.keys import MemoryKeyProvider
from dicomvault.keys.hierarchy import StudyKeys
from dicomvault.ledger import EventType
from dicomvault.storage import MemoryBlobStore

CTX = system_context(Door.CLI, actor="test")
FILES = ["CT_small.dcm", "MR_small.dcm", "MR_small_bigendian.dcm", "MR_small_implicit.dcm",
         "image_dfl.dcm", "JPEG2000.dcm", "MR_small_RLE.dcm", "US1_J2KR.dcm",
         "SC_rgb_jpeg_dcmtk.dcm", "emri_small_RLE.dcm"]


#: Files ingest accepts only when they fit its buffer: a deflated file, and one with bytes
#: after its pixel data delimiter (its end cannot be checked from the tail).
_WHOLE_ONLY = {"image_dfl.dcm", "MR_small_RLE.dcm"}


def _bytes(name: str) -> bytes:
    return Path(str(get_testdata_file(name))).read_bytes()


def _expected_pixel_hash(data: bytes) -> str:
    return hashlib.sha256(pydicom.dcmread(io.BytesIO(data)).PixelData).hexdigest()


@pytest.mark.parametrize(("name", "past_header"), [
    *((name, None) for name in FILES),
    *((name, past) for name in FILES if name not in _WHOLE_ONLY for past in (12, 13, 300)),
])
def test_pixel_hash_streams_and_matches_pydicom(name: str, past_header: int | None,
                                                tmp_path: Path) -> None:
    """``past_header`` None: the file fits the ingest buffer; else the buffer ends that many
    bytes into the pixel data, and the rest is hashed as it streams past."""
    data = _bytes(name)
    _, offset = read_header(data)
    buffer_limit = len(data) + 1 if past_header is None else (offset or 0) + past_header
    engine = create_engine_for(f"sqlite:///{tmp_path / 'index.sqlite3'}")
    upgrade_database(engine)
    keys = StudyKeys(engine, MemoryKeyProvider())
    upload = InstanceUpload(MemoryBlobStore(), keys, max_bytes=len(data) + 1,
                            buffer_limit=buffer_limit)
    for start in range(0, len(data), 777):  # odd chunks: headers straddle chunk boundaries
        upload.write(data[start:start + 777])
    staged = upload.finish()
    assert staged.pixel_sha256 == _expected_pixel_hash(data)


def test_instance_without_pixel_data_has_no_pixel_hash(archive: Archive) -> None:
    archive.store_bytes(_bytes("rtplan.dcm"), CTX)
    with archive.engine.connect() as conn:
        [event] = [e.event for e in archive.audit.ledger.entries(conn, 0, 100)
                   if e.event.type is EventType.INSTANCE_STORED]
    assert "pixel_sha256" not in event.details and len(str(event.details["content_sha256"])) == 64


def test_stored_event_members_and_no_phi(archive: Archive) -> None:
    [data] = generate_study_files(series=1, per_series=1, rows=16, columns=16, seed=3)
    ds = pydicom.dcmread(io.BytesIO(data))
    result = archive.store_bytes(data, CTX)
    with archive.engine.connect() as conn:
        entries = archive.audit.ledger.entries(conn, 0, 100)
    [entry] = [e for e in entries if e.event.type is EventType.INSTANCE_STORED]
    event, hasher = entry.event, archive.audit.ledger.identifiers
    assert dict(event.details) == {
        "content_sha256": hashlib.sha256(data).hexdigest(),
        "pixel_sha256": _expected_pixel_hash(data), "size": len(data),
        "sop_class": ds.SOPClassUID, "transfer_syntax": ds.file_meta.TransferSyntaxUID,
        "outcome": "stored"}
    assert event.subjects == (hasher.subject("patient", ds.PatientID),
                              hasher.subject("study", result.study_instance_uid),
                              hasher.subject("series", result.series_instance_uid),
                              hasher.subject("sop", result.sop_instance_uid))
    assert (event.actor, event.door, event.client) == ("test", "CLI", "local")
    for phi in (ds.PatientID, str(ds.PatientName), ds.StudyInstanceUID, ds.SOPInstanceUID):
        assert phi.encode() not in entry.data
