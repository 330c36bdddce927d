"""Audit exports: DICOM audit messages (PS3.15 A.5) over syslog, FHIR R4 AuditEvents.

* Every event type becomes an audit message that validates against the
  PS3.15 A.5.1 schema (tests/audit/data/audit-message.rng, through lxml) and
  a FHIR AuditEvent that the FHIR R4 models of ``fhirclient`` accept.
* The forwarder sends every ledger event to a collector the test starts,
  over TLS (RFC 5425 octet counting, the collector's certificate verified)
  and over UDP (RFC 5426), resumes from its cursor, and never sends PHI.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fhirclient.models.auditevent import AuditEvent
from fhirclient.models.bundle import Bundle
from lxml import etree
from pydicom.data import get_testdata_file

from dicomvault.access import Door, system_context
from dicomvault.archive import Archive
from dicomvault.audit.atna import to_atna_xml
from dicomvault.audit.codes import describe
from dicomvault.audit.fhir import to_fhir, to_fhir_bundle
from dicomvault.audit.forwarder import forwarder_for
from dicomvault.audit.syslog import SyslogSender
from dicomvault.config import load_settings
from dicomvault.errors import OutOfResourcesError
from dicomvault.ledger import EventType, LedgerEvent
from dicomvault.ledger.identifiers import IdentifierHasher
from dicomvault.ledger.service import LedgerService

SCHEMA = etree.RelaxNG(etree.parse(str(Path(__file__).parent / "data" / "audit-message.rng")))
HASHER = IdentifierHasher(bytes(range(32)))
ORIGIN = "pacs.example-hospital.org/ledger"


def event_of(kind: EventType) -> LedgerEvent:
    subjects = (HASHER.subject("patient", "PAT-1"), HASHER.subject("study", "1.2.3"),
                HASHER.subject("series", "1.2.3.4"), HASHER.subject("sop", "1.2.3.4.5"))
    details: dict[str, str | int | bool] = {"sop_class": "1.2.840.10008.5.1.4.1.1.2",
                                            "content_sha256": "ab" * 32}
    if kind is EventType.SEARCHED:
        subjects, details = subjects[:1], {"level": "STUDY", "matching_keys": "PatientID",
                                           "matches": 2}
    elif kind in (EventType.LOGIN_FAILED, EventType.WITNESS_ALARM):
        subjects, details = (), {"reason": "bad <password> & \x01 control"}
    return LedgerEvent(type=kind, actor="dr.who", door="DICOMweb", client="10.1.2.3",
                       time="2025-05-01T10:00:00.123456Z", subjects=subjects, details=details)


@pytest.mark.parametrize("kind", list(EventType))
def test_every_event_type_is_a_valid_dicom_audit_message(kind: EventType) -> None:
    xml = to_atna_xml(event_of(kind), index=41, origin=ORIGIN)
    document = etree.fromstring(xml)
    assert SCHEMA.validate(document), SCHEMA.error_log
    description = describe(event_of(kind))
    [event_id] = document.findall("EventIdentification/EventID")
    assert event_id.get("csd-code") == description.event_id.code
    assert document.find("EventIdentification").get("EventActionCode") == description.action
    assert b"PAT-1" not in xml and b"1.2.3.4.5" not in xml  # keyed hashes only
    entry = [p for p in document.findall("ParticipantObjectIdentification")
             if p.get("ParticipantObjectID") == "41"]
    assert len(entry) == 1  # the ledger entry, with its leaf hash among the details
    assert "leaf_hash" in {d.get("type") for d in entry[0].findall("ParticipantObjectDetail")}


def test_participants_carry_the_typed_keyed_hashes() -> None:
    event = event_of(EventType.INSTANCE_RETRIEVED)
    document = etree.fromstring(to_atna_xml(event, index=1, origin=ORIGIN))
    objects = {p.find("ParticipantObjectIDTypeCode").get("csd-code"): p
               for p in document.findall("ParticipantObjectIdentification")}
    assert objects["2"].get("ParticipantObjectID") == HASHER.hash("patient", "PAT-1")
    study = objects["110180"]
    assert study.get("ParticipantObjectID") == HASHER.hash("study", "1.2.3")
    [instance] = study.findall("ParticipantObjectDescription/SOPClass/Instance")
    assert instance.get("UID") == HASHER.hash("sop", "1.2.3.4.5")
    requestor = document.find("ActiveParticipant")
    assert (requestor.get("UserID"), requestor.get("NetworkAccessPointID")) == ("dr.who",
                                                                               "10.1.2.3")
    assert requestor.find("RoleIDCode").get("csd-code") == "110152"  # destination of a retrieve


@pytest.mark.parametrize("kind", list(EventType))
def test_every_event_type_is_a_valid_fhir_r4_audit_event(kind: EventType) -> None:
    resource = to_fhir(event_of(kind), index=7, origin=ORIGIN)
    parsed = AuditEvent(resource, strict=True)  # raises FHIRValidationError when invalid
    assert parsed.type.code == describe(event_of(kind)).event_id.code
    assert parsed.as_json()["entity"][-1]["what"]["identifier"]["value"] == "7"


def test_fhir_bundle_is_valid() -> None:
    events = [(i, event_of(kind)) for i, kind in enumerate(EventType)]
    bundle = Bundle(to_fhir_bundle(events, origin=ORIGIN), strict=True)
    assert len(bundle.entry) == len(EventType)


# -- syslog ------------------------------------------------------------------------------------


def _certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "collector.pem", directory / "collector.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class Collector:
    """An audit record repository stand-in: receives syslog over TLS or UDP, keeps messages."""

    def __init__(self, transport: str, tmp: Path) -> None:
        self.transport = transport
        self.messages: list[bytes] = []
        self.refused = 0
        self.cert, key = _certificate(tmp)
        kind = socket.SOCK_STREAM if transport == "tls" else socket.SOCK_DGRAM
        self.sock = socket.socket(socket.AF_INET, kind)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(str(self.cert), str(key))
        self.sock.settimeout(0.2)
        self.stop = threading.Event()
        if transport == "tls":
            self.sock.listen()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"{self.transport}://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                if self.transport == "udp":
                    self.messages.append(self.sock.recv(65535))
                    continue
                connection, _ = self.sock.accept()
            except TimeoutError:
                continue
            connection.settimeout(10)
            try:
                with self.context.wrap_socket(connection, server_side=True) as tls:
                    data = b""
                    while chunk := tls.recv(65536):
                        data += chunk
            except (ssl.SSLError, OSError):  # a client that refused our certificate
                self.refused += 1
                continue
            self.messages.extend(_octet_frames(data))

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


def _octet_frames(data: bytes) -> list[bytes]:
    frames = []
    while data:
        length, _, rest = data.partition(b" ")
        frames.append(rest[:int(length)])
        data = rest[int(length):]
    return frames


@pytest.fixture(params=["tls", "udp"])
def collector(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Collector]:
    server = Collector(request.param, tmp_path)
    yield server
    server.close()


def _wait_for(collector: Collector, count: int) -> None:
    for _ in range(100):
        if len(collector.messages) >= count:
            return
        threading.Event().wait(0.05)


def test_forwarder_sends_every_event_once_as_atna_syslog(archive: Archive,
                                                         collector: Collector) -> None:
    ctx = system_context(Door.CLI, actor="tech")
    for name in ("CT_small.dcm", "MR_small.dcm"):
        archive.store_bytes(Path(str(get_testdata_file(name))).read_bytes(), ctx)
    settings = load_settings(data_dir=archive.settings.data_dir,
                             database_url=archive.settings.database_url,
                             audit_syslog_url=collector.url, audit_syslog_ca_file=collector.cert)
    service = LedgerService(archive.engine, archive.audit.ledger)
    forwarder = forwarder_for(settings, service)
    assert forwarder is not None
    size = service.tree_size()
    assert forwarder.forward() == size
    _wait_for(collector, size)
    assert forwarder.forward() == 0  # resumes from the cursor: nothing twice
    archive.record_event(ctx, EventType.LOGIN_FAILED, details={"reason": "bad password"})
    assert forwarder.forward() == 1
    _wait_for(collector, size + 1)
    assert len(collector.messages) == size + 1
    for message in collector.messages:
        header, _, xml = message.partition(b"\xef\xbb\xbf")
        fields = header.decode("ascii").split(" ")
        assert fields[0] in ("<85>1", "<84>1") and fields[3:7] == [
            "dicomvault", "-", "IHE+RFC-3881", "-"]
        document = etree.fromstring(xml)
        assert SCHEMA.validate(document), SCHEMA.error_log
        assert b"CompressedSamples^CT1" not in xml and b"1CT1" not in xml  # no PHI
    last = etree.fromstring(collector.messages[-1].partition(b"\xef\xbb\xbf")[2])
    assert last.find("EventIdentification").get("EventOutcomeIndicator") == "4"
    assert collector.messages[-1].startswith(b"<84>1 ")  # a failure is a warning


def test_collector_certificate_is_verified(tmp_path: Path) -> None:
    server = Collector("tls", tmp_path)
    try:
        sender = SyslogSender(server.url)  # the system CAs do not know this collector
        with pytest.raises(OutOfResourcesError, match="unreachable"):
            sender.send([(b"<AuditMessage/>", 5)])
    finally:
        server.close()
    assert server.messages == [] and server.refused == 1
