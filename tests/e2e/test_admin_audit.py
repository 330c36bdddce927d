"""An auditor reads the trail of what just happened and verifies the ledger; an admin
manages users and tokens, keys, storage and backup; logging out ends the session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tests.ledger.conftest import make_event
from tests.support.auth import TEST_PASSWORD, ledger_events
from tests.support.browser import ROLE_USERS, login, screenshot

from dicomvault.access import Role
from dicomvault.archive import Archive
from dicomvault.index import create_engine_for, upgrade_database, write_transaction
from dicomvault.ledger import EventType, Ledger, LedgerKeys
from dicomvault.ledger.service import LedgerService
from dicomvault.sharing.institution import InstitutionKey


def _view_ct_series(page: Any) -> None:
    page.get_by_label("Patient ID").fill("E2E-CT")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("cell", name="E2E-CT").click()
    page.locator(".series-grid button").first.click()
    page.wait_for_function(
        "() => document.querySelector('#viewer-canvas')?.dataset.rendered !== undefined")
    page.wait_for_load_state("networkidle")


def _show(page: Any) -> None:
    """Apply the audit filters and wait for the answer."""
    page.get_by_role("button", name="Show").click()
    page.locator("#audit-results[aria-busy=false]").wait_for()


def _logout(page: Any) -> None:
    page.get_by_role("button", name="Log out").click()
    page.get_by_label("User name").wait_for()


def test_the_auditor_reads_what_a_clinician_just_did(page: Any, tmp_path: Path) -> None:
    login(page, Role.CLINICIAN)
    _view_ct_series(page)
    _logout(page)

    login(page, Role.AUDITOR)
    nav = page.locator("#nav").inner_text()
    assert "Audit" in nav and "Ledger" in nav
    assert "Studies" not in nav and "Upload" not in nav
    page.get_by_role("link", name="Audit").click()
    page.get_by_label("Event type").select_option("instance_retrieved")
    page.get_by_label("User", exact=True).fill(ROLE_USERS[Role.CLINICIAN])
    _show(page)
    rows = page.locator("#audit-results tbody tr").all_inner_texts()
    assert rows and all("instance_retrieved" in r and ROLE_USERS[Role.CLINICIAN] in r
                        and "\tUI\t" in r for r in rows)
    assert page.locator("#audit-timeline rect").count() >= 1
    screenshot(page, "audit")

    with page.expect_download() as waiting:
        page.get_by_role("button", name="Export CSV").click()
    csv_path = tmp_path / "audit.csv"
    waiting.value.save_as(csv_path)
    lines = csv_path.read_text().splitlines()
    assert lines[0].startswith("index,time,type,actor,door")
    assert len(lines) > 1
    assert all(",instance_retrieved," + ROLE_USERS[Role.CLINICIAN] + ",UI," in line
               for line in lines[1:])

    # One patient's accesses: the Patient ID goes to the server in a body, never a URL.
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    page.locator("select[name=view]").select_option("patient-access")
    page.get_by_label("User", exact=True).fill("")
    page.get_by_label("Patient ID (for the patient view)").fill("E2E-CT")
    _show(page)
    rows = page.locator("#audit-results tbody tr").all_inner_texts()
    assert rows and all("instance_retrieved" in r and "study" in r for r in rows)
    assert any("/api/ledger/subject-hash" in url for url in urls)
    assert any("/api/audit/patient-access?" in url for url in urls)
    assert not any("E2E-CT" in url for url in urls)

    # Failed logins have their own view.
    page.locator("select[name=view]").select_option("failed-logins")
    page.get_by_label("Event type").select_option("")
    page.get_by_label("User", exact=True).fill("")
    _show(page)
    rows = page.locator("#audit-results tbody tr").all_inner_texts()
    assert all("login_failed" in r for r in rows)


def test_wrong_password_is_refused_and_audited(page: Any, node: Archive) -> None:
    before = len(ledger_events(node, EventType.LOGIN_FAILED))
    page.goto("/")
    page.get_by_label("User name").fill(ROLE_USERS[Role.AUDITOR])
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("alert").filter(has_text="").wait_for()
    page.wait_for_function("() => document.querySelector('.login [role=alert]').textContent")
    assert page.locator(".topbar").is_hidden()
    failed = ledger_events(node, EventType.LOGIN_FAILED)[before:]
    assert [e.actor for e in failed] == [ROLE_USERS[Role.AUDITOR]]
    screenshot(page, "login-refused")


def test_the_auditor_verifies_the_ledger(page: Any, node: Archive) -> None:
    LedgerService(node.engine, node.audit.ledger).checkpoint()  # as the checkpoint job does
    login(page, Role.AUDITOR)
    page.get_by_role("link", name="Ledger").click()
    assert page.locator("#sign-checkpoint").count() == 0  # manage_keys only
    # The page's own read of the witnessing events (an audit_log_used "events") first.
    page.locator("#ledger-witnesses h2").wait_for()
    page.wait_for_load_state("networkidle")
    before = len(ledger_events(node, EventType.AUDIT_LOG_USED))
    page.get_by_role("button", name="Verify now").click()
    outcome = page.locator("#verify-outcome")
    outcome.wait_for()
    assert outcome.inner_text().startswith("Verified")
    checks = page.locator("#ledger-verification tbody tr").all_inner_texts()
    assert any("log against latest checkpoint" in c and "\tok\t" in c for c in checks)
    used = ledger_events(node, EventType.AUDIT_LOG_USED)[before:]
    assert [(e.actor, e.details["view"]) for e in used] == [
        (ROLE_USERS[Role.AUDITOR], "ledger-verify")]
    screenshot(page, "ledger-auditor")


def test_the_admin_pages(page: Any, base_url: str) -> None:
    login(page, Role.ADMIN)
    nav = page.locator("#nav").inner_text()
    for title in ("Studies", "Upload", "Audit", "Ledger", "Users", "Keys", "Storage"):
        assert title in nav

    # Ledger: sign a checkpoint, then verify the whole log against it.
    page.get_by_role("link", name="Ledger").click()
    page.get_by_role("button", name="Sign a checkpoint now").click()
    page.wait_for_function("() => !document.querySelector('.note')?.textContent"
                           ".includes('none signed yet')")
    page.get_by_role("button", name="Verify now").click()
    page.wait_for_function("() => document.querySelector('#verify-outcome')?.textContent"
                           ".startsWith('Verified')")
    screenshot(page, "ledger")

    # Users: create a clinician with a scope, an API token for it, revoke the token.
    page.get_by_role("link", name="Users & tokens").click()
    form = page.locator("#create-user")
    form.get_by_label("Name").fill("dr-new")
    form.get_by_label("Password (people)").fill(TEST_PASSWORD)
    form.locator("input[value=clinician]").check()
    form.get_by_label("Institutions (comma-separated; empty: all)").fill(
        "SYNTHETIC GENERAL HOSPITAL")
    form.get_by_role("button", name="Create user").click()
    row = page.locator("#users tbody tr", has_text="dr-new")
    row.wait_for()
    assert "institutions: SYNTHETIC GENERAL HOSPITAL" in row.inner_text()
    tokens = page.locator("#create-token")
    tokens.get_by_label("For user").fill("dr-new")
    tokens.get_by_label("Label").fill("viewer workstation")
    tokens.get_by_role("button", name="Create token").click()
    secret = page.locator("#token-secret pre")
    secret.wait_for()
    token = secret.inner_text().strip()
    with httpx.Client(base_url=base_url) as client:
        me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200 and me.json()["name"] == "dr-new"
        token_row = page.locator("#tokens tbody tr", has_text="viewer workstation")
        token_row.get_by_role("button", name="Revoke").click()
        page.locator("#tokens tbody tr", has_text="viewer workstation").filter(
            has_text="revoked").wait_for()
        refused = client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert refused.status_code == 401
    screenshot(page, "users")

    # Keys, storage statistics, backup and scrub.
    page.get_by_role("link", name="Keys").click()
    page.locator("#key-status table").wait_for()
    screenshot(page, "keys")
    page.get_by_role("link", name="Storage & backup").click()
    page.locator("#stat-instances").wait_for()
    assert int(page.locator("#stat-instances").inner_text()) >= 25
    assert page.locator("#modality-chart rect").count() >= 2
    assert "No backup target" in page.locator("#backup-none").inner_text()
    screenshot(page, "storage")

    # Logging out revokes the refresh token and forgets the access token in the tab.
    refresh = page.evaluate(
        "() => JSON.parse(sessionStorage.getItem('dicomvault.session')).refresh_token")
    _logout(page)
    assert page.evaluate("() => sessionStorage.getItem('dicomvault.session')") is None
    with httpx.Client(base_url=base_url) as client:
        assert client.post("/api/auth/refresh", json={"refresh_token": refresh}).status_code == 401


PARTNER_LOG = "partner.e2e.example/ledger"


def _witness_a_partner(node: Archive, tmp_path: Path) -> int:
    """This node cosigns a partner's checkpoint (as `dicomvault ledger witness` does)."""
    engine = create_engine_for(f"sqlite:///{tmp_path / 'partner.sqlite3'}")
    upgrade_database(engine)
    partner = Ledger(LedgerKeys.generate(), origin=PARTNER_LOG)
    try:
        with write_transaction(engine) as conn:
            partner.append(conn, [make_event(i) for i in range(3)])
            note = partner.sign_checkpoint(conn)
    finally:
        engine.dispose()
    with write_transaction(node.engine) as conn:
        result = node.audit.ledger.witness(conn, note, partner.verifier_key.encode(), [])
    assert result.accepted
    return result.checkpoint.size


