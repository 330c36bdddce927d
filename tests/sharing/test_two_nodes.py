"""Two real nodes: two ``dicomvault serve`` processes with their own data directories and
databases, set up and driven with the real CLI, exchanging studies under agreements.

Hospital A grants, hospital B is the partner. Each case ends as its agreement says
(de-identified retrieval; limit reached; expiry; revocation mid-transfer; a study
requested by UID guessing) and is found in BOTH ledgers with the same agreement hash;
each node witnesses the other's ledger checkpoints.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path
from urllib.parse import quote

import httpx
import pydicom
import pytest
import sqlalchemy as sa
from tests.conftest import POSTGRES_URL, _postgres_reason
from tests.sharing.conftest import CTX, make_study
from tests.support.auth import ledger_events
from tests.support.live import free_port, http_status, wait_until
from tests.support.nodes import TEST_PASSPHRASE, open_test_node

from dicomvault.archive import Archive
from dicomvault.errors import NotFoundError
from dicomvault.index import Query, QueryLevel
from dicomvault.ledger import EventType
from dicomvault.sharing.grantee import ShareReceiver
from dicomvault.sharing.institution import InstitutionKey


@dataclass
class Node:
    """One hospital: its data directory, database, ports, and how to run its CLI."""

    name: str
    data_dir: Path
    database_url: str
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DICOMVAULT_")}
        env.update(DICOMVAULT_DATA_DIR=str(self.data_dir),
                   DICOMVAULT_DATABASE_URL=self.database_url,
                   DICOMVAULT_KEYRING_PASSPHRASE=TEST_PASSPHRASE,
                   DICOMVAULT_HTTP_PORT=str(self.port), DICOMVAULT_DICOM_PORT=str(free_port()),
                   DICOMVAULT_LEDGER_ORIGIN=f"{self.name}.example/ledger",
                   DICOMVAULT_LEDGER_CHECKPOINT_INTERVAL_SECONDS="0.5",
                   DICOMVAULT_LOG_LEVEL="WARNING")
        return env

    def run(self, *args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([sys.executable, "-m", "dicomvault.cli", *args], env=self.env,
                              text=True, capture_output=True, timeout=300, check=False)
        assert done.returncode == expect, (args, done.stdout, done.stderr)
        return done

    def cli(self, *args: str, expect: int = 0) -> str:
        """Run a command; its whole output (stdout and stderr)."""
        done = self.run(*args, expect=expect)
        return done.stdout + done.stderr

    def cli_json(self, *args: str) -> dict[str, object]:
        value = json.loads(self.run(*args).stdout)
        assert isinstance(value, dict)
        return value


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def databases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """One database per node: two SQLite files, or two PostgreSQL schemas."""
    if request.param == "sqlite":
        yield (f"sqlite:///{tmp_path / 'a.sqlite3'}", f"sqlite:///{tmp_path / 'b.sqlite3'}")
        return
    reason = _postgres_reason()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    schemas = [f"dv_test_{secrets.token_hex(6)}" for _ in range(2)]
    admin = sa.create_engine(POSTGRES_URL)
    separator = "&" if "?" in POSTGRES_URL else "?"
    try:
        with admin.begin() as conn:
            for schema in schemas:
                conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        a, b = (f"{POSTGRES_URL}{separator}options={quote(f'-csearch_path={s}')}"
                for s in schemas)
        yield a, b
        with admin.begin() as conn:
            for schema in schemas:
                conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        admin.dispose()


@pytest.fixture
def nodes(tmp_path: Path, databases: tuple[str, str]) -> Iterator[tuple[Node, Node]]:
    """Hospitals A and B, introduced to each other with the CLI, both serving."""
    a = Node("a", tmp_path / "a", databases[0], free_port())
    b = Node("b", tmp_path / "b", databases[1], free_port())
    identities = {}
    for node in (a, b):
        node.cli("institution", "keygen")
        identities[node.name] = node.cli_json("institution", "show")
    for node, other, label in ((a, "b", "hospital-b"), (b, "a", "hospital-a")):
        them = identities[other]
        node.cli("institution", "add-partner", label, "--key", str(them["public_key"]),
                 "--url", str(them["url"]), "--ledger-key", str(them["ledger_key"]))
    processes = [_serve(node) for node in (a, b)]
    try:
        for node in (a, b):
            wait_until(lambda node=node: http_status(f"{node.url}/healthz") == 200,  # type: ignore[misc]
                       f"{node.name} to start")
        yield a, b
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _serve(node: Node) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "dicomvault.cli", "serve"], env=node.env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)




def _open(stack: ExitStack, node: Node) -> Archive:
    """The node's archive opened beside its running server (as any CLI command does)."""
    return stack.enter_context(open_test_node(node.data_dir, node.database_url,
                                              ledger_origin=f"{node.name}.example/ledger"))


