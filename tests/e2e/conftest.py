"""The browser UI end to end: a live node with real data, driven in headless Chromium.

Chromium is Debian's (``/usr/bin/chromium``), driven by Playwright with
``executable_path``: nothing downloads a browser. Without Chromium or
Playwright the tests skip (and fail under ``CI=true``, tests/support/services.py).

One node per module (starting a node and storing a CT series is the slow part):
a 24-slice synthetic CT series, pydicom's CT and MR test files, and a study whose
PatientName is an XSS payload; one account per role, logging in with its password
through the login page like a person does. Screenshots of every page go to
``test-artifacts/e2e/`` (or ``$DICOMVAULT_E2E_ARTIFACTS``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file
from tests.support.auth import TEST_PASSWORD, ensure_user
from tests.support.live import serving
from tests.support.nodes import open_test_node
from tests.support.services import require

from dicomvault.access import Door, Role, system_context
from dicomvault.archive import Archive
from dicomvault.dicom.synthetic import PatientSpec, StudySpec, generate_series, to_part10

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
XSS_NAME = '<img src=x onerror="window.__xss=1">^<script>window.__xss=2</script>'
CT_SLICES = 24
#: One account per role, logging in with TEST_PASSWORD.
ROLE_USERS = {role: f"e2e-{role.value}" for role in
              (Role.ADMIN, Role.CLINICIAN, Role.TECHNOLOGIST, Role.AUDITOR)}

try:
    from playwright.sync_api import Browser, Page, sync_playwright
except ImportError:  # pragma: no cover - the skip below says why
    sync_playwright = None  # type: ignore[assignment]


def artifacts_dir() -> Path:
    path = Path(os.environ.get("DICOMVAULT_E2E_ARTIFACTS", "test-artifacts/e2e"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def _fill(archive: Archive) -> None:
    ctx = system_context(Door.CLI, actor="e2e-setup")
    ct = StudySpec(patient=PatientSpec(PatientName="SERIES^CT", PatientID="E2E-CT"),
                   AccessionNumber="E2ECT", StudyDescription="E2E CT SERIES")
    for ds in generate_series(count=CT_SLICES, rows=256, columns=256, study=ct, seed=7):
        archive.store_bytes(to_part10(ds), ctx)
    xss = StudySpec(patient=PatientSpec(PatientName=XSS_NAME, PatientID="E2E-XSS"),
                    AccessionNumber="E2EXSS", StudyDescription="<b>bold</b>")
    for ds in generate_series(count=1, rows=64, columns=64, study=xss, seed=8):
        archive.store_bytes(to_part10(ds), ctx)
    for role, name in ROLE_USERS.items():
        ensure_user(archive, name, {role})


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Archive]:
    root = tmp_path_factory.mktemp("e2e-node")
    with open_test_node(root / "node", f"sqlite:///{root / 'index.sqlite3'}") as archive:
        _fill(archive)
        yield archive


@pytest.fixture(scope="module")
def base_url(node: Archive) -> Iterator[str]:
    with serving(node) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    require(sync_playwright is not None, "playwright is not installed (pip install playwright)")
    require(Path(CHROMIUM).exists(), f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, base_url: str) -> Iterator[Page]:
    """A fresh tab at 1280x800 that fails the test on any page error or CSP violation."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=base_url)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.on("console", lambda msg: errors.append(msg.text)
           if msg.type == "error" and "Content Security Policy" in msg.text else None)
    tab.set_default_timeout(20_000)
    yield tab
    context.close()
    assert not errors, errors


def login(page: Page, role: Role) -> None:
    """Log in through the login page with the role's account and password."""
    page.goto("/")
    page.get_by_label("User name").fill(ROLE_USERS[role])
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.locator(".topbar").wait_for(state="visible")


def screenshot(page: Page, name: str) -> None:
    page.screenshot(path=str(artifacts_dir() / f"{name}.png"), full_page=True)
