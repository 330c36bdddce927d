"""``/api/ledger`` over real HTTP: what a verifier or a witnessing partner fetches, checked
with the standalone verifier only (nothing of the server is trusted)."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from pathlib import Path

import httpx
import pydicom
import pytest
from pydicom.data import get_testdata_file
from tests.support.auth import admin_headers, bearer, token_for
from tests.support.live import serving

from dicomvault.access import Door, Role, system_context
from dicomvault.archive import Archive
from dicomvault.ledger import (
    VerificationError,
    verify_checkpoint_consistency,
    verify_event_inclusion,
    verify_log,
    verify_proof_bundle,
)
from dicomvault.ledger.checkpoint import verify_checkpoint
from dicomvault.ledger.checkpointer import CheckpointDaemon
from dicomvault.ledger.service import LedgerService

CTX = system_context(Door.CLI, actor="tech")
CT = Path(str(get_testdata_file("CT_small.dcm")))


def _unb64(items: list[str]) -> list[bytes]:
    return [base64.b64decode(item) for item in items]


def test_checkpoint_keys_entries_and_proofs_verify_offline(archive: Archive) -> None:
    archive.store_bytes(CT.read_bytes(), CTX)
    with serving(archive) as url:
        api = httpx.Client(base_url=f"{url}/api/ledger", timeout=60,
                           headers=admin_headers(archive))
        assert api.get("/checkpoint").status_code == 404  # none signed yet
        key = api.get("/public-key").json()["log_key"]
        first = api.post("/checkpoint")
        assert first.status_code == 201 and first.headers["content-type"].startswith("text/plain")
        archive.store_bytes(Path(str(get_testdata_file("MR_small.dcm"))).read_bytes(), CTX)
        latest = api.post("/checkpoint").text
        assert api.get("/checkpoint").text == latest
        size = verify_checkpoint(latest, key).size

        entries = _unb64([e["event"] for e in api.get("/entries", params={
            "start": 0, "limit": 1000}).json()["entries"]])
        assert verify_log(entries, latest, key).size == size == len(entries)

        proof = api.get("/entries/1/inclusion-proof", params={"tree_size": size}).json()
        verify_event_inclusion(entries[1], 1, _unb64(proof["inclusion_proof"]), latest, key)
        old_size = verify_checkpoint(first.text, key).size
        consistency = api.get("/consistency-proof", params={"first": old_size,
                                                            "second": size}).json()
        verify_checkpoint_consistency(first.text, latest, _unb64(consistency["proof"]), key)
        with pytest.raises(VerificationError):
            verify_event_inclusion(entries[0], 1, _unb64(proof["inclusion_proof"]), latest, key)

        one = api.get("/entries/1").json()
        assert one["event"]["type"] == "instance_stored"
        assert base64.b64decode(one["event_b64"]) == entries[1]
        summary = httpx.get(f"{url}/api/ledger", headers=admin_headers(archive), timeout=60).json()
        assert summary["tree_size"] == size and summary["latest_checkpoint"] == latest

        # The proof bundle of an image, found by its keyed SOP hash and its file hash.
        sop_uid = pydicom.dcmread(CT).SOPInstanceUID
        subject = api.post("/subject-hash", json={"kind": "sop", "value": sop_uid}).json()
        bundle = api.get("/proof-bundle", params={
            "sop": subject["hash"], "content_sha256": hashlib.sha256(CT.read_bytes()).hexdigest(),
        }).json()
        assert verify_proof_bundle(bundle, CT.read_bytes(), trusted_key=key).file_matches
        assert api.get("/proof-bundle", params={"sop": subject["hash"],
                                                "content_sha256": "0" * 64}).status_code == 404
        assert verify_proof_bundle(api.get("/entries/2/proof-bundle").json(),
                                   trusted_key=key).index == 2
        events = api.get(f"/subjects/{subject['subject']}/entries").json()
        assert [item["type"] for item in events["items"]] == ["instance_stored"]


@pytest.mark.parametrize(("path", "params"), [
    ("/entries", {"start": -1}), ("/entries", {"limit": 5000}), ("/entries/99/inclusion-proof", {}),
    ("/consistency-proof", {"first": 99}), ("/consistency-proof", {}),
    ("/consistency-proof", {"first": "x"}),
])
def test_bad_requests_get_a_400_or_404_with_a_reason(archive: Archive, path: str,
                                                     params: dict[str, object]) -> None:
    archive.store_bytes(CT.read_bytes(), CTX)
    with serving(archive) as url:
        response = httpx.get(f"{url}/api/ledger{path}", params=params, timeout=60,
                             headers=admin_headers(archive))
    assert response.status_code in (400, 404), response.text
    assert response.text


def test_subject_hash_refuses_bad_bodies(archive: Archive) -> None:
    with serving(archive) as url:
        for body in (b"not json", json.dumps({"kind": "Bad Kind", "value": "1"}).encode(),
                     json.dumps(["sop", "1"]).encode()):
            response = httpx.post(f"{url}/api/ledger/subject-hash", content=body, timeout=60,
                                  headers=admin_headers(archive))
            assert response.status_code == 400, response.text


def test_checkpoint_daemon_signs_only_when_the_log_grew(archive: Archive) -> None:
    service = LedgerService(archive.engine, archive.audit.ledger)
    daemon = CheckpointDaemon(service, interval_seconds=0.05)
    daemon.run_once()
    daemon.run_once()
    assert len(service.stored_checkpoints()) == 1  # nothing new: no second checkpoint
    archive.store_bytes(CT.read_bytes(), CTX)
    stop = threading.Event()
    thread = threading.Thread(target=daemon.run_forever, args=(stop,))
    thread.start()
    for _ in range(200):
        if len(service.stored_checkpoints()) == 2:
            break
        stop.wait(0.05)
    stop.set()
    thread.join(10)
    notes = service.stored_checkpoints()
    assert len(notes) == 2
    assert verify_checkpoint(notes[-1], archive.audit.ledger.verifier_key).size == \
        service.tree_size()


def test_checkpoints_keys_and_proofs_are_public_events_need_the_audit_permission(
    archive: Archive,
) -> None:
    """Like a Certificate Transparency log: signed notes, keys and proofs (hashes only)
    need no account, so partner witnesses can check this log; the events themselves
    (actors, addresses) are for auditors."""
    archive.store_bytes(CT.read_bytes(), CTX)
    archive.store_bytes(Path(str(get_testdata_file("MR_small.dcm"))).read_bytes(), CTX)
    LedgerService(archive.engine, archive.audit.ledger).checkpoint()
    with serving(archive) as url:
        anonymous = httpx.Client(base_url=f"{url}/api/ledger", timeout=60)
        for path in ("/checkpoint", "/public-key", "/entries/0/inclusion-proof",
                     "/consistency-proof?first=1"):
            assert anonymous.get(path).status_code == 200, path
        assert anonymous.post("/checkpoint").status_code == 401
        assert anonymous.get("/entries").status_code == 401
        technologist = bearer(token_for(archive, "tech-1", {Role.TECHNOLOGIST}))
        auditor = bearer(token_for(archive, "auditor-1", {Role.AUDITOR}))
        assert httpx.get(f"{url}/api/ledger", headers=technologist).status_code == 200
        refused = anonymous.get("/entries", headers=technologist)
        assert refused.status_code == 403 and "audit" in refused.json()["reason"]
        assert anonymous.post("/checkpoint", headers=auditor).status_code == 403
        assert anonymous.get("/entries", headers=auditor).status_code == 200
