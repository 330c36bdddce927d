"""Every Archive operation, through every door that exists, leaves exactly the expected events.

One table: a row is a door, an operation done the way a real client does it
(an HTTP request with httpx, a ``dicomvault`` subprocess), and the events it
must append: exactly those, of that door, naming the right subjects. Rows
run in order on one node holding one 2-series study of 3 instances.

Adding a door is adding rows: the DIMSE rows (``door="DIMSE"``) use pynetdicom
against ``node.dicom_port`` (C-STORE -> instance_stored, C-FIND and storage
commitment -> searched, C-GET -> instance_retrieved per instance).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE, build_context, build_role, evt
from pynetdicom.sop_class import (
    CTImageStorage,
    MRImageStorage,
    StorageCommitmentPushModel,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
)
from tests.support.auth import admin_headers
from tests.support.dimse import dimse_serving
from tests.support.live import serving
from tests.support.multipart import stow_body
from tests.support.nodes import TEST_PASSPHRASE

from dicomvault.access import Door, system_context
from dicomvault.archive import Archive
from dicomvault.dicom.synthetic import PatientSpec, StudySpec, generate_study_files
from dicomvault.ledger import EventType
from dicomvault.ledger.events import subject_kind

STORED, RETRIEVED, SEARCHED = (EventType.INSTANCE_STORED, EventType.INSTANCE_RETRIEVED,
                               EventType.SEARCHED)
INSTANCE_SUBJECTS = {"study", "series", "sop"}


@dataclass
class Node:
    """The node under test, how to reach it, and the study it holds."""

    archive: Archive
    base_url: str
    data_dir: Path
    database_url: str
    study: str
    series: list[str]
    sops: list[str]
    spare: list[bytes]  # files not stored yet (another study)
    tmp: Path
    dicom_port: int = 0

    def cli(self, *args: str, stdin: str | None = None) -> str:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DICOMVAULT_")}
        env.update(DICOMVAULT_DATA_DIR=str(self.data_dir),
                   DICOMVAULT_DATABASE_URL=self.database_url,
                   DICOMVAULT_KEYRING_PASSPHRASE=TEST_PASSPHRASE)
        done = subprocess.run([sys.executable, "-m", "dicomvault.cli", *args], env=env,
                              text=True, capture_output=True, input=stdin, timeout=180,
                              check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout

    @property
    def auth(self) -> dict[str, str]:
        return admin_headers(self.archive)

    def get(self, path: str, **headers: str) -> httpx.Response:
        response = httpx.get(self.base_url + path, headers={**self.auth, **headers}, timeout=60)
        assert response.status_code == 200, (path, response.status_code, response.text[:300])
        return response


@dataclass(frozen=True)
class Operation:
    door: Door
    name: str
    run: Callable[[Node], object]
    #: Events the operation must append: type -> how many.
    expected: dict[EventType, int]
    #: Subject kinds every one of those events must name.
    subjects: frozenset[str] = frozenset()


def _stow(node: Node) -> None:
    body, content_type = stow_body(node.spare[:2])
    response = httpx.post(f"{node.base_url}/dicom-web/studies", content=body,
                          headers={"Content-Type": content_type, **node.auth}, timeout=60)
    assert response.status_code == 200, response.text


def _import(node: Node) -> None:
    path = node.tmp / "incoming.dcm"
    path.write_bytes(node.spare[2])
    node.cli("import", str(path))


def _prove(node: Node) -> None:
    path = node.tmp / "exported" / node.series[0] / f"{node.sops[0]}.dcm"
    node.cli("ledger", "prove", str(path), "-o", str(node.tmp / "bundle.json"))


def _delete(node: Node) -> None:
    response = httpx.delete(f"{node.base_url}/dicom-web/studies/{node.study}/series/"
                            f"{node.series[1]}/instances/{node.sops[2]}", timeout=60,
                            headers=node.auth)
    assert response.status_code == 204


def _study(node: Node) -> str:
    return f"/dicom-web/studies/{node.study}"


def _instance(node: Node) -> str:
    return f"/dicom-web/studies/{node.study}/series/{node.series[0]}/instances/{node.sops[0]}"


def _dimse(node: Node, contexts: list[str], **options: object) -> Any:
    ae = AE(ae_title="AUDIT_SCU")
    assoc = ae.associate("127.0.0.1", node.dicom_port, ae_title="DICOMVAULT",
                         contexts=[build_context(uid) for uid in contexts], **options)
    assert assoc.is_established
    return assoc


def _c_store(node: Node, files: list[bytes]) -> None:
    datasets = [pydicom.dcmread(io.BytesIO(data)) for data in files]
    assoc = _dimse(node, sorted({str(ds.SOPClassUID) for ds in datasets}))
    try:
        assert [int(assoc.send_c_store(ds).Status) for ds in datasets] == [0] * len(files)
    finally:
        assoc.release()


def _c_find(node: Node, level: str, study: str | None = None) -> None:
    query = Dataset()
    query.QueryRetrieveLevel = level
    query.StudyInstanceUID = study or ""
    if level == "SERIES":
        query.SeriesInstanceUID = ""
    assoc = _dimse(node, [StudyRootQueryRetrieveInformationModelFind])
    try:
        *_, (status, _) = assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind)
        assert int(status.Status) == 0
    finally:
        assoc.release()


def _c_get(node: Node) -> None:
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = node.study
    storage = [CTImageStorage, MRImageStorage]
    assoc = _dimse(node, [StudyRootQueryRetrieveInformationModelGet, *storage],
                   ext_neg=[build_role(uid, scp_role=True) for uid in storage],
                   evt_handlers=[(evt.EVT_C_STORE, lambda event: 0)])
    try:
        *_, (status, _) = assoc.send_c_get(query, StudyRootQueryRetrieveInformationModelGet)
        assert int(status.Status) == 0 and status.NumberOfCompletedSuboperations == 3
    finally:
        assoc.release()


def _commit(node: Node) -> None:
    request, item = Dataset(), Dataset()
    request.TransactionUID = generate_uid()
    item.ReferencedSOPClassUID = CTImageStorage
    item.ReferencedSOPInstanceUID = node.sops[0]
    request.ReferencedSOPSequence = [item]
    assoc = _dimse(node, [StorageCommitmentPushModel],
                   evt_handlers=[(evt.EVT_N_EVENT_REPORT, lambda event: 0)])
    try:
        status, _ = assoc.send_n_action(request, 1, StorageCommitmentPushModel,
                                        "1.2.840.10008.1.20.1.1")
        assert int(status.Status) == 0
    finally:
        assoc.release()


DICOMWEB, CLI, API, DIMSE = Door.DICOMWEB, Door.CLI, Door.API, Door.DIMSE
OPERATIONS: list[Operation] = [
    Operation(DICOMWEB, "STOW-RS two instances", _stow, {STORED: 2},
              frozenset({"patient", *INSTANCE_SUBJECTS})),
    Operation(DICOMWEB, "QIDO-RS studies", lambda n: n.get("/dicom-web/studies"),
              {SEARCHED: 1}),
    Operation(DICOMWEB, "QIDO-RS series of a study",
              lambda n: n.get(_study(n) + "/series"), {SEARCHED: 1}, frozenset({"study"})),
    Operation(DICOMWEB, "QIDO-RS by PatientID",
              lambda n: n.get("/dicom-web/studies?PatientID=PAT-AUDIT-1"), {SEARCHED: 1},
              frozenset({"patient"})),
    Operation(DICOMWEB, "WADO-RS study", lambda n: n.get(_study(n)), {RETRIEVED: 3},
              frozenset(INSTANCE_SUBJECTS)),
    Operation(DICOMWEB, "WADO-RS metadata",
              lambda n: n.get(_study(n) + "/metadata", accept="application/dicom+json"),
              {RETRIEVED: 3}, frozenset(INSTANCE_SUBJECTS)),
    Operation(DICOMWEB, "WADO-RS frame", lambda n: n.get(_instance(n) + "/frames/1"),
              {RETRIEVED: 1}, frozenset(INSTANCE_SUBJECTS)),
    Operation(DICOMWEB, "rendered instance",
              lambda n: n.get(_instance(n) + "/rendered", accept="image/png"), {RETRIEVED: 1},
              frozenset(INSTANCE_SUBJECTS)),
    Operation(DICOMWEB, "thumbnail", lambda n: n.get(_instance(n) + "/thumbnail"),
              {RETRIEVED: 1}, frozenset(INSTANCE_SUBJECTS)),
    Operation(CLI, "import", _import, {STORED: 1}, frozenset({"patient", *INSTANCE_SUBJECTS})),
    Operation(CLI, "ls", lambda n: n.cli("ls"), {SEARCHED: 1}),
    Operation(CLI, "export", lambda n: n.cli("export", n.study, str(n.tmp / "exported")),
              {EventType.EXPORTED: 3}, frozenset(INSTANCE_SUBJECTS)),
    Operation(CLI, "ledger checkpoint", lambda n: n.cli("ledger", "checkpoint"), {}),
    Operation(CLI, "ledger prove", _prove, {}),
    Operation(CLI, "ledger verify", lambda n: n.cli("ledger", "verify"), {}),
    Operation(CLI, "audit patient", lambda n: n.cli("audit", "patient", stdin="PAT-AUDIT-1\n"),
              {EventType.AUDIT_LOG_USED: 1}, frozenset({"patient"})),
    Operation(API, "audit events view", lambda n: n.get("/api/audit/events?limit=5"),
              {EventType.AUDIT_LOG_USED: 1}),
    Operation(API, "ledger checkpoint and proofs",
              lambda n: (n.get("/api/ledger/checkpoint"),
                         n.get("/api/ledger/entries/3/inclusion-proof")), {}),
    Operation(DIMSE, "C-STORE two instances", lambda n: _c_store(n, n.spare[3:5]), {STORED: 2},
              frozenset({"patient", *INSTANCE_SUBJECTS})),
    Operation(DIMSE, "C-FIND studies", lambda n: _c_find(n, "STUDY"), {SEARCHED: 1}),
    Operation(DIMSE, "C-FIND series of a study", lambda n: _c_find(n, "SERIES", n.study),
              {SEARCHED: 1}, frozenset({"study"})),
    Operation(DIMSE, "C-GET study", _c_get, {RETRIEVED: 3},
              frozenset(INSTANCE_SUBJECTS)),
    Operation(DIMSE, "storage commitment", _commit, {SEARCHED: 1}),
    Operation(DICOMWEB, "DELETE instance", _delete, {EventType.DELETED: 1},
              frozenset(INSTANCE_SUBJECTS)),
]


@pytest.fixture
def node(archive: Archive, tmp_path: Path, database_url: str) -> Iterator[Node]:
    study_spec = StudySpec(patient=PatientSpec(PatientID="PAT-AUDIT-1"))
    files = generate_study_files(series=2, per_series=2, rows=16, columns=16, seed=11,
                                 study=study_spec)[:3]
    spare = generate_study_files(series=1, per_series=5, rows=16, columns=16, seed=12)
    ctx = system_context(Door.CLI, actor="setup")
    for data in files:
        archive.store_bytes(data, ctx)
    datasets = [pydicom.dcmread(io.BytesIO(data)) for data in files]
    with serving(archive) as url, dimse_serving(archive) as dimse:
        yield Node(archive, url, archive.settings.data_dir, database_url,
                   datasets[0].StudyInstanceUID,
                   list(dict.fromkeys(ds.SeriesInstanceUID for ds in datasets)),
                   [ds.SOPInstanceUID for ds in datasets], spare, tmp_path, dimse.port)


def test_every_operation_leaves_exactly_its_events(node: Node) -> None:
    ledger = node.archive.audit.ledger
    failures = []
    for operation in OPERATIONS:
        with node.archive.engine.connect() as conn:
            before = ledger.tree_size(conn)
        operation.run(node)
        with node.archive.engine.connect() as conn:
            events = [entry.event for entry in ledger.entries(conn, before, before + 1000)]
        found = Counter(event.type for event in events)
        problems = []
        if found != Counter(operation.expected):
            problems.append(f"events {dict(found)} != {operation.expected}")
        for event in events:
            kinds = {subject_kind(s) for s in event.subjects}
            if event.door != operation.door.value or not event.actor or not event.client:
                problems.append(f"{event.type}: door/actor/client {event.door!r} "
                                f"{event.actor!r} {event.client!r}")
            if not operation.subjects <= kinds:
                problems.append(f"{event.type}: subjects {sorted(kinds)} lack "
                                f"{sorted(operation.subjects - kinds)}")
        if problems:
            failures.append(f"{operation.door} {operation.name}: {'; '.join(problems)}")
    assert not failures, "\n".join(failures)
