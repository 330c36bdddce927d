"""The browser UI end to end: a live node with real data, driven in headless Chromium.

One node per module (starting a node and storing a CT series is the slow part),
filled by :func:`tests.support.browser.fill_node`. Without Chromium or Playwright
the tests skip, and fail under ``CI=true`` (tests/support/services.py).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.live import serving
from tests.support.nodes import open_test_node
from tests.support.services import require

from dicomvault.archive import Archive

_PLAYWRIGHT = importlib.util.find_spec("playwright") is not None

#: A C-MOVE destination the DICOM page must show (the node never connects to it here).
E2E_DESTINATIONS = {"E2E-PACS": {"host": "pacs.e2e.example", "port": 11113, "tls": True}}
#: An AE title bound to its host, which the DICOM page must show.
E2E_AE_HOSTS = {"E2E-CT": ["10.9.8.7"]}


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Archive]:
    require(_PLAYWRIGHT, "playwright is not installed (pip install playwright)")
    from tests.support.browser import fill_node

    root = tmp_path_factory.mktemp("e2e-node")
    with open_test_node(root / "node", f"sqlite:///{root / 'index.sqlite3'}",
                        dimse_destinations=E2E_DESTINATIONS,
                        dimse_ae_hosts=E2E_AE_HOSTS) as archive:
        fill_node(archive)
        yield archive


@pytest.fixture(scope="module")
def base_url(node: Archive) -> Iterator[str]:
    with serving(node) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require(_PLAYWRIGHT, "playwright is not installed (pip install playwright)")
    from playwright.sync_api import sync_playwright
    from tests.support.browser import CHROMIUM, CHROMIUM_FLAGS

    require(Path(CHROMIUM).exists(), f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, base_url: str) -> Iterator[Any]:
    """A fresh tab at 1280x800; any script error, CSP violation or dialog fails the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=base_url,
                                  accept_downloads=True)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    tab.on("console", lambda msg: errors.append(msg.text)
           if msg.type == "error" and "Content Security Policy" in msg.text else None)
    tab.set_default_timeout(20_000)
    yield tab
    context.close()
    assert not errors, errors
