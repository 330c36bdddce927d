"""A hospital node for the chain tests: real DICOM files stored, share events recorded."""

from __future__ import annotations

from pathlib import Path

from pydicom.data import get_testdata_file

from dicomvault.access import Door, system_context
from dicomvault.archive import Archive
from dicomvault.chain.anchorer import Anchorer
from dicomvault.chain.backlog import Backlog
from dicomvault.chain.client import ChainClient
from dicomvault.chain.records import agreement_digest
from dicomvault.ledger import EventType
from dicomvault.ledger.canonical import JSONValue
from dicomvault.ledger.service import LedgerService

ORIGIN = "pacs.hospital-a.example/ledger"
CTX = system_context(Door.CLI, actor="test")
#: Real files from pydicom's test data (a CT, an MR, a CR...), stored one by one.
FILES = ("CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "JPEG2000.dcm", "US1_J2KR.dcm")


def store_real_file(archive: Archive, number: int) -> None:
    path = get_testdata_file(FILES[number % len(FILES)])
    assert path is not None
    archive.store_bytes(Path(str(path)).read_bytes(), CTX)


def ledger_of(archive: Archive) -> LedgerService:
    return LedgerService(archive.engine, archive.audit.ledger)


def agreement(share_id: str, **changes: JSONValue) -> dict[str, JSONValue]:
    """A share agreement as the sharing subsystem would write it (JSON)."""
    value: dict[str, JSONValue] = {
        "share_id": share_id,
        "grantor": "pacs.hospital-a.example",
        "grantee_key": "hospital-b+8a3f1c2e+AbCdEf0123456789abcdef0123456789abcdef0123456789",
        "scope": {"kind": "study", "study_sha256": "3" * 64},
        "purpose": "second opinion",
        "expires": "2027-01-31T00:00:00Z",
        "max_retrievals": 3,
        "deid_profile": "basic+retain-longitudinal-modified-dates",
        "doors": ["DICOMweb"],
    }
    value.update(changes)
    return value


def record_share(archive: Archive, share: dict[str, JSONValue], kind: EventType = EventType.SHARED,
                 role: str = "grantor") -> None:
    """The ledger event the sharing subsystem records for a grant or a revocation."""
    share_id = share["share_id"]
    assert isinstance(share_id, str)
    archive.record_event(CTX, kind, details={
        "share_id": share_id, "grantor": "pacs.hospital-a.example", "grantee": "hospital-b",
        "role": role, "agreement_sha256": agreement_digest(share).hex()})


def anchorer(archive: Archive, client: ChainClient) -> Anchorer:
    def record(kind: EventType, details: dict[str, str | int | bool]) -> None:
        archive.record_event(CTX, kind, details=details)

    return Anchorer(Backlog(archive.engine, archive.audit.ledger), client, record)
