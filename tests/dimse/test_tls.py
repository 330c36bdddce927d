"""DICOM TLS: client certificates from a generated CA are the principal of the association,
and C-MOVE to a TLS destination presents our certificate and checks the destination's."""

from __future__ import annotations

import io
import ssl
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE, StoragePresentationContexts, evt
from pynetdicom.events import Event
from tests.dimse.scu import associated, store
from tests.support.archive_data import CTX, all_locations
from tests.support.dicom_files import real_file
from tests.support.dimse import DimseNode, dimse_node
from tests.support.live import free_port
from tests.support.pki import Issued, TestCA

from dicomvault.dimse import Status
from dicomvault.dimse.transport import certificate_name
from dicomvault.ledger import EventType

CT = "1.2.840.10008.5.1.4.1.1.2"
EXPLICIT = ["1.2.840.10008.1.2.1"]
MOVE = "1.2.840.10008.5.1.4.1.2.2.2"  # Study Root Query/Retrieve Information Model - MOVE


@pytest.fixture
def ca(tmp_path: Path) -> TestCA:
    return TestCA(tmp_path / "pki")


@pytest.fixture
def tls_node(tmp_path: Path, ca: TestCA) -> Iterator[DimseNode]:
    server = ca.issue("localhost", server=True)
    with dimse_node(tmp_path / "node", dimse_tls_port=0, dimse_tls_certfile=server.cert,
                    dimse_tls_keyfile=server.key, dimse_tls_ca_file=ca.cert,
                    dimse_tls_cert_roles={"modality-1": ["technologist"]},
                    dimse_ae_roles={"*": ["auditor"]}) as node:
        assert node.tls_port is not None
        yield node


def _client(ca: TestCA, issued: Issued | None) -> tuple[ssl.SSLContext, str]:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca.cert))
    if issued is not None:
        context.load_cert_chain(issued.cert, issued.key)
    return context, "localhost"


def test_client_certificate_maps_to_its_roles(tls_node: DimseNode, ca: TestCA) -> None:
    ct = real_file("CT_small.dcm")
    # Plain TCP: the calling AE title's roles (auditor: may not store).
    with associated(tls_node, [(CT, EXPLICIT)]) as assoc:
        assert store(assoc, ct) == Status.NOT_AUTHORISED
    # TLS with a certificate the map does not name: no role at all.
    with associated(tls_node, [(CT, EXPLICIT)], port=tls_node.tls_port,
                    tls_args=_client(ca, ca.issue("stranger"))) as assoc:
        assert store(assoc, ct) == Status.NOT_AUTHORISED
    assert all_locations(tls_node.archive) == []
    # TLS with modality-1's certificate: technologist, whatever the calling AE title.
    with associated(tls_node, [(CT, EXPLICIT)], port=tls_node.tls_port,
                    tls_args=_client(ca, ca.issue("modality-1"))) as assoc:
        assert store(assoc, ct) == Status.SUCCESS
    [location] = all_locations(tls_node.archive)
    assert location.sop_instance_uid == pydicom.dcmread(io.BytesIO(ct)).SOPInstanceUID
    with tls_node.archive.engine.connect() as conn:
        events = [e.event for e in tls_node.archive.audit.ledger.entries(conn, 0, 100)]
    [stored] = [e for e in events if e.type is EventType.INSTANCE_STORED]
    assert stored.door == "DIMSE"


def test_no_client_certificate_no_association(tls_node: DimseNode, ca: TestCA) -> None:
    ae = AE(ae_title="MODALITY")
    ae.add_requested_context(CT, EXPLICIT)
    assoc = ae.associate("127.0.0.1", tls_node.tls_port or 0, ae_title=tls_node.ae_title,
                         tls_args=_client(ca, None))
    assert not assoc.is_established
    other_ca = TestCA(ca.directory / "other", name="not our CA")
    ae = AE(ae_title="MODALITY")
    ae.add_requested_context(CT, EXPLICIT)
    assoc = ae.associate("127.0.0.1", tls_node.tls_port or 0, ae_title=tls_node.ae_title,
                         tls_args=_client(ca, other_ca.issue("modality-1")))
    assert not assoc.is_established


