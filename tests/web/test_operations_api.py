"""``/api/stats``, ``/api/backup``, ``/api/ledger/verify``: what the admin and audit pages
show, authorised by the server (a page hidden from a role is also refused to it)."""

from __future__ import annotations

import httpx
import sqlalchemy as sa
from tests.support.archive_data import populate
from tests.support.auth import admin_headers, bearer, ledger_events, token_for

from dicomvault.access import Role
from dicomvault.archive import Archive
from dicomvault.backup import open_target, run_backup
from dicomvault.backup.scrub import ScrubDaemon
from dicomvault.ledger import EventType
from dicomvault.ledger.schema import ledger_leaves
from dicomvault.ledger.service import LedgerService


def test_storage_figures_are_those_of_dicomvault_stats(archive: Archive, server: str) -> None:
    populate(archive, seed=31, count=4)
    with httpx.Client(base_url=server) as client:
        answer = client.get("/api/stats", headers=admin_headers(archive))
        assert answer.status_code == 200
        body = answer.json()
        assert [{k: v for k, v in f.items() if k != "label"} for f in body["figures"]] == [
            f.public() for f in archive.storage_figures()]
        assert body["figures"][0]["label"] == "explicit-vr-little-endian"
        assert body["instances"] == 4
        assert body["stored_bytes"] == sum(f["stored_bytes"] for f in body["figures"]) > 0
        for role in (Role.CLINICIAN, Role.AUDITOR, Role.TECHNOLOGIST):
            refused = client.get("/api/stats", headers=bearer(token_for(archive, f"u-{role}",
                                                                        {role})))
            assert refused.status_code == 403, role


def test_backup_generations_and_the_last_scrub(archive: Archive, server: str) -> None:
    populate(archive, seed=32, count=3)
    with httpx.Client(base_url=server, headers=admin_headers(archive)) as client:
        empty = client.get("/api/backup").json()
        assert empty["target_configured"] is True
        assert empty["generations"] == [] and empty["last_scrub"] is None
        assert archive.settings.backup_target is not None
        report = run_backup(archive, open_target(archive.settings.backup_target,
                                                 archive.settings), keep=3)
        ScrubDaemon(archive, period_seconds=1).run_once()  # never scrubbed: due
        status = client.get("/api/backup").json()
    [generation] = status["generations"]
    assert generation["generation"] == report.generation
    assert generation["objects"] == 3 and generation["tree_size"] == report.tree_size
    assert status["last_scrub"] is not None
    assert archive.settings.backup_target not in str(status)  # no location shown
    with httpx.Client(base_url=server) as client:
        clinician = bearer(token_for(archive, "doc", {Role.CLINICIAN}))
        assert client.get("/api/backup", headers=clinician).status_code == 403


def test_verify_now_checks_the_ledger_and_is_recorded(archive: Archive, server: str) -> None:
    populate(archive, seed=33, count=2)
    LedgerService(archive.engine, archive.audit.ledger).checkpoint()
    auditor = bearer(token_for(archive, "aud", {Role.AUDITOR}))
    with httpx.Client(base_url=server) as client:
        assert client.get("/api/ledger/verify", headers=auditor).json() is None
        before = len(ledger_events(archive, EventType.AUDIT_LOG_USED))
        result = client.post("/api/ledger/verify", headers=auditor).json()
        assert result["ok"] is True
        assert {c["name"] for c in result["checks"]} >= {
            "latest checkpoint signature", "log against latest checkpoint"}
        assert client.get("/api/ledger/verify", headers=auditor).json() == result
        [used] = ledger_events(archive, EventType.AUDIT_LOG_USED)[before:]
        assert (used.actor, used.details["view"]) == ("aud", "ledger-verify")
        clinician = bearer(token_for(archive, "doc", {Role.CLINICIAN}))
        assert client.post("/api/ledger/verify", headers=clinician).status_code == 403


def test_verify_now_reports_a_tampered_log(archive: Archive, server: str) -> None:
    """A failed check is reported (ok false), not hidden behind a 500."""
    populate(archive, seed=34, count=2)
    service = LedgerService(archive.engine, archive.audit.ledger)
    service.checkpoint()
    with archive.engine.begin() as conn:
        row = conn.execute(sa.select(ledger_leaves.c.idx, ledger_leaves.c.event)
                           .order_by(ledger_leaves.c.idx).limit(1)).one()
        forged = bytes(row.event).replace(b'"type"', b'"type" ', 1)
        conn.execute(sa.update(ledger_leaves).where(ledger_leaves.c.idx == row.idx)
                     .values(event=forged))
    auditor = bearer(token_for(archive, "aud", {Role.AUDITOR}))
    with httpx.Client(base_url=server) as client:
        result = client.post("/api/ledger/verify", headers=auditor).json()
    assert result["ok"] is False
    assert any(not c["ok"] for c in result["checks"])
