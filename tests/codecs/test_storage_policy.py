"""The storage policy on a real node (SQLite and PostgreSQL): compressed copies replace blobs
only when proven, the acknowledged bytes stay retrievable and verifiable against the ledger,
the compressor is resumable, and lossy or odd inputs are never re-encoded."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pydicom
import pytest
from tests.codecs.images import real_file, synthetic
from tests.support.nodes import open_test_node

from dicomvault.access import Door, system_context
from dicomvault.archive import Archive, InstanceLocation
from dicomvault.codecs import CompressedCopy, bitstreams, compress_original
from dicomvault.codecs.compressor import CompressionDaemon, Outcome, compress_pending
from dicomvault.codecs.syntaxes import HTJ2K_LOSSLESS, JPEG_2000_LOSSLESS, JPEG_LS_LOSSLESS
from dicomvault.errors import IntegrityError
from dicomvault.ledger import EventType, LedgerEvent
from dicomvault.ledger.verify import verify_proof_bundle

CTX = system_context(Door.CLI, actor="test")
MIXED = ["CT_small.dcm", "MR_small_implicit.dcm", "US1_UNCR.dcm", "emri_small.dcm",
         "SC_rgb_2frame.dcm"]


def _store(archive: Archive, *datas: bytes) -> list[InstanceLocation]:
    locations = []
    for data in datas:
        result = archive.store_bytes(data, CTX)
        [location] = archive.locate(CTX, result.study_instance_uid, result.series_instance_uid,
                                    result.sop_instance_uid, record_access=False)
        locations.append(location)
    return locations


def _fresh(archive: Archive, location: InstanceLocation) -> InstanceLocation:
    [again] = archive.locate(CTX, location.study_instance_uid, location.series_instance_uid,
                             location.sop_instance_uid, record_access=False)
    return again


def _events(archive: Archive) -> list[tuple[int, LedgerEvent]]:
    ledger = archive.audit.ledger
    with archive.engine.connect() as conn:
        return [(entry.index, entry.event) for entry in
                ledger.entries(conn, 0, ledger.tree_size(conn))]


def _synthetic_series(count: int) -> list[bytes]:
    return [synthetic(bits_stored=12, seed=seed, rows=64, columns=48) for seed in range(count)]


def test_the_default_policy_leaves_stores_untouched_until_the_compressor_runs(
        archive: Archive) -> None:
    data = real_file("CT_small.dcm")
    [location] = _store(archive, data)
    assert not location.is_compressed_copy
    assert archive.read_instance(location) == data


def test_compress_on_ingest_keeps_the_acknowledged_bytes(ingest_archive: Archive) -> None:
    datas = [real_file(name) for name in MIXED]
    locations = _store(ingest_archive, *datas)
    for data, location in zip(datas, locations, strict=True):
        assert location.is_compressed_copy
        assert location.stored_size is not None and location.stored_size < location.size
        assert ingest_archive.read_instance(location) == data  # byte for byte
        stored = pydicom.dcmread(io.BytesIO(ingest_archive.read_stored(location)))
        assert stored.file_meta.TransferSyntaxUID == location.stored_transfer_syntax_uid
    by_modality = {loc.sop_class_uid: loc.stored_transfer_syntax_uid for loc in locations}
    assert by_modality["1.2.840.10008.5.1.4.1.1.6.1"] == HTJ2K_LOSSLESS  # US: colour rule
    assert by_modality["1.2.840.10008.5.1.4.1.1.2"] == JPEG_LS_LOSSLESS  # CT: the default
    # only the compressed blobs remain: the originals were deleted after the swap
    assert len(list(ingest_archive.blobs.names())) == len(datas)


def test_the_ledger_hash_still_verifies_the_retrieved_file(ingest_archive: Archive) -> None:
    data = real_file("emri_small.dcm")
    [location] = _store(ingest_archive, data)
    events = _events(ingest_archive)
    [(stored_index, stored)] = [(i, e) for i, e in events if e.type is EventType.INSTANCE_STORED]
    [transcoded] = [e for _, e in events if e.type is EventType.TRANSCODED]
    assert stored.details["content_sha256"] == hashlib.sha256(data).hexdigest()
    assert transcoded.details["content_sha256"] == stored.details["content_sha256"]
    assert transcoded.details["to"] == JPEG_LS_LOSSLESS
    assert transcoded.subjects == stored.subjects[:3]
    with ingest_archive.engine.begin() as conn:
        bundle = ingest_archive.audit.ledger.export_proof_bundle(conn, stored_index)
    verified = verify_proof_bundle(bundle, ingest_archive.read_instance(location))
    assert verified.file_matches


def test_compress_is_resumable_and_does_not_redo_work(archive: Archive) -> None:
    datas = _synthetic_series(5)
    _store(archive, *datas)
    first = compress_pending(archive, CTX, limit=2)
    assert first.outcomes == {Outcome.COMPRESSED: 2}
    rest = compress_pending(archive, CTX)
    assert rest.outcomes == {Outcome.COMPRESSED: 3}
    assert compress_pending(archive, CTX).looked_at == 0
    figures = archive.storage_figures()
    assert [(f.transfer_syntax, f.instances) for f in figures] == [(JPEG_LS_LOSSLESS, 5)]
    assert figures[0].original_bytes == sum(len(d) for d in datas)
    assert figures[0].ratio > 1.2


def test_since_limits_the_pass_to_recent_stores(archive: Archive) -> None:
    _store(archive, *_synthetic_series(2))
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    assert compress_pending(archive, CTX, since=tomorrow).looked_at == 0
    assert compress_pending(archive, CTX, since=tomorrow - timedelta(days=2)).looked_at == 2


def test_a_failed_proof_keeps_the_original_and_is_recorded(
        archive: Archive, monkeypatch: pytest.MonkeyPatch) -> None:
    data = real_file("CT_small.dcm")
    [location] = _store(archive, data)
    real_encode = bitstreams.encode_frame

    def off_by_one(syntax: str, frame: object, fmt: object) -> bytes:
        changed = frame.copy()  # type: ignore[attr-defined]
        changed[10, 10] += 1
        return real_encode(syntax, changed, fmt)  # type: ignore[arg-type]

    monkeypatch.setattr(bitstreams, "encode_frame", off_by_one)
    report = compress_pending(archive, CTX)
    assert report.outcomes == {Outcome.MISMATCH: 1}
    location = _fresh(archive, location)
    assert not location.is_compressed_copy
    assert archive.read_instance(location) == data
    [event] = [e for _, e in _events(archive) if e.type is EventType.TRANSCODED]
    assert event.details["outcome"] == "kept-original"
    assert "differ" in str(event.details["reason"])
    monkeypatch.undo()
    assert compress_pending(archive, CTX).looked_at == 0  # not retried


@pytest.mark.parametrize("name", ["JPEG2000.dcm", "JPEG-lossy.dcm", "MR_small_RLE.dcm",
                                  "MR_small_jpeg_ls_lossless.dcm", "MR_small_bigendian.dcm"])
def test_compressed_lossy_or_big_endian_inputs_are_never_re_encoded(
        ingest_archive: Archive, name: str) -> None:
    data = real_file(name)
    [location] = _store(ingest_archive, data)
    assert not location.is_compressed_copy
    assert compress_pending(ingest_archive, CTX).looked_at == 0
    assert ingest_archive.read_instance(_fresh(ingest_archive, location)) == data


def test_rules_choose_per_modality_and_sop_class(tmp_path: Path, database_url: str) -> None:
    rules = [{"modality": "CT", "syntax": "keep"},
             {"sop_class": "1.2.840.10008.5.1.4.1.1.4", "syntax": "jpeg2000-lossless"}]
    with open_test_node(tmp_path / "node", database_url, storage_compression_when="ingest",
                        storage_compression_rules=rules) as node:
        ct, mr = _store(node, real_file("CT_small.dcm"), real_file("MR_small.dcm"))
        assert not ct.is_compressed_copy
        assert mr.stored_transfer_syntax_uid == JPEG_2000_LOSSLESS
        assert compress_pending(node, CTX).outcomes == {Outcome.POLICY_KEEPS: 1}


def test_a_tampered_compressed_blob_is_never_served(ingest_archive: Archive,
                                                    tmp_path: Path) -> None:
    [location] = _store(ingest_archive, real_file("CT_small.dcm"))
    [path] = list((tmp_path / "node" / "blobs").rglob(location.blob_name))
    sealed = bytearray(path.read_bytes())
    sealed[len(sealed) // 2] ^= 0x01
    path.write_bytes(bytes(sealed))
    with pytest.raises(IntegrityError):
        ingest_archive.read_instance(location)
    with pytest.raises(IntegrityError):
        ingest_archive.read_stored(location)


def test_a_copy_of_an_instance_deleted_meanwhile_is_dropped(archive: Archive) -> None:
    data = real_file("MR_small.dcm")
    [location] = _store(archive, data)
    copy = compress_original(data, JPEG_LS_LOSSLESS)
    assert isinstance(copy, CompressedCopy)
    archive.delete(CTX, location.study_instance_uid)
    assert not archive.replace_stored(CTX, location, copy)
    assert list(archive.blobs.names()) == []


def test_deleting_a_compressed_instance_removes_its_blob(ingest_archive: Archive) -> None:
    [location] = _store(ingest_archive, real_file("MR_small.dcm"))
    ingest_archive.delete(CTX, location.study_instance_uid)
    assert list(ingest_archive.blobs.names()) == []


def test_the_background_compressor_waits_for_ingest_to_be_idle(archive: Archive) -> None:
    [location] = _store(archive, *_synthetic_series(1))
    busy = CompressionDaemon(archive, interval_seconds=1, idle_seconds=3600)
    busy.run_once()
    assert not _fresh(archive, location).is_compressed_copy
    idle = CompressionDaemon(archive, interval_seconds=1, idle_seconds=0)
    idle.run_once()
    assert _fresh(archive, location).is_compressed_copy
    assert idle.cursor > 0


def test_serve_runs_the_compressor_only_when_the_policy_needs_it(archive: Archive,
                                                                 tmp_path: Path,
                                                                 database_url: str) -> None:
    from dicomvault.node import background_jobs

    compressors = [job for job in background_jobs(archive) if isinstance(job, CompressionDaemon)]
    assert len(compressors) == 1
    with open_test_node(tmp_path / "keeping", database_url, storage_compression="keep",
                        storage_compression_rules=[]) as keeping:
        assert not any(isinstance(job, CompressionDaemon) for job in background_jobs(keeping))
