"""Storage commitment reports to a modality that releases its association at once.

Many modalities release the association as soon as they have the N-ACTION
response and expect the N-EVENT-REPORT on a new association to their own SCP
(PS3.4 J.3.3). The report and the A-RELEASE-RQ then cross on the wire; the
release must still be answered (not left to the ACSE timeout, not aborted) and
the report must still arrive.
"""

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
from pynetdicom import AE, build_context, build_role, evt
from pynetdicom.events import Event
from pynetdicom.sop_class import StorageCommitmentPushModel
from tests.support.archive_data import CTX
from tests.support.dimse import DimseNode, dimse_node
from tests.support.live import free_port, wait_until

from dicomvault.dicom.synthetic import generate_study_files

MODALITY = "CT_MODALITY"
PUSH_MODEL_INSTANCE = "1.2.840.10008.1.20.1.1"


@pytest.fixture
def reports() -> Iterator[tuple[int, list[Dataset]]]:
    """The modality's own SCP: the port it listens on and the reports it received."""
    received: list[Dataset] = []

    def on_report(event: Event) -> int:
        received.append(event.event_information)
        return 0

    ae = AE(ae_title=MODALITY)
    ae.add_supported_context(StorageCommitmentPushModel, [ExplicitVRLittleEndian],
                             scu_role=True, scp_role=True)
    port = free_port()
    server = ae.start_server(("127.0.0.1", port), block=False,
                             evt_handlers=[(evt.EVT_N_EVENT_REPORT, on_report)])
    try:
        yield port, received
    finally:
        server.shutdown()


@pytest.fixture
def node(tmp_path: Path, reports: tuple[int, list[Dataset]]) -> Iterator[DimseNode]:
    port, _ = reports
    destinations = {MODALITY: {"host": "127.0.0.1", "port": port}}
    with dimse_node(tmp_path / "node", dimse_destinations=destinations) as served:
        yield served


def _request(sop_class: str, sop_instance: str) -> Dataset:
    request = Dataset()
    request.TransactionUID = generate_uid()
    item = Dataset()
    item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID = sop_class, sop_instance
    request.ReferencedSOPSequence = DicomSequence([item])
    return request


def test_report_reaches_a_modality_that_released_at_once(
        node: DimseNode, reports: tuple[int, list[Dataset]]) -> None:
    _, received = reports
    [data] = generate_study_files(series=1, per_series=1, rows=16, columns=16, seed=7)
    node.archive.store_bytes(data, CTX)
    stored = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
    sop_class, sop_instance = stored.SOPClassUID, stored.SOPInstanceUID
    transactions = []

    def on_report(event: Event) -> int:  # a report that beat the release, on the same one
        received.append(event.event_information)
        return 0

    # The report and the release race; several rounds exercise both orders.
    for _ in range(6):
        request = _request(sop_class, sop_instance)
        transactions.append(request.TransactionUID)
        ae = AE(ae_title=MODALITY)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
        assoc = ae.associate(
            "127.0.0.1", node.port, ae_title=node.ae_title,
            contexts=[build_context(StorageCommitmentPushModel, [ExplicitVRLittleEndian])],
            ext_neg=[build_role(StorageCommitmentPushModel, scu_role=True, scp_role=True)],
            evt_handlers=[(evt.EVT_N_EVENT_REPORT, on_report)])
        assert assoc.is_established
        status, _ = assoc.send_n_action(request, 1, StorageCommitmentPushModel,
                                        PUSH_MODEL_INSTANCE)
        assert int(status.Status) == 0
        assoc.release()
        # Answered with an A-RELEASE-RP, not aborted after the ACSE timeout.
        assert assoc.is_released and not assoc.is_aborted
    wait_until(lambda: len(received) == len(transactions), "every report", seconds=60)
    assert sorted(r.TransactionUID for r in received) == sorted(transactions)
    for report in received:
        [item] = report.ReferencedSOPSequence
        assert item.ReferencedSOPInstanceUID == sop_instance
        assert "FailedSOPSequence" not in report
    time.sleep(0.5)
    assert len(received) == len(transactions)  # each report delivered once, one way
