"""Key rotation on a populated archive: interrupted half-way, resumed, old versions gone."""

from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa
from tests.keys.conftest import CTX, read_back
from tests.support.auth import ledger_events

from dicomvault.archive import Archive
from dicomvault.errors import KeyUnavailableError
from dicomvault.index import instances
from dicomvault.keys import RotationProgress
from dicomvault.ledger import EventType


class RotationInterruptedError(Exception):
    """Stands for Ctrl-C or a crash in the middle of a rotation."""


def _wrapped(archive: Archive) -> dict[str, tuple[str, bytes]]:
    with archive.engine.connect() as conn:
        rows = conn.execute(sa.select(instances.c.SOPInstanceUID, instances.c.kek_id,
                                      instances.c.wrapped_key)).all()
    return {row[0]: (row[1], bytes(row[2])) for row in rows}


def _blob_digests(archive: Archive) -> dict[str, str]:
    return {name: hashlib.sha256(b"".join(archive.blobs.read(name))).hexdigest()
            for name in archive.blobs.names()}


def test_rotation_interrupted_half_way_then_resumed(
        archive: Archive, studies: dict[str, dict[str, bytes]]) -> None:
    before = _wrapped(archive)
    blobs_before = _blob_digests(archive)
    assert {ref.rsplit(".", 1)[1] for ref, _ in before.values()} == {"v1"}
    seen: list[RotationProgress] = []

    def stop_half_way(progress: RotationProgress) -> None:
        seen.append(progress)
        if progress.instances_rewrapped >= progress.instances_total // 2:
            raise RotationInterruptedError

    with pytest.raises(RotationInterruptedError):
        archive.rotate_keys(CTX, on_progress=stop_half_way)
    half = _wrapped(archive)
    moved = [uid for uid in half if half[uid][0] != before[uid][0]]
    assert 0 < len(moved) < len(half)  # really half-way: some re-wrapped, some not
    for study_uid, originals in studies.items():  # readable in the middle of a rotation
        assert read_back(archive, study_uid) == originals

    result = archive.rotate_keys(CTX)
    assert result.resumed and result.finished
    assert result.rotation_id == seen[0].rotation_id
    after = _wrapped(archive)
    assert all(ref.endswith(".v2") for ref, _ in after.values())
    assert all(after[uid][1] != before[uid][1] for uid in after)
    assert _blob_digests(archive) == blobs_before  # no blob rewritten
    for study_uid, originals in studies.items():
        assert read_back(archive, study_uid) == originals  # bit-exact
    for uid, (old_ref, old_wrapped) in before.items():  # the old key versions are gone
        assert not archive.keys.holds(old_ref)
        with pytest.raises(KeyUnavailableError):
            archive.keys.unwrap(old_ref, old_wrapped)
        assert uid in after

    [event] = ledger_events(archive, EventType.KEY_ROTATED)  # the interrupted run left none
    assert event.details["resumed"] is True and event.details["rewrapped"] > 0


def test_a_second_rotation_starts_a_new_run(
        archive: Archive, studies: dict[str, dict[str, bytes]]) -> None:
    first = archive.rotate_keys(CTX)
    second = archive.rotate_keys(CTX)
    assert second.rotation_id == first.rotation_id + 1 and not second.resumed
    assert all(ref.endswith(".v3") for ref, _ in _wrapped(archive).values())
    for study_uid, originals in studies.items():
        assert read_back(archive, study_uid) == originals
