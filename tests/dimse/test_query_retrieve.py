"""C-FIND, C-MOVE, C-GET and storage commitment with pynetdicom as the SCU."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from pynetdicom import AE, StoragePresentationContexts, build_role, evt
from pynetdicom.events import Event
from pynetdicom.sop_class import (
    CTImageStorage,
    PatientRootQueryRetrieveInformationModelFind,
    StorageCommitmentPushModel,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
)
from tests.dimse.scu import associated, identifier
from tests.support.archive_data import CTX
from tests.support.dimse import DimseNode, dimse_node
from tests.support.live import free_port

from dicomvault.dicom.synthetic import PatientSpec, StudySpec, generate_study_files
from dicomvault.dimse import Status

EXPLICIT = [ExplicitVRLittleEndian]
MATCHES = 1000


def _fill(node: DimseNode, count: int = 6, patient: str = "PAT-QR-1") -> list[Dataset]:
    files = generate_study_files(series=2, per_series=(count + 1) // 2, rows=16, columns=16,
                                 seed=31, study=StudySpec(patient=PatientSpec(PatientID=patient)))
    for data in files[:count]:
        node.archive.store_bytes(data, CTX)
    return [pydicom.dcmread(io.BytesIO(d), stop_before_pixels=True) for d in files[:count]]


def _find(node: DimseNode, model: str, query: Dataset) -> tuple[list[Dataset], int]:
    with associated(node, [(model, EXPLICIT)]) as assoc:
        responses = list(assoc.send_c_find(query, model))
    matches = [ident for status, ident in responses if status.Status == Status.PENDING]
    return matches, int(responses[-1][0].Status)


def test_c_find_at_every_level_of_both_models(node: DimseNode) -> None:
    stored = _fill(node)
    study = stored[0].StudyInstanceUID
    patient_root, study_root = (PatientRootQueryRetrieveInformationModelFind,
                                StudyRootQueryRetrieveInformationModelFind)
    patients, status = _find(node, patient_root, identifier("PATIENT", PatientID="PAT-QR-*",
                                                            PatientName=""))
    assert status == 0 and [p.PatientID for p in patients] == ["PAT-QR-1"]
    assert "PatientName" in patients[0]
    studies, status = _find(node, study_root, identifier("STUDY", StudyInstanceUID="",
                                                        PatientID="PAT-QR-1",
                                                        ModalitiesInStudy=""))
    assert status == 0 and [s.StudyInstanceUID for s in studies] == [study]
    assert studies[0].QueryRetrieveLevel == "STUDY"
    series, status = _find(node, study_root, identifier("SERIES", StudyInstanceUID=study,
                                                       SeriesInstanceUID="", Modality=""))
    assert status == 0
    assert {s.SeriesInstanceUID for s in series} == {d.SeriesInstanceUID for d in stored}
    images, status = _find(node, patient_root, identifier(
        "IMAGE", PatientID="PAT-QR-1", StudyInstanceUID=study,
        SeriesInstanceUID=stored[0].SeriesInstanceUID, SOPInstanceUID=""))
    assert status == 0
    assert {i.SOPInstanceUID for i in images} == {
        d.SOPInstanceUID for d in stored if d.SeriesInstanceUID == stored[0].SeriesInstanceUID}
    none, status = _find(node, study_root, identifier("STUDY", PatientID="NOBODY"))
    assert (none, status) == ([], 0)
    _, status = _find(node, study_root, identifier("PATIENT", PatientID="*"))
    assert status == Status.DOES_NOT_MATCH_SOP_CLASS  # no PATIENT level in Study Root


def test_c_find_cancelled_half_way(tmp_path: Path) -> None:
    """The SCU cancels after the second of 1,000 pending responses."""
    with dimse_node(tmp_path / "n") as node:
        files = generate_study_files(series=1, per_series=MATCHES, rows=8, columns=8, seed=5)
        for _label, outcome in node.archive.store_many(((str(i), [d]) for i, d in
                                                        enumerate(files)), CTX):
            assert not hasattr(outcome, "error")
        model = StudyRootQueryRetrieveInformationModelFind
        with associated(node, [(model, EXPLICIT)]) as assoc:
            query = identifier("IMAGE", StudyInstanceUID="", SOPInstanceUID="")
            statuses = []
            for status, _ in assoc.send_c_find(query, model, msg_id=7):
                statuses.append(int(status.Status))
                if len(statuses) == 2:
                    cx = next(c for c in assoc.accepted_contexts if c.abstract_syntax == model)
                    assoc.send_c_cancel(7, cx.context_id)
    assert statuses[-1] == Status.CANCELLED
    # Honoured half-way at the latest (here it stops within 17-33 responses: the SCP lets
    # the peer be heard every 16).
    assert 2 <= len(statuses) - 1 < MATCHES // 2
    assert set(statuses[:-1]) == {Status.PENDING}


class _StorageSCP:
    """A pynetdicom storage SCP standing for a workstation (C-MOVE destination)."""

    def __init__(self) -> None:
        self.received: dict[str, bytes] = {}
        self.port = free_port()
        self.ae = AE(ae_title="WORKSTATION")
        self.ae.supported_contexts = StoragePresentationContexts

    def _store(self, event: Event) -> int:
        self.received[str(event.request.AffectedSOPInstanceUID)] = event.encoded_dataset()
        return 0

    def __enter__(self) -> _StorageSCP:
        self.server = self.ae.start_server(("127.0.0.1", self.port), block=False,
                                           evt_handlers=[(evt.EVT_C_STORE, self._store)])
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()


@pytest.fixture
def workstation() -> Iterator[_StorageSCP]:
    with _StorageSCP() as scp:
        yield scp


def move_a_study(tmp_path: Path, workstation: _StorageSCP,
                 *destinations: str) -> tuple[list[Dataset], list[list[Dataset]]]:
    """A node with ``workstation`` configured as WORKSTATION, a study stored in it and
    C-MOVEd to each of ``destinations``: the stored instances and each move's responses."""
    configured = {"WORKSTATION": {"host": "127.0.0.1", "port": workstation.port}}
    with dimse_node(tmp_path / "n", dimse_destinations=configured) as node:
        stored = _fill(node)
        model = StudyRootQueryRetrieveInformationModelMove
        query = identifier("STUDY", StudyInstanceUID=stored[0].StudyInstanceUID)
        with associated(node, [(model, EXPLICIT)]) as assoc:
            return stored, [[s for s, _ in assoc.send_c_move(query, destination, model)]
                            for destination in destinations]


