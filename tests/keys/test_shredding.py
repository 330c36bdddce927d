"""Crypto-shredding drill: a copy of blobs and index taken before a delete cannot
yield the deleted study, with anything the archive still holds; every other
study in that copy still restores.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.keys.conftest import CTX, read_back

from dicomvault.archive import Archive
from dicomvault.errors import InvalidInputError, KeyUnavailableError, NotFoundError
from dicomvault.index import create_engine_for, instances, series, studies
from dicomvault.keys import KeyProvider
from dicomvault.storage import FilesystemBlobStore, open_bytes, open_sealed


def _copy_aside(archive: Archive, target: Path) -> tuple[Path, Path]:
    """Back up the blobs and the index (not the keys: they live apart from data backups)."""
    blob_copy = target / "blobs"
    shutil.copytree(archive.settings.blob_dir, blob_copy)
    db_copy = target / "index.sqlite3"
    source = sqlite3.connect(str(archive.engine.url.database))
    with sqlite3.connect(db_copy) as destination:
        source.backup(destination)
    source.close()
    return blob_copy, db_copy


def _restore_from_copy(keys: KeyProvider, blob_copy: Path, db_copy: Path,
                       study_uid: str) -> dict[str, bytes]:
    """What a thief or a restore can get out of the copy for one study, with ``keys``."""
    engine = create_engine_for(f"sqlite:///{db_copy}")
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(instances.c.SOPInstanceUID, instances.c.blob_name,
                          instances.c.kek_id, instances.c.wrapped_key,
                          instances.c.sealed_header, instances.c.sha256)
                .select_from(instances.join(series).join(studies))
                .where(studies.c.StudyInstanceUID == study_uid)).all()
    finally:
        engine.dispose()
    assert rows, "the copy holds the study's rows"
    store = FilesystemBlobStore(blob_copy, fsync=False)
    restored = {}
    for sop, blob, ref, wrapped, header, sha256 in rows:
        data_key = keys.unwrap(ref, bytes(wrapped))
        open_bytes(data_key, bytes(header))
        restored[sop] = b"".join(open_sealed(data_key, store.read(blob), content_sha256=sha256))
    return restored


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_deleted_study_is_unrecoverable_from_a_prior_copy(
        archive: Archive, studies: dict[str, dict[str, bytes]], tmp_path: Path) -> None:
    doomed, *kept = sorted(studies)
    blob_copy, db_copy = _copy_aside(archive, tmp_path / "backup")
    doomed_key = archive.study_keys.key_for(doomed)

    assert archive.delete(CTX, doomed) == len(studies[doomed])

    assert doomed_key not in archive.keys.key_names()
    assert archive.study_keys.pending_shreds() == 0
    with pytest.raises(NotFoundError):
        archive.locate(CTX, doomed)
    # Everything the archive still holds (its key provider, whole), with the copy:
    with pytest.raises(KeyUnavailableError):
        _restore_from_copy(archive.keys, blob_copy, db_copy, doomed)
    keyring_files = list((archive.settings.keys_dir / "kek").glob("*.json"))
    assert all(doomed_key.encode() not in f.read_bytes() for f in keyring_files)
    # ...while every other study in the same copy restores bit-exact.
    for study_uid in kept:
        assert _restore_from_copy(archive.keys, blob_copy, db_copy, study_uid) == \
            studies[study_uid]
        assert read_back(archive, study_uid) == studies[study_uid]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_deleting_part_of_a_study_re_keys_the_rest(
        archive: Archive, studies: dict[str, dict[str, bytes]], tmp_path: Path) -> None:
    study_uid = sorted(studies)[0]
    locations = archive.locate(CTX, study_uid, record_access=False)
    gone = locations[0]
    blob_copy, db_copy = _copy_aside(archive, tmp_path / "backup")

    archive.delete(CTX, study_uid, gone.series_instance_uid, gone.sop_instance_uid)

    with pytest.raises(KeyUnavailableError):  # the copy's wrapped key of the deleted one
        archive.keys.unwrap(gone.kek_id, gone.wrapped_key)
    remaining = dict(studies[study_uid])
    del remaining[gone.sop_instance_uid]
    assert read_back(archive, study_uid) == remaining
    assert blob_copy.exists() and db_copy.exists()


def test_a_kms_outage_leaves_the_key_queued_until_the_next_delete(
        archive: Archive, studies: dict[str, dict[str, bytes]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    first, second, _ = sorted(studies)
    first_key = archive.study_keys.key_for(first)
    real_destroy = archive.keys.destroy

    def unavailable(name: str) -> None:
        from dicomvault.errors import OutOfResourcesError
        raise OutOfResourcesError("KMS down")

    monkeypatch.setattr(archive.keys, "destroy", unavailable)
    archive.delete(CTX, first)
    assert archive.study_keys.pending_shreds() == 1
    assert first_key in archive.keys.key_names()
    monkeypatch.setattr(archive.keys, "destroy", real_destroy)
    archive.delete(CTX, second)
    assert archive.study_keys.pending_shreds() == 0
    assert first_key not in archive.keys.key_names()


def test_deleting_a_patient_shreds_every_study_key(
        archive: Archive, studies: dict[str, dict[str, bytes]]) -> None:
    keys = {uid: archive.study_keys.key_for(uid) for uid in studies}
    with pytest.raises(InvalidInputError):
        archive.delete_patient(CTX, "SYN*")
    # the synthetic studies all belong to one patient
    assert archive.delete_patient(CTX, "SYN0001") == sum(len(s) for s in studies.values())
    assert not set(keys.values()) & set(archive.keys.key_names())
    with pytest.raises(NotFoundError):
        archive.delete_patient(CTX, "SYN0001")