def test_dicom_destinations_shares_and_witnesses(page: Any, node: Archive,
                                                 tmp_path: Path) -> None:
    """The admin sees the configured DICOM destination, creates and revokes a share
    agreement, and the ledger page says which partner checkpoints it witnessed."""
    login(page, Role.ADMIN)
    page.get_by_role("link", name="DICOM").click()
    destination = page.locator("#dimse-config tbody tr", has_text="E2E-PACS")
    destination.wait_for()
    assert destination.inner_text().split("\t") == ["E2E-PACS", "pacs.e2e.example", "11113",
                                                     "yes"]
    bound = page.locator("#dimse-config tbody tr", has_text="E2E-CT")
    # Its roles come from "*" (the embedded default); it may call from its host only.
    assert bound.inner_text().split("\t") == ["E2E-CT", "technologist", "10.9.8.7/32"]
    anyone = page.locator("#dimse-config tbody tr", has_text="any other")
    assert anyone.inner_text().split("\t") == ["* (any other)", "technologist", "anywhere"]
    assert "Read-only" in page.locator("main").inner_text()
    screenshot(page, "dicom")

    partner = InstitutionKey(Ed25519PrivateKey.generate()).identity
    page.get_by_role("link", name="Shares").click()
    form = page.locator("#create-share")
    form.get_by_label("Grantee (partner label, institution id or public key)").fill(partner.text)
    form.locator("select[name=scope-kind]").select_option("query")
    form.get_by_label("Scope values (comma-separated)").fill("ModalitiesInStudy=CT")
    form.get_by_label("Purpose").fill("e2e second opinion")
    form.get_by_label("Max retrievals (instances)").fill("7")
    form.locator("input[value=clean-descriptors]").check()
    form.get_by_role("button", name="Create agreement").click()
    row = page.locator("#shares tbody tr", has_text=partner.institution_id[:12])
    row.filter(has_text="active").wait_for()
    assert "7 of 7" in row.inner_text() and "query" in row.inner_text()
    page.get_by_label("Reason for revoking").fill("study closed")
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Revoke").click()
    row.filter(has_text="revoked").wait_for()
    [revoked] = ledger_events(node, EventType.SHARE_REVOKED)
    assert revoked.actor == ROLE_USERS[Role.ADMIN]
    screenshot(page, "shares")

    page.get_by_role("link", name="Ledger").click()
    page.locator("#no-witnesses").wait_for()
    size = _witness_a_partner(node, tmp_path)
    page.get_by_role("link", name="Shares").click()
    page.locator("#create-share").wait_for()
    page.get_by_role("link", name="Ledger").click()
    witnessed = page.locator("#ledger-witnesses tbody tr", has_text=PARTNER_LOG)
    witnessed.wait_for()
    assert witnessed.inner_text().split("\t")[:3] == [PARTNER_LOG, "cosigned", str(size)]
    screenshot(page, "ledger-witnesses")