def test_c_move_to_a_configured_destination(tmp_path: Path, workstation: _StorageSCP) -> None:
    stored, (responses, unknown) = move_a_study(tmp_path, workstation, "WORKSTATION", "NOWHERE")
    assert responses[:-1] and {int(r.Status) for r in responses[:-1]} == {Status.PENDING}
    assert int(responses[-1].Status) == 0
    assert responses[-1].NumberOfCompletedSuboperations == len(stored)
    assert responses[-1].NumberOfFailedSuboperations == 0
    assert set(workstation.received) == {d.SOPInstanceUID for d in stored}
    assert int(unknown[-1].Status) == Status.MOVE_DESTINATION_UNKNOWN


def test_c_get_returns_the_series_on_the_same_association(node: DimseNode) -> None:
    stored = _fill(node)
    series = stored[0].SeriesInstanceUID
    received: list[str] = []

    def on_store(event: Event) -> int:
        received.append(str(event.dataset.SOPInstanceUID))
        return 0

    model = StudyRootQueryRetrieveInformationModelGet
    with associated(node, [(model, EXPLICIT), (CTImageStorage, EXPLICIT)],
                    ext_neg=[build_role(CTImageStorage, scp_role=True)],
                    evt_handlers=[(evt.EVT_C_STORE, on_store)]) as assoc:
        query = identifier("SERIES", StudyInstanceUID=stored[0].StudyInstanceUID,
                           SeriesInstanceUID=series)
        responses = [s for s, _ in assoc.send_c_get(query, model)]
    assert int(responses[-1].Status) == 0
    assert sorted(received) == sorted(d.SOPInstanceUID for d in stored
                                      if d.SeriesInstanceUID == series)


def test_storage_commitment_reports_only_what_is_archived(node: DimseNode) -> None:
    stored = _fill(node, count=2)
    reports: list[tuple[int, Dataset]] = []

    def on_report(event: Event) -> int:
        reports.append((event.event_type, event.event_information))
        return 0

    request = Dataset()
    request.TransactionUID = generate_uid()
    missing = generate_uid()
    request.ReferencedSOPSequence = DicomSequence()
    for sop_class, sop in [*[(d.SOPClassUID, d.SOPInstanceUID) for d in stored],
                           (CTImageStorage, missing)]:
        item = Dataset()
        item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID = sop_class, sop
        request.ReferencedSOPSequence.append(item)
    with associated(node, [(StorageCommitmentPushModel, EXPLICIT)],
                    ext_neg=[build_role(StorageCommitmentPushModel, scu_role=True,
                                        scp_role=True)],
                    evt_handlers=[(evt.EVT_N_EVENT_REPORT, on_report)]) as assoc:
        status, _ = assoc.send_n_action(request, 1, StorageCommitmentPushModel,
                                        "1.2.840.10008.1.20.1.1")
        assert int(status.Status) == 0
        deadline = time.monotonic() + 30
        while not reports and time.monotonic() < deadline:
            time.sleep(0.05)
    [(event_type, info)] = reports
    assert event_type == 2  # some failed
    assert info.TransactionUID == request.TransactionUID
    assert {i.ReferencedSOPInstanceUID for i in info.ReferencedSOPSequence} == {
        d.SOPInstanceUID for d in stored}
    [failed] = info.FailedSOPSequence
    assert (failed.ReferencedSOPInstanceUID, failed.FailureReason) == (missing, 0x0112)
