"""DICOM TLS: client certificates from a generated CA are the principal of the association."""

from __future__ import annotations

import io
import ssl
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from pynetdicom import AE
from tests.dimse.scu import associated, store
from tests.support.archive_data import all_locations
from tests.support.dicom_files import real_file
from tests.support.dimse import DimseNode, dimse_node
from tests.support.pki import Issued, TestCA

from dicomvault.dimse import Status
from dicomvault.ledger import EventType

CT = "1.2.840.10008.5.1.4.1.1.2"
EXPLICIT = ["1.2.840.10008.1.2.1"]


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