class _TlsWorkstation:
    """A storage SCP on DICOM TLS that requires a client certificate from ``ca``."""

    def __init__(self, ca: TestCA, issued: Issued) -> None:
        self.received: dict[str, str] = {}  # SOP Instance UID -> caller's certificate name
        self.port = free_port()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(issued.cert, issued.key)
        context.load_verify_locations(cafile=ca.cert)
        context.verify_mode = ssl.CERT_REQUIRED
        ae = AE(ae_title="TLSWORKSTATION")
        ae.supported_contexts = StoragePresentationContexts
        self.server = ae.start_server(("127.0.0.1", self.port), block=False,
                                      ssl_context=context,
                                      evt_handlers=[(evt.EVT_C_STORE, self._store)])

    def _store(self, event: Event) -> int:
        peer = event.assoc.dul.socket.socket.getpeercert()
        self.received[str(event.request.AffectedSOPInstanceUID)] = certificate_name(peer)
        return 0


@pytest.fixture
def workstations(ca: TestCA) -> Iterator[tuple[_TlsWorkstation, _TlsWorkstation]]:
    """One workstation with a certificate from our CA, one from a CA we do not trust."""
    trusted = _TlsWorkstation(ca, ca.issue("workstation", server=True))
    other_ca = TestCA(ca.directory / "other", name="not our CA")
    impostor = _TlsWorkstation(ca, other_ca.issue("impostor", server=True))
    try:
        yield trusted, impostor
    finally:
        trusted.server.shutdown()
        impostor.server.shutdown()


def test_c_move_to_a_tls_destination(tmp_path: Path, ca: TestCA,
                                     workstations: tuple[_TlsWorkstation, _TlsWorkstation]
                                     ) -> None:
    trusted, impostor = workstations
    node_cert = ca.issue("dicomvault-node", server=True)
    destinations = {"TLSWORKSTATION": {"host": "127.0.0.1", "port": trusted.port, "tls": True},
                    "IMPOSTOR": {"host": "127.0.0.1", "port": impostor.port, "tls": True}}
    with dimse_node(tmp_path / "node", dimse_tls_port=0, dimse_tls_certfile=node_cert.cert,
                    dimse_tls_keyfile=node_cert.key, dimse_tls_ca_file=ca.cert,
                    dimse_destinations=destinations) as node:
        ct = real_file("CT_small.dcm")
        node.archive.store_bytes(ct, CTX)
        sop = pydicom.dcmread(io.BytesIO(ct)).SOPInstanceUID
        query = Dataset()
        query.QueryRetrieveLevel = "IMAGE"
        query.StudyInstanceUID = pydicom.dcmread(io.BytesIO(ct)).StudyInstanceUID
        query.SeriesInstanceUID = pydicom.dcmread(io.BytesIO(ct)).SeriesInstanceUID
        query.SOPInstanceUID = sop
        with associated(node, [(MOVE, EXPLICIT)]) as assoc:
            moved = [s for s, _ in assoc.send_c_move(query, "TLSWORKSTATION", MOVE)]
            refused = [s for s, _ in assoc.send_c_move(query, "IMPOSTOR", MOVE)]
    assert int(moved[-1].Status) == Status.SUCCESS
    assert moved[-1].NumberOfCompletedSuboperations == 1
    # The workstation saw our node's certificate on the wire: the move went over TLS.
    assert trusted.received == {sop: "dicomvault-node"}
    # A destination whose certificate our CA did not sign gets nothing: the handshake fails
    # and, like any destination that cannot be reached, it is answered 0xA801.
    assert int(refused[-1].Status) == Status.MOVE_DESTINATION_UNKNOWN
    assert impostor.received == {}