def _share_events(archive: Archive, share_id: str) -> list[tuple[str, dict[str, object]]]:
    events = []
    for kind in (EventType.SHARED, EventType.SHARE_USED, EventType.SHARE_REVOKED):
        events += [(kind.value, dict(e.details)) for e in ledger_events(archive, kind)
                   if e.details.get("share_id") == share_id]
    return events


def _reasons(events: list[tuple[str, dict[str, object]]]) -> set[object]:
    return {details.get("reason") for kind, details in events if kind == "share_used"}


def _write(tmp: Path, files: tuple[bytes, ...]) -> list[str]:
    tmp.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, data in enumerate(files):
        path = tmp / f"{number}.dcm"
        path.write_bytes(data)
        paths.append(str(path))
    return paths


# Some forty CLI subprocesses and two servers: about two minutes on a quiet machine, past
# the suite's 300 s guard when the machine is loaded (it is a hang guard, not a speed bar).
@pytest.mark.timeout(900)
def test_two_hospitals_share_under_agreements(nodes: tuple[Node, Node], tmp_path: Path) -> None:
    with ExitStack() as stack:
        _exchange(stack, *nodes, tmp_path)


def _exchange(stack: ExitStack, a: Node, b: Node, tmp_path: Path) -> None:
    shared = make_study(patient_id="MRN-4242", patient_name="Doe^Jane", count=3)
    hidden = make_study(patient_id="MRN-9999", patient_name="Roe^Rick")
    a.cli("import", *_write(tmp_path / "in-shared", shared.files),
          *_write(tmp_path / "in-hidden", hidden.files))

    def share(*extra: str) -> dict[str, object]:
        return a.cli_json("share", "create", "--grantee", "hospital-b", "--study",
                          shared.study_uid, "--purpose", "second opinion",
                          "--profile", "retain-longitudinal-modified-dates", *extra)

    # 1. Grant, accept on the other side (same hash), retrieve de-identified data.
    granted = share("--max-retrievals", "10")
    share_id = str(granted["share_id"])
    accepted = b.cli_json("partner", "accept", share_id, "--grantor", "hospital-a")
    assert accepted["agreement_sha256"] == granted["agreement_sha256"]
    assert "imported 3 instance(s)" in b.cli("partner", "retrieve", share_id)

    # 2. Use limit: 1 retrieval for a 3-instance study.
    limited = str(share("--max-retrievals", "1")["share_id"])
    b.cli("partner", "accept", limited, "--grantor", "hospital-a")
    output = b.cli("partner", "retrieve", limited, expect=4)
    assert "imported 1 instance(s)" in output and "exhausted" in output

    # 3. Expiry (far enough ahead for the CLI to start on a busy machine).
    expiring = str(share("--max-retrievals", "10", "--expires",
                         (datetime.now(UTC) + timedelta(seconds=20)).isoformat())["share_id"])
    b.cli("partner", "accept", expiring, "--grantor", "hospital-a")
    wait_until(lambda: _status_of(a, expiring) == "expired", "the agreement to expire")
    assert "expired" in b.cli("partner", "retrieve", expiring, expect=4)

    # 4. Revocation mid-transfer: A's admin revokes through /api/shares after B's first
    #    instance; the rest is refused (410) and B stops.
    revoked = str(share("--max-retrievals", "10")["share_id"])
    b.cli("partner", "accept", revoked, "--grantor", "hospital-a")
    token = _admin_token(a)
    grantee_archive = _open(stack, b)
    receiver = ShareReceiver(grantee_archive, InstitutionKey.load(b.data_dir / "keys"))

    def revoke(_: str) -> None:
        answer = httpx.post(f"{a.url}/api/shares/{revoked}/revoke", json={"reason": "consent"},
                            headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert answer.status_code == 200 and answer.json()["status"] == "revoked"

    report = receiver.retrieve(CTX, revoked, on_instance=revoke)
    assert len(report.imported) == 1 and report.ended == "revoked"

    # 5. UID guessing: the hidden study's real UIDs are simply not found (404).
    with pytest.raises(NotFoundError):
        receiver.retrieve_instance(CTX, share_id, hidden.study_uid, hidden.series_uid,
                                   hidden.sop_uids[0])

    # What B holds: de-identified, one pseudonym, remapped UIDs, nothing of the hidden study.
    received = _instances(grantee_archive)
    originals = {shared.study_uid, shared.series_uid, *shared.sop_uids, hidden.study_uid}
    assert received and all(ds.PatientID != shared.patient_id for ds in received)
    assert all("Doe" not in str(ds.PatientName) for ds in received)
    assert all(not {ds.StudyInstanceUID, ds.SOPInstanceUID} & originals for ds in received)
    # Three agreements delivered (3 + 1 + 1 instances), each with its own pseudonym key:
    # one study UID and one pseudonym per agreement, none shared between agreements.
    pseudonyms: dict[str, set[str]] = {}
    for ds in received:
        pseudonyms.setdefault(str(ds.StudyInstanceUID), set()).add(str(ds.PatientID))
    assert sorted(len([d for d in received if str(d.StudyInstanceUID) == study])
                  for study in pseudonyms) == [1, 1, 3]
    assert all(len(names) == 1 for names in pseudonyms.values())
    assert len(set().union(*pseudonyms.values())) == 3

    # Both ledgers tell each story, with the same agreement hash on both sides.
    grantor_archive = _open(stack, a)
    for sid, ending in ((share_id, "not-found"), (limited, "exhausted"), (expiring, "expired"),
                        (revoked, "revoked")):
        mine, theirs = _share_events(grantor_archive, sid), _share_events(grantee_archive, sid)
        hashes = {d["agreement_sha256"] for _, d in mine + theirs}
        assert len(hashes) == 1
        assert ("shared", "grantor") in {(k, d["role"]) for k, d in mine}
        assert ("shared", "grantee") in {(k, d["role"]) for k, d in theirs}
        assert ending in _reasons(mine)
        if ending == "revoked":
            assert "share_revoked" in {k for k, _ in mine} & {k for k, _ in theirs}
        else:
            assert ending in _reasons(theirs)

    # Each node witnesses the other's checkpoints.
    for node in (a, b):
        assert "witnessed hospital-" in node.cli("partner", "witness")
    for archive, other in ((grantor_archive, "b"), (grantee_archive, "a")):
        origins = {e.details["origin"] for e in ledger_events(archive,
                                                               EventType.CHECKPOINT_WITNESSED)}
        assert f"{other}.example/ledger" in origins


def _status_of(node: Node, share_id: str) -> object:
    return node.cli_json("share", "show", share_id)["status"]


def _admin_token(node: Node) -> str:
    node.cli("users", "create", "share-admin", "--role", "admin", "--service")
    return node.run("tokens", "create", "--user", "share-admin").stdout.strip()


def _instances(archive: Archive) -> list[pydicom.Dataset]:
    found = []
    for row in archive.find(Query(level=QueryLevel.IMAGE), CTX):
        [location] = archive.locate(CTX, str(row.get("StudyInstanceUID")),
                                    str(row.get("SeriesInstanceUID")),
                                    str(row.get("SOPInstanceUID")))
        found.append(pydicom.dcmread(BytesIO(archive.read_instance(location))))
    return found