def test_tablet_sized_screen(browser: Any, base_url: str) -> None:
    context = browser.new_context(viewport={"width": 768, "height": 1024}, base_url=base_url)
    tab = context.new_page()
    try:
        login(tab, Role.CLINICIAN)
        tab.get_by_label("Patient ID").fill("E2E-CT")
        tab.get_by_role("button", name="Search").click()
        tab.get_by_role("cell", name="E2E-CT").click()
        tab.locator(".series-grid button").first.click()
        tab.wait_for_function(
            "() => document.querySelector('#viewer-canvas')?.dataset.rendered !== undefined")
        box = tab.locator("#viewer-canvas").bounding_box()
        assert box["width"] >= 400 and box["x"] + box["width"] <= 768
        screenshot(tab, "viewer-tablet")
    finally:
        context.close()


def test_the_server_refuses_what_a_page_hides(page: Any) -> None:
    """An auditor's own token, used from the page, is refused images and user admin."""
    login(page, Role.AUDITOR)
    page.goto("/ui/#/studies")
    assert "may not open the Studies page" in page.locator("#refused").inner_text()
    statuses = page.evaluate("""async () => {
      const token = JSON.parse(sessionStorage.getItem('dicomvault.session')).access_token;
      const headers = {Authorization: `Bearer ${token}`, Accept: 'application/json'};
      const get = async (path) => (await fetch(path, {headers})).status;
      return [await get('/dicom-web/studies'), await get('/api/users'),
              await get('/api/stats'), await get('/api/audit/events')];
    }""")
    assert statuses == [403, 403, 403, 200]
