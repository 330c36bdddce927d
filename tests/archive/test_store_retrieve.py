"""The Archive service end to end: store, find, retrieve, duplicates, delete, integrity."""

from __future__ import annotations

import io
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

from dicomvault.access import Door, system_context
from dicomvault.archive import Archive, InstanceLocation, StoreFailure, StoreOutcome
from dicomvault.config import DuplicatePolicy
from dicomvault.dicom.synthetic import PatientSpec, StudySpec, generate_study_files
from dicomvault.errors import (
    DuplicateInstanceError,
    IntegrityError,
    NotDicomError,
    NotFoundError,
    OutOfResourcesError,
)
from dicomvault.index import Query, QueryLevel

CTX = system_context(Door.CLI, actor="test")

REAL_FILES = [
    "CT_small.dcm",
    "MR_small.dcm",
    "MR_small_bigendian.dcm",
    "MR_small_implicit.dcm",
    "image_dfl.dcm",
    "JPEG2000.dcm",
    "MR_small_jp2klossless.dcm",
    "SC_rgb_jpeg_dcmtk.dcm",
    "JPEG-lossy.dcm",
    "JPGLosslessP14SV1_1s_1f_8b.dcm",
    "emri_small_RLE.dcm",
    "MR_small_RLE.dcm",
    "US1_J2KR.dcm",
    "rtplan.dcm",
]


def _file(name: str) -> bytes:
    return Path(str(get_testdata_file(name))).read_bytes()


@pytest.mark.parametrize("name", REAL_FILES)
def test_real_files_round_trip_bit_exact(archive: Archive, name: str) -> None:
    data = _file(name)
    result = archive.store_bytes(data, CTX)
    assert result.outcome is StoreOutcome.STORED
    [location] = archive.locate(CTX, result.study_instance_uid, result.series_instance_uid,
                                result.sop_instance_uid)
    assert archive.read_instance(location) == data
    header = archive.read_header(location)
    assert header.SOPInstanceUID == result.sop_instance_uid


def test_find_sees_a_stored_multi_series_study(archive: Archive) -> None:
    files = generate_study_files(series=3, per_series=4, rows=32, columns=32)
    outcomes = list(archive.store_many(((str(i), [f]) for i, f in enumerate(files)), CTX))
    assert all(not isinstance(o, StoreFailure) for _, o in outcomes)
    study_uid = pydicom.dcmread(io.BytesIO(files[0])).StudyInstanceUID
    [study] = archive.find(Query(level=QueryLevel.STUDY, filters={"StudyInstanceUID": study_uid}),
                           CTX)
    assert study.get("NumberOfStudyRelatedSeries") == 3
    assert study.get("NumberOfStudyRelatedInstances") == 12
    assert set(str(study.get("ModalitiesInStudy")).split("\\")) == {"CT", "MR"}
    assert len(archive.locate(CTX, study_uid)) == 12


def test_identical_resend_is_acknowledged_without_a_second_copy(archive: Archive) -> None:
    data = _file("CT_small.dcm")
    archive.store_bytes(data, CTX)
    blobs_before = set(archive.blobs.names())
    again = archive.store_bytes(data, CTX)
    assert again.outcome is StoreOutcome.ALREADY_STORED
    assert set(archive.blobs.names()) == blobs_before


def _variant(data: bytes) -> bytes:
    ds = pydicom.dcmread(io.BytesIO(data))
    ds.StudyDescription = "CHANGED"
    buffer = io.BytesIO()
    ds.save_as(buffer)
    return buffer.getvalue()


def test_different_resend_is_ignored_with_a_warning_by_default(archive: Archive) -> None:
    data = _file("CT_small.dcm")
    first = archive.store_bytes(data, CTX)
    second = archive.store_bytes(_variant(data), CTX)
    assert second.outcome is StoreOutcome.DUPLICATE_IGNORED and second.is_warning
    [location] = archive.locate(CTX, first.study_instance_uid)
    assert archive.read_instance(location) == data
    assert len(list(archive.blobs.names())) == 1


