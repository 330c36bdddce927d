"""The UI's static shell: public, under a strict CSP, no inline script, no HTML from data."""

from __future__ import annotations

import http.client
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from dicomvault.api.auth import is_public
from dicomvault.web.app import CONTENT_SECURITY_POLICY, STATIC_DIR

JS_FILES = sorted(STATIC_DIR.rglob("*.js"))


def test_an_anonymous_visitor_gets_the_login_shell(server: str) -> None:
    with httpx.Client(base_url=server) as client:
        root = client.get("/")
        assert root.status_code == 307 and root.headers["location"] == "/ui/"
        shell = client.get("/ui/")
        assert shell.status_code == 200
        assert shell.headers["content-type"].startswith("text/html")
        assert shell.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert shell.headers["x-frame-options"] == "DENY"
        assert shell.headers["cache-control"] == "no-store"
        script = client.get("/ui/js/main.js")
        assert script.status_code == 200
        assert "javascript" in script.headers["content-type"]
        assert "script-src 'self'" in script.headers["content-security-policy"]


def test_the_data_behind_the_pages_still_needs_a_token(server: str) -> None:
    with httpx.Client(base_url=server) as client:
        for path in ("/api/stats", "/api/backup", "/api/ledger/verify", "/api/users",
                     "/dicom-web/studies", "/api/audit/events"):
            assert client.get(path).status_code == 401, path
        assert client.post("/api/ledger/verify").status_code == 401
        # Only GET and HEAD of the static files are public.
        assert client.post("/ui/js/main.js").status_code == 401


def test_a_dot_dot_path_under_the_ui_does_not_reach_an_api(server: str) -> None:
    """/ui/ is public by prefix: a path climbing out of it must not reach a data API."""
    assert is_public("GET", "/ui/../api/users")
    parts = urlsplit(server)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port)
    try:
        connection.request("GET", "/ui/../api/users")  # sent as is, not normalised
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    assert response.status == 404
    assert b"test-admin" not in body and b"roles" not in body


class _Inline(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "script" and "src" not in names:
            self.problems.append("inline <script>")
        if tag == "style":
            self.problems.append("inline <style>")
        self.problems += [f"{tag} {name}" for name in names
                          if name.startswith("on") or name == "style"]


def test_the_shell_has_no_inline_script_or_style() -> None:
    parser = _Inline()
    parser.feed((STATIC_DIR / "index.html").read_text(encoding="utf-8"))
    assert parser.problems == []


_HTML_SINKS = re.compile(r"\.(innerHTML|outerHTML|insertAdjacentHTML)\b|document\.write|"
                         r"\beval\(|new Function\(|setAttribute\(\s*[\"']on")


@pytest.mark.parametrize("path", JS_FILES, ids=lambda p: str(p.relative_to(STATIC_DIR)))
def test_no_module_builds_html_from_strings(path: Path) -> None:
    """Data reaches the page as text (dom.js: textContent, attribute values) only."""
    assert _HTML_SINKS.findall(path.read_text(encoding="utf-8")) == []


def test_every_static_file_is_package_data() -> None:
    """pyproject's package-data globs cover every file the UI needs (a wheel has them)."""
    pyproject = (STATIC_DIR.parents[3] / "pyproject.toml").read_text(encoding="utf-8")
    globs = re.findall(r'"(web/static[^"]*)"', pyproject)
    package = STATIC_DIR.parent.parent
    covered = {p for pattern in globs for p in package.glob(pattern) if p.is_file()}
    assert {p for p in STATIC_DIR.rglob("*") if p.is_file()} == covered
