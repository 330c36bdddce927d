"""The UI is wired to the APIs that exist: every path a page calls is a route of the
server, every page of the registry has its module, and the UI door is recorded."""

from __future__ import annotations

import re

import httpx
import pytest
from starlette.routing import BaseRoute, Mount, Route
from tests.support.archive_data import populate
from tests.support.auth import admin_headers, ledger_events

from dicomvault.archive import Archive
from dicomvault.ledger import EventType
from dicomvault.server import create_http_app
from dicomvault.web.app import STATIC_DIR

_LITERAL = re.compile(r"[`\"](/(?:api|dicom-web)/[^`\"?]*)")
_QIDO = re.compile(r"qido\(\s*[`\"]([^`\"?]+)")
_TEMPLATE = re.compile(r"\$\{[^}]*\}")
_JOINED = re.compile(r"[`\"]\s*\+\s*[`\"]")


def _placeholder(match: re.Match[str]) -> str:
    """A value for ``${...}`` in a path: "" for a query string, "1" for a path segment."""
    return "" if match.group(0) in {"${query}", "${suffix}"} else "1"


def _called_paths() -> set[str]:
    """Every /api and /dicom-web path the UI's modules call, ${...} filled in."""
    paths: set[str] = set()
    for path in STATIC_DIR.rglob("*.js"):
        # Join literals split over lines: `/a/${x}/` + `${y}/b` -> `/a/${x}/${y}/b`.
        source = _JOINED.sub("", path.read_text(encoding="utf-8"))
        found = _LITERAL.findall(source) + ["/dicom-web/" + p for p in _QIDO.findall(source)]
        paths |= {_TEMPLATE.sub(_placeholder, p) for p in found}
    # The generic helper's own template ("/dicom-web/${path}${suffix}") is not a call.
    paths.discard("/dicom-web/1")
    # The audit page calls /api/audit/<view> for each view of its menu.
    audit = (STATIC_DIR / "js" / "pages" / "audit.js").read_text(encoding="utf-8")
    menu = re.search(r"const VIEWS = \{(.*?)\};", audit, re.S)
    assert menu is not None and "/api/audit/1" in paths
    paths.discard("/api/audit/1")
    paths |= {f"/api/audit/{view}" for view in re.findall(r"\"?([a-z-]+)\"?:", menu.group(1))}
    return paths


def _matches(routes: list[BaseRoute], path: str) -> bool:
    for route in routes:
        if isinstance(route, Mount) and path.startswith(route.path + "/"):
            if _matches(list(route.routes), path[len(route.path):]):
                return True
        elif isinstance(route, Route) and route.path_regex.fullmatch(path):
            return True
    return False


def test_every_path_the_ui_calls_is_a_route(archive: Archive) -> None:
    app = create_http_app(archive)
    called = _called_paths()
    assert len(called) > 20  # the extraction works
    missing = sorted(p for p in called if not _matches(list(app.routes), p))
    assert missing == []


def test_every_registered_page_has_its_module() -> None:
    source = (STATIC_DIR / "js" / "pages" / "registry.js").read_text(encoding="utf-8")
    registry = "\n".join(line for line in source.splitlines()
                         if not line.lstrip().startswith("//"))
    modules = re.findall(r"module: \"\./([a-z_]+\.js)\"", registry)
    assert len(modules) >= 8
    for module in modules:
        source = (STATIC_DIR / "js" / "pages" / module).read_text(encoding="utf-8")
        assert "export async function render(" in source, module


@pytest.mark.parametrize(("header", "door"), [("UI", "UI"), ("DIMSE", "DICOMweb"),
                                              (None, "DICOMweb")])
def test_requests_from_the_ui_are_recorded_as_the_ui_door(
        archive: Archive, server: str, header: str | None, door: str) -> None:
    """The header can only select the UI door; the actor is the token's either way."""
    populate(archive, seed=41, count=1)
    headers = admin_headers(archive)
    if header:
        headers["X-Dicomvault-Door"] = header
    with httpx.Client(base_url=server, headers=headers) as client:
        [study] = client.get("/dicom-web/studies").json()
        uid = study["0020000D"]["Value"][0]
        assert client.get(f"/dicom-web/studies/{uid}/thumbnail").status_code == 200
    [searched] = ledger_events(archive, EventType.SEARCHED)
    retrieved = ledger_events(archive, EventType.INSTANCE_RETRIEVED)
    assert retrieved
    assert {e.door for e in [searched, *retrieved]} == {door}
    assert {e.actor for e in [searched, *retrieved]} == {"test-admin"}
