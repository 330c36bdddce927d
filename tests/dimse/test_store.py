"""C-STORE from pynetdicom: every accepted transfer syntax stored as received, statuses of
PS3.4 B.2.3, and nothing half-stored when the association dies mid-data set."""

from __future__ import annotations

import io
import socket
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import DeflatedExplicitVRLittleEndian, MRImageStorage
from pynetdicom import _config, evt
from pynetdicom.events import Event
from tests.dimse.scu import associated, store
from tests.support.archive_data import all_locations, contents
from tests.support.dicom_files import dataset_bytes, files_by_syntax, real_file
from tests.support.dimse import DimseNode, dimse_node

from dicomvault.dimse import Status
from dicomvault.ledger import EventType


def _sop_class(data: bytes) -> str:
    return str(pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True).SOPClassUID)


def _sop_instance(data: bytes) -> str:
    return str(pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True).SOPInstanceUID)


def test_every_transfer_syntax_is_stored_as_received(node: DimseNode) -> None:
    files = files_by_syntax()
    contexts = [(_sop_class(data), [ts]) for ts, data in files.items()]
    with associated(node, contexts) as assoc:
        statuses = {ts: store(assoc, data) for ts, data in files.items()}
    assert statuses == dict.fromkeys(files, 0)
    archived = contents(node.archive)
    for ts, data in files.items():
        received = archived[_sop_instance(data)]
        if ts == DeflatedExplicitVRLittleEndian:
            # pynetdicom re-deflates what it sends: the data set is the same, not the bytes.
            assert pydicom.dcmread(io.BytesIO(received)) == pydicom.dcmread(io.BytesIO(data))
        else:
            assert dataset_bytes(received) == dataset_bytes(data), ts
        assert pydicom.dcmread(io.BytesIO(received)).file_meta.TransferSyntaxUID == ts
    with node.archive.engine.connect() as conn:
        events = [e.event for e in node.archive.audit.ledger.entries(conn, 0, 1000)]
    stored = [e for e in events if e.type is EventType.INSTANCE_STORED]
    assert len(stored) == len(files)
    assert {(e.door, e.actor) for e in stored} == {("DIMSE", "MODALITY")}


def test_refusals_have_their_status_and_store_nothing(tmp_path: Path) -> None:
    ct = real_file("CT_small.dcm")
    with dimse_node(tmp_path / "n", dimse_ae_roles={"*": ["technologist"],
                                                    "AUDITOR": ["auditor"]}) as node:
        with associated(node, [(_sop_class(ct), ["1.2.840.10008.1.2.1"])],
                        calling="AUDITOR") as assoc:
            assert store(assoc, ct) == Status.NOT_AUTHORISED
        assert all_locations(node.archive) == []
        assert list(node.archive.blobs.names()) == []

        no_study = pydicom.dcmread(io.BytesIO(ct))
        del no_study.StudyInstanceUID
        with associated(node, [(_sop_class(ct), ["1.2.840.10008.1.2.1"])]) as assoc:
            assert int(assoc.send_c_store(no_study).Status) == Status.CANNOT_UNDERSTAND
            assert store(assoc, ct) == Status.SUCCESS
            changed = pydicom.dcmread(io.BytesIO(ct))
            changed.PatientName = "OTHER^CONTENT"
            # Same SOP Instance UID, other bytes: the archived copy stays (ignore-if-identical).
            assert int(assoc.send_c_store(changed).Status) == Status.WARNING_ELEMENTS_DISCARDED
            assert store(assoc, ct) == Status.SUCCESS  # identical again: plain success
        assert [dataset_bytes(f) for f in contents(node.archive).values()] == [
            dataset_bytes(ct)]
        assert len(list(node.archive.blobs.names())) == 1


def test_data_set_of_another_sop_class_is_refused_with_a900(
        node: DimseNode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The request says MR Image Storage (from the file meta) while the data set is a CT."""
    ct = pydicom.dcmread(io.BytesIO(real_file("CT_small.dcm")))
    ct.file_meta.MediaStorageSOPClassUID = MRImageStorage
    path = tmp_path / "mislabelled.dcm"
    ct.save_as(path, enforce_file_format=False)  # keeps the mislabelled file meta
    monkeypatch.setattr(_config, "STORE_SEND_CHUNKED_DATASET", True)  # send the file as is
    with associated(node, [(MRImageStorage, ["1.2.840.10008.1.2.1"])]) as assoc:
        status = assoc.send_c_store(path)
    assert int(status.Status) == Status.DOES_NOT_MATCH_SOP_CLASS
    assert all_locations(node.archive) == []
    assert list(node.archive.blobs.names()) == []


def test_connection_dropped_mid_data_set_leaves_nothing(node: DimseNode) -> None:
    """An 8 MiB instance (1 MiB PDUs); the socket is shut after the second P-DATA PDU."""
    ds = pydicom.dcmread(io.BytesIO(real_file("CT_small.dcm")))
    ds.PixelData = bytes(range(256)) * (32 * 1024)  # 8 MiB of pixel data
    ds.Rows, ds.Columns = 2048, 2048
    sent = []

    def cut(event: Event) -> None:
        if type(event.pdu).__name__ == "P_DATA_TF":
            sent.append(event.pdu)
            if len(sent) == 2:
                event.assoc.dul.socket.socket.shutdown(socket.SHUT_RDWR)

    with associated(node, [(str(ds.SOPClassUID), ["1.2.840.10008.1.2.1"])],
                    evt_handlers=[(evt.EVT_PDU_SENT, cut)]) as assoc:
        status = assoc.send_c_store(ds)
        assert "Status" not in status  # no response: the association died
    assert 2 <= len(sent) < 8  # of the 9 PDUs the data set needs
    assert all_locations(node.archive) == []
    assert list(node.archive.blobs.names()) == []
    staging = node.archive.settings.blob_dir / ".staging"
    assert not staging.exists() or list(staging.iterdir()) == []