def test_reject_policy_refuses_different_bytes(archive: Archive) -> None:
    archive.settings.duplicate_policy = DuplicatePolicy.REJECT
    data = _file("CT_small.dcm")
    archive.store_bytes(data, CTX)
    with pytest.raises(DuplicateInstanceError):
        archive.store_bytes(_variant(data), CTX)
    assert len(list(archive.blobs.names())) == 1


def test_replace_policy_swaps_the_instance_and_drops_the_old_blob(archive: Archive) -> None:
    archive.settings.duplicate_policy = DuplicatePolicy.REPLACE
    data = _file("CT_small.dcm")
    first = archive.store_bytes(data, CTX)
    changed = _variant(data)
    assert archive.store_bytes(changed, CTX).outcome is StoreOutcome.REPLACED
    [location] = archive.locate(CTX, first.study_instance_uid)
    assert archive.read_instance(location) == changed
    assert len(list(archive.blobs.names())) == 1


def test_refused_file_leaves_nothing_behind(archive: Archive) -> None:
    with pytest.raises(NotDicomError):
        archive.store_bytes(b"not dicom at all" * 100, CTX)
    assert list(archive.blobs.names()) == []
    assert list(archive.settings.blob_dir.joinpath(".staging").iterdir()) == []


def test_failed_index_transaction_removes_the_batch_blobs(
    archive: Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dicomvault.archive as archive_module

    def broken_insert(conn: object, records: object) -> None:
        raise IntegrityError("simulated index failure")

    monkeypatch.setattr(archive_module, "insert_instances", broken_insert)
    with pytest.raises(IntegrityError):
        archive.store_bytes(_file("CT_small.dcm"), CTX)
    assert list(archive.blobs.names()) == []


def test_tampered_blob_fails_retrieve_with_an_integrity_error(archive: Archive) -> None:
    result = archive.store_bytes(_file("CT_small.dcm"), CTX)
    [location] = archive.locate(CTX, result.study_instance_uid)
    path = archive.settings.blob_dir / location.blob_name[:3] / location.blob_name
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0x01
    path.write_bytes(bytes(blob))
    with pytest.raises(IntegrityError):
        archive.read_instance(location)


def _blob_path(archive: Archive, blob_name: str) -> Path:
    return archive.settings.blob_dir / blob_name[:3] / blob_name


def test_blobs_swapped_between_instances_fail_retrieve(archive: Archive) -> None:
    """A blob put in the place of another (same size, both genuine) is refused: retrieve
    opens a blob only as the content its index row records (key and hash)."""
    files = generate_study_files(series=1, per_series=2, rows=16, columns=16, seed=9)
    for f in files:
        archive.store_bytes(f, CTX)
    first, second = archive.locate(CTX, pydicom.dcmread(io.BytesIO(files[0])).StudyInstanceUID)
    a, b = _blob_path(archive, first.blob_name), _blob_path(archive, second.blob_name)
    a_bytes, b_bytes = a.read_bytes(), b.read_bytes()
    a.write_bytes(b_bytes)
    b.write_bytes(a_bytes)
    for location in (first, second):
        with pytest.raises(IntegrityError):
            archive.read_instance(location)


def test_blob_without_a_content_binding_is_still_checked_against_its_hash(
        archive: Archive) -> None:
    """Blobs sealed before the content binding (DVB1) are hashed on retrieve instead:
    served when they hold the recorded content, refused when they do not."""
    from dicomvault.storage import SealingWriter

    data = _file("CT_small.dcm")
    result = archive.store_bytes(data, CTX)
    [location] = archive.locate(CTX, result.study_instance_uid)
    path = _blob_path(archive, location.blob_name)
    assert path.read_bytes()[:4] == b"DVB2"
    data_key = archive.keys.unwrap(location.kek_id, location.wrapped_key)

    def reseal(content: bytes) -> None:
        out: list[bytes] = []
        writer = SealingWriter(data_key, out.append, bind_content=False)
        writer.write(content)
        writer.close()
        path.write_bytes(b"".join(out))

    reseal(data)
    assert archive.read_instance(location) == data
    reseal(_variant(data))  # genuine envelope, other content: only the hash can tell
    with pytest.raises(IntegrityError):
        archive.read_instance(location)


def test_deleted_study_is_gone_with_its_blobs(archive: Archive) -> None:
    files = generate_study_files(series=2, per_series=2, rows=16, columns=16, seed=3)
    for f in files:
        archive.store_bytes(f, CTX)
    study_uid = pydicom.dcmread(io.BytesIO(files[0])).StudyInstanceUID
    assert archive.delete(CTX, study_uid) == 4
    assert list(archive.blobs.names()) == []
    with pytest.raises(NotFoundError):
        archive.locate(CTX, study_uid)
    assert archive.find(Query(level=QueryLevel.STUDY), CTX) == []


def test_no_plaintext_phi_or_pixels_in_the_data_directory(archive: Archive) -> None:
    """Only the index database may hold the searchable attributes; blobs, keys and
    everything else hold ciphertext only."""
    marker = "ZZSECRETNAME^PHIMARKER"
    study = StudySpec(patient=PatientSpec(PatientName=marker, PatientID="PHIID77"))
    files = generate_study_files(series=1, per_series=3, rows=64, columns=64, study=study)
    for f in files:
        archive.store_bytes(f, CTX)
    pixel_sample = pydicom.dcmread(io.BytesIO(files[0])).PixelData[4000:4064]
    database = Path(archive.settings.resolved_database_url.removeprefix("sqlite:///"))
    scanned = 0
    for path in archive.settings.data_dir.rglob("*"):
        if not path.is_file() or path.name.startswith(database.name):
            continue
        content = path.read_bytes()
        scanned += 1
        assert marker.encode() not in content, path
        assert b"PHIID77" not in content, path
        assert pixel_sample not in content, path
    assert len(pixel_sample) == 64
    assert scanned >= 4  # three blobs and the keyring at least
    if database.is_file():  # the index holds names to match on, never pixels or headers
        index_bytes = b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*"))
        assert pixel_sample not in index_bytes


def test_record_event_appends_one_hashed_event(archive: Archive) -> None:
    from dicomvault.ledger import EventType

    with archive.engine.connect() as conn:
        before = archive.audit.ledger.tree_size(conn)
    archive.record_event(CTX, EventType.BACKUP_MADE, study="1.2.3.4", details={"objects": 3})
    with archive.engine.connect() as conn:
        [entry] = archive.audit.ledger.entries(conn, before, before + 1)
    event = entry.event
    assert event.type is EventType.BACKUP_MADE
    assert event.details["objects"] == 3
    assert b"1.2.3.4" not in entry.data
    assert event.subjects == (archive.audit.ledger.identifiers.subject("study", "1.2.3.4"),)


def test_locate_prepares_before_recording_the_access_and_still_records_it(
        archive: Archive) -> None:
    """A door may start reading while the access is recorded (``prepare``); the
    ``instance_retrieved`` events commit before locate returns what to release."""
    from dicomvault.ledger import EventType

    files = generate_study_files(series=1, per_series=3, rows=16, columns=16, seed=5)
    for f in files:
        archive.store_bytes(f, CTX)
    study_uid = pydicom.dcmread(io.BytesIO(files[0])).StudyInstanceUID
    with archive.engine.connect() as conn:
        before = archive.audit.ledger.tree_size(conn)
    prepared: list[int] = []

    def prepare(found: list[InstanceLocation]) -> None:
        with archive.engine.connect() as conn:  # not recorded yet (nor committed)
            assert archive.audit.ledger.tree_size(conn) == before
        prepared.append(len(found))

    locations = archive.locate(CTX, study_uid, prepare=prepare)
    assert prepared == [3]
    with archive.engine.connect() as conn:
        entries = archive.audit.ledger.entries(conn, before, before + 3)
    assert [e.event.type for e in entries] == [EventType.INSTANCE_RETRIEVED] * 3
    subject = archive.audit.ledger.identifiers.subject
    assert [e.event.subjects for e in entries] == [
        (subject("study", loc.study_instance_uid), subject("series", loc.series_instance_uid),
         subject("sop", loc.sop_instance_uid)) for loc in locations]
    assert sorted(archive.read_instance(location) for location in locations) == sorted(files)


def test_a_failed_access_record_fails_locate_after_prepare(
        archive: Archive, monkeypatch: pytest.MonkeyPatch) -> None:
    archive.store_bytes(_file("CT_small.dcm"), CTX)
    study_uid = pydicom.dcmread(io.BytesIO(_file("CT_small.dcm"))).StudyInstanceUID

    def broken(*args: object) -> None:
        raise OutOfResourcesError("simulated ledger failure")

    monkeypatch.setattr(archive.audit, "instances_retrieved", broken)
    prepared: list[object] = []
    with pytest.raises(OutOfResourcesError):
        archive.locate(CTX, study_uid, prepare=prepared.append)
    assert len(prepared) == 1  # the door was told, and learns of the failure from locate


def test_prefetch_starts_a_bounded_lookahead_at_once_and_keeps_the_order(
        archive: Archive) -> None:
    from concurrent.futures import Future

    from dicomvault.codecs.retrieve import LOOKAHEAD, prefetch_instances

    files = generate_study_files(series=1, per_series=LOOKAHEAD + 4, rows=16, columns=16,
                                 seed=6)
    for f in files:
        archive.store_bytes(f, CTX)
    locations = archive.locate(CTX, pydicom.dcmread(io.BytesIO(files[0])).StudyInstanceUID)
    wanted = [(location, location.transfer_syntax_uid) for location in locations]
    made = prefetch_instances(archive, wanted)
    started = list(made._pending)  # submitted before anything is asked for
    assert len(started) == LOOKAHEAD + 1
    items = list(made)
    assert items[: len(started)] == started
    assert all(isinstance(item, Future) for item in items)
    assert [item.result() for item in items] == [  # type: ignore[union-attr]
        archive.read_instance(location) for location in locations]

    stopped = prefetch_instances(archive, wanted)
    first = next(stopped)
    stopped.close()  # a client gone: nothing more is made
    assert list(stopped) == []
    assert first.result() == archive.read_instance(locations[0])  # type: ignore[union-attr]


def test_prefetch_puts_each_lead_before_its_instance_in_one_buffer(
        archive: Archive, monkeypatch: pytest.MonkeyPatch) -> None:
    """A door's framing rides in the instance's own buffer: one send per part."""
    from concurrent.futures import Future

    from dicomvault.codecs import retrieve

    files = generate_study_files(series=1, per_series=3, rows=16, columns=16, seed=7)
    for f in files:
        archive.store_bytes(f, CTX)
    locations = archive.locate(CTX, pydicom.dcmread(io.BytesIO(files[0])).StudyInstanceUID)
    wanted = [(location, location.transfer_syntax_uid) for location in locations]
    leads = [f"--part {n}\r\n".encode() for n in range(len(wanted))]
    whole = [item.result() for item in retrieve.prefetch_instances(archive, wanted, leads)
             if isinstance(item, Future)]
    expected = [lead + archive.read_instance(location)
                for lead, location in zip(leads, locations, strict=True)]
    assert whole == expected
    monkeypatch.setattr(retrieve, "WHOLE_LIMIT", 0)  # large instances stream lazily
    lazy = [b"".join(item) for item in retrieve.prefetch_instances(archive, wanted, leads)
            if not isinstance(item, Future)]
    assert lazy == expected
