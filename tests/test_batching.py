"""GroupCommitter: one instance at a time, its blob flushing while the index works.

A DIMSE association stores through ``GroupCommitter.store``, which lets the
blob's commit (fsync, rename) run in the background while the header is parsed
and the index statements run. These tests pin that nothing is indexed (so
nothing acknowledged) before the blob is durable, and that a failure on either
side leaves nothing behind.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import pydicom
import pytest

from dicomvault.access import Door, system_context
from dicomvault.archive import Archive, StoreOutcome, StoreResult
from dicomvault.batching import GroupCommitter
from dicomvault.dicom.synthetic import generate_study_files
from dicomvault.errors import DicomVaultError, NotDicomError, OutOfResourcesError
from dicomvault.storage import BlobWriter

CTX = system_context(Door.DIMSE, actor="MODALITY")


@dataclass
class _Gate:
    """Holds every blob commit until released; can make them fail instead."""

    started: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    fail: bool = False
    uses_index: bool = False
    threads: list[str] = field(default_factory=list)


class _HeldWriter(BlobWriter):
    def __init__(self, inner: BlobWriter, gate: _Gate) -> None:
        self.name = inner.name
        self.commit_uses_index = gate.uses_index
        self._inner = inner
        self._gate = gate

    def write(self, data: bytes) -> None:
        self._inner.write(data)

    def commit(self) -> None:
        self._gate.threads.append(threading.current_thread().name)
        self._gate.started.set()
        assert self._gate.release.wait(30)
        if self._gate.fail:
            self._inner.abort()
            raise OutOfResourcesError("blob storage cannot write (ENOSPC); retry later")
        self._inner.commit()

    def abort(self) -> None:
        self._inner.abort()


@pytest.fixture
def gate(archive: Archive, monkeypatch: pytest.MonkeyPatch) -> _Gate:
    held = _Gate()
    begin: Callable[[str], BlobWriter] = archive.blobs.begin
    monkeypatch.setattr(archive.blobs, "begin", lambda name: _HeldWriter(begin(name), held))
    return held


def _store_in_thread(committer: GroupCommitter, data: bytes
                     ) -> tuple[threading.Thread, list[StoreResult | BaseException]]:
    outcome: list[StoreResult | BaseException] = []

    def run() -> None:
        try:
            outcome.append(committer.store(data, CTX))
        except DicomVaultError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def test_nothing_is_indexed_before_its_blob_is_durable(archive: Archive, gate: _Gate) -> None:
    data = generate_study_files(series=1, per_series=1, rows=16, columns=16)[0]
    thread, outcome = _store_in_thread(GroupCommitter(archive), data)
    assert gate.started.wait(30)
    thread.join(0.5)  # time enough to parse, index and reach the commit, were it not held
    assert thread.is_alive() and outcome == []  # not acknowledged
    assert archive.stored_sop_classes([_sop_uid(data)]) == {}  # not indexed (committed)
    gate.release.set()
    thread.join(30)
    [result] = outcome
    assert isinstance(result, StoreResult) and result.outcome is StoreOutcome.STORED
    assert archive.stored_sop_classes([result.sop_instance_uid])
    assert list(archive.blobs.names()) != []
    assert not gate.threads[0].startswith("Thread")  # it ran in the background pool


def test_a_blob_that_cannot_be_made_durable_is_refused_and_nothing_stays(
    archive: Archive, gate: _Gate
) -> None:
    gate.fail = True
    gate.release.set()
    data = generate_study_files(series=1, per_series=1, rows=16, columns=16)[0]
    with pytest.raises(OutOfResourcesError):
        GroupCommitter(archive).store(data, CTX)
    assert archive.stored_sop_classes([_sop_uid(data)]) == {}
    assert list(archive.blobs.names()) == []


def test_a_refused_file_waits_for_its_blob_commit_and_removes_it(
    archive: Archive, gate: _Gate
) -> None:
    gate.release.set()
    with pytest.raises(NotDicomError):
        GroupCommitter(archive).store(b"not dicom at all" * 100, CTX)
    assert gate.started.is_set()  # the commit had started before the header was refused
    assert list(archive.blobs.names()) == []
    assert list(archive.settings.blob_dir.joinpath(".staging").iterdir()) == []


def test_a_resend_waits_for_its_blob_commit_and_removes_the_copy(
    archive: Archive, gate: _Gate
) -> None:
    gate.release.set()
    data = generate_study_files(series=1, per_series=1, rows=16, columns=16)[0]
    committer = GroupCommitter(archive)
    committer.store(data, CTX)
    blobs = set(archive.blobs.names())
    assert committer.store(data, CTX).outcome is StoreOutcome.ALREADY_STORED
    assert set(archive.blobs.names()) == blobs


def test_a_commit_that_writes_the_index_runs_in_the_foreground(
    archive: Archive, gate: _Gate
) -> None:
    """Asynchronous replication queues the blob in the index database: run in the
    background while the index transaction waits for it, it would wait for itself."""
    gate.uses_index = True
    gate.release.set()
    data = generate_study_files(series=1, per_series=1, rows=16, columns=16)[0]
    upload = archive.begin_upload()
    upload.write(data)
    staged = upload.finish(in_background=True)
    assert staged.durable is None
    assert gate.threads == [threading.current_thread().name]
    results, _ = archive.commit([staged], CTX)
    assert results[0].outcome is StoreOutcome.STORED


def _sop_uid(data: bytes) -> str:
    return str(pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True).SOPInstanceUID)


def test_closing_the_archive_waits_for_a_blob_commit_in_flight(
    archive: Archive, gate: _Gate
) -> None:
    """A server that stops leaves no staged blob half-committed: close waits for it."""
    data = generate_study_files(series=1, per_series=1, rows=16, columns=16)[0]
    upload = archive.begin_upload()
    upload.write(data)
    staged = upload.finish(in_background=True)
    assert gate.started.wait(30)
    closer = threading.Thread(target=archive.close)
    closer.start()
    closer.join(0.5)
    assert closer.is_alive()  # still waiting for the held commit
    gate.release.set()
    closer.join(30)
    assert not closer.is_alive()
    staged.wait_durable()
    assert archive.blobs.exists(staged.stored.blob_name)
    with pytest.raises(RuntimeError):  # a closed node takes no more background work
        archive.blob_commits.submit(lambda: None)
