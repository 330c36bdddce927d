"""Driving the browser UI in tests: Debian's Chromium through Playwright, logins, screenshots.

Chromium is Debian's (``/usr/bin/chromium``), driven by Playwright with
``executable_path`` and the flags of /work/shared/PEERS.md: nothing downloads a
browser. People log in through the login page with their password, as in life.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from tests.support.auth import TEST_PASSWORD, ensure_user

from dicomvault.access import Door, Role, Scope, system_context
from dicomvault.archive import Archive
from dicomvault.dicom.synthetic import PatientSpec, StudySpec, generate_series, to_part10

if TYPE_CHECKING:  # the tests skip (tests/e2e/conftest.py) when playwright is absent
    from playwright.sync_api import Page

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"]
#: Markup in a PatientName (no "=": it separates PN component groups) and in a
#: StudyDescription; rendered as markup, the <img> would run its handler.
XSS_NAME = "<script>alert(1)</script>^<b>BOLD</b>"
XSS_DESCRIPTION = "<img src=x onerror=window.__xss=1>"
CT_SLICES = 24
#: One account per role, each logging in with TEST_PASSWORD.
ROLE_USERS = {role: f"e2e-{role.value}" for role in
              (Role.ADMIN, Role.CLINICIAN, Role.TECHNOLOGIST, Role.AUDITOR)}
#: A clinician limited to another hospital than the one the stored studies come from.
SCOPED_CLINICIAN = "e2e-scoped"


def artifacts_dir() -> Path:
    """Where screenshots go: ``$DICOMVAULT_E2E_ARTIFACTS`` or ``test-artifacts/e2e``."""
    path = Path(os.environ.get("DICOMVAULT_E2E_ARTIFACTS", "test-artifacts/e2e"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def fill_node(archive: Archive) -> None:
    """A 24-slice CT series, a study with markup in its names, one account per role."""
    ctx = system_context(Door.CLI, actor="e2e-setup")
    ct = StudySpec(patient=PatientSpec(PatientName="SERIES^CT", PatientID="E2E-CT"),
                   AccessionNumber="E2ECT", StudyDescription="E2E CT SERIES")
    for ds in generate_series(count=CT_SLICES, rows=256, columns=256, study=ct, seed=7):
        archive.store_bytes(to_part10(ds), ctx)
    xss = StudySpec(patient=PatientSpec(PatientName=XSS_NAME, PatientID="E2E-XSS"),
                    AccessionNumber="E2EXSS", StudyDescription=XSS_DESCRIPTION)
    for ds in generate_series(count=1, rows=64, columns=64, study=xss, seed=8):
        archive.store_bytes(to_part10(ds), ctx)
    for role, name in ROLE_USERS.items():
        ensure_user(archive, name, {role})
    ensure_user(archive, SCOPED_CLINICIAN, {Role.CLINICIAN},
                scope=Scope.of(institutions=["OTHER HOSPITAL"]))


def login(page: Page, role: Role | str) -> None:
    """Log in through the login page with the role's account (or a named one) and password."""
    page.goto("/")
    page.get_by_label("User name").fill(ROLE_USERS[role] if isinstance(role, Role) else role)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.locator(".topbar").wait_for(state="visible")


def screenshot(page: Page, name: str) -> None:
    page.screenshot(path=str(artifacts_dir() / f"{name}.png"), full_page=True)


def canvas_digest(page: Page, selector: str = "#viewer-canvas") -> str:
    """SHA-256 of the canvas's pixels as drawn (to see that the rendered image changed)."""
    data_url = page.eval_on_selector(selector, "c => c.toDataURL('image/png')")
    return hashlib.sha256(data_url.encode("ascii")).hexdigest()
