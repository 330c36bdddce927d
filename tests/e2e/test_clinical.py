"""A clinician finds a study, opens the CT series, scrolls and windows it; markup in
names stays text; a technologist uploads a folder. Every view lands in the ledger."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydicom.data import get_testdata_file
from tests.support.auth import ledger_events
from tests.support.browser import (
    CT_SLICES,
    ROLE_USERS,
    SCOPED_CLINICIAN,
    XSS_DESCRIPTION,
    XSS_NAME,
    canvas_digest,
    login,
    screenshot,
)

from dicomvault.access import Role
from dicomvault.archive import Archive
from dicomvault.ledger import EventType


def _open_ct_series(page: Any) -> None:
    page.get_by_label("Patient name").fill("SERIES")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("cell", name="E2E-CT").click()
    page.locator(".series-grid button").first.click()
    page.wait_for_function(
        "() => document.querySelector('#viewer-canvas')?.dataset.rendered !== undefined")


def _wait_rendered(page: Any, previous: str | None) -> str:
    page.wait_for_function(
        "(prev) => { const c = document.querySelector('#viewer-canvas');"
        " return c && c.dataset.rendered && c.dataset.rendered !== prev; }", arg=previous)
    return str(page.eval_on_selector("#viewer-canvas", "c => c.dataset.rendered"))


def test_a_clinician_sees_only_clinical_pages(page: Any) -> None:
    login(page, Role.CLINICIAN)
    nav = page.locator("#nav").inner_text()
    assert "Studies" in nav
    for hidden in ("Upload", "Audit", "Users", "Keys", "Storage"):
        assert hidden not in nav
    page.goto("/ui/#/users")
    assert "may not open the Users & tokens page" in page.locator("#refused").inner_text()
    assert page.locator("#users").count() == 0


def test_search_open_scroll_window_zoom_measure(page: Any, node: Archive) -> None:
    before = len(ledger_events(node, EventType.INSTANCE_RETRIEVED))
    login(page, Role.CLINICIAN)
    screenshot(page, "studies")
    _open_ct_series(page)
    assert page.title() == "Viewer · dicomvault"
    assert "#/viewer" in page.url and "1.2." not in page.url  # no UID in the URL
    first_key = _wait_rendered(page, None)
    overlay = page.locator("#viewer-overlay")
    assert f"Image {CT_SLICES // 2} / {CT_SLICES}" in overlay.inner_text()
    first = canvas_digest(page)
    screenshot(page, "viewer")

    # Scroll: the next slice is another image.
    page.locator("#viewer-canvas").focus()
    page.keyboard.press("ArrowDown")
    second_key = _wait_rendered(page, first_key)
    assert f"Image {CT_SLICES // 2 + 1} / {CT_SLICES}" in overlay.inner_text()
    second = canvas_digest(page)
    assert second != first
    page.mouse.move(640, 400)
    page.locator("#viewer-canvas").dispatch_event("wheel", {"deltaY": 100})
    third_key = _wait_rendered(page, second_key)
    assert f"Image {CT_SLICES // 2 + 2} / {CT_SLICES}" in overlay.inner_text()

    # Window/level: a preset, then the drag gesture, each change the pixels.
    page.get_by_role("button", name="CT lung").click()
    lung_key = _wait_rendered(page, third_key)
    assert "W 1500 / L -600" in overlay.inner_text()
    lung = canvas_digest(page)
    page.get_by_role("button", name="CT bone").click()
    bone_key = _wait_rendered(page, lung_key)
    assert canvas_digest(page) != lung
    box = page.locator("#viewer-canvas").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx + 120, cy + 80, steps=6)
    page.mouse.up()
    _wait_rendered(page, bone_key)
    assert "W 1500 / L 300" not in overlay.inner_text()
    screenshot(page, "viewer-windowed")

    # Zoom and pan change the drawing; a length measurement reads in millimetres.
    unzoomed = canvas_digest(page)
    page.get_by_role("button", name="Zoom", exact=True).click()
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx, cy - 100, steps=4)
    page.mouse.up()
    assert "zoom 1.00" not in overlay.inner_text()
    assert canvas_digest(page) != unzoomed
    page.get_by_role("button", name="Length").click()
    page.mouse.move(cx - 50, cy)
    page.mouse.down()
    page.mouse.move(cx + 50, cy, steps=4)
    page.mouse.up()
    assert " mm" in overlay.inner_text()

    # The DICOM header of the current image.
    header = page.locator("#viewer-header").inner_text()
    assert "(0008,0060)" in header and "CT" in header
    screenshot(page, "viewer-measured")

    # Every rendered frame the viewer fetched was a retrieve, recorded as the UI door.
    page.wait_for_load_state("networkidle")
    events = ledger_events(node, EventType.INSTANCE_RETRIEVED)[before:]
    ours = [e for e in events if e.actor == ROLE_USERS[Role.CLINICIAN]]
    assert len(ours) >= 3
    assert {e.door for e in ours} == {"UI"}


def test_markup_in_patient_data_is_shown_as_text(page: Any) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    login(page, Role.CLINICIAN)
    page.locator("#study-results[aria-busy=false]").wait_for()  # the first, unfiltered list
    page.get_by_label("Patient ID").fill("E2E-XSS")
    page.get_by_role("button", name="Search").click()
    page.locator("#study-results[aria-busy=false]").wait_for()
    row = page.locator("#study-results tbody tr")
    assert row.count() == 1
    text = row.inner_text()
    assert "<script>alert(1)</script>, <b>BOLD</b>" in text
    assert XSS_DESCRIPTION in text
    row.click()
    page.locator(".series-grid button").first.wait_for()
    assert "<b>BOLD</b>" in page.locator("#study-details").inner_text()
    page.wait_for_load_state("networkidle")
    assert page.locator("#view b, #view img[src='x'], #view script").count() == 0
    assert page.evaluate("() => window.__xss") is None
    assert dialogs == []
    assert XSS_NAME.split("^")[0] not in page.title()
    screenshot(page, "xss-as-text")


def test_a_technologist_uploads_a_folder(page: Any, node: Archive, tmp_path: Path) -> None:
    folder = tmp_path / "from-modality"
    folder.mkdir()
    for name in ("CT_small.dcm", "MR_small.dcm"):
        (folder / name).write_bytes(Path(str(get_testdata_file(name))).read_bytes())
    (folder / "notes.txt").write_text("not a DICOM file\n")
    before = len(ledger_events(node, EventType.INSTANCE_STORED))
    login(page, Role.TECHNOLOGIST)
    assert "Audit" not in page.locator("#nav").inner_text()
    page.get_by_role("link", name="Upload").click()
    page.locator("#upload-folder").set_input_files(str(folder))
    summary = page.locator("#upload-summary")
    page.wait_for_function(
        "() => document.querySelector('#upload-summary').textContent.includes(' stored, ')")
    assert "2 stored, 1 rejected (3 files)" in summary.inner_text()
    rows = page.locator("tbody tr").all_inner_texts()
    assert sum("stored" in r and "rejected" not in r for r in rows) == 2
    [rejected] = [r for r in rows if "notes.txt" in r]
    assert "rejected:" in rejected
    screenshot(page, "upload")
    stored = ledger_events(node, EventType.INSTANCE_STORED)[before:]
    assert [e.door for e in stored] == ["UI", "UI"]
    assert {e.actor for e in stored} == {ROLE_USERS[Role.TECHNOLOGIST]}


def test_breaking_the_glass_shows_an_out_of_scope_study_and_records_why(
        page: Any, node: Archive) -> None:
    before = len(ledger_events(node, EventType.BREAK_GLASS))
    login(page, SCOPED_CLINICIAN)
    page.get_by_label("Patient ID").fill("E2E-CT")
    page.get_by_role("button", name="Search").click()
    page.get_by_text("No study matches.").wait_for()  # outside this clinician's scope

    page.get_by_text("Emergency access beyond my scope").click()
    page.get_by_label("Reason").fill("unconscious patient in the emergency department")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("cell", name="E2E-CT").click()
    page.locator(".series-grid button").first.click()
    _wait_rendered(page, None)
    page.wait_for_load_state("networkidle")
    broken = ledger_events(node, EventType.BREAK_GLASS)[before:]
    assert {e.actor for e in broken} == {SCOPED_CLINICIAN}
    assert {e.details["operation"] for e in broken} >= {"search", "retrieve"}
    assert all("emergency" not in str(e.details) for e in broken)  # reason kept as a hash
    screenshot(page, "break-glass-viewer")

    # Logging out ends the emergency access: back in, the scope applies again.
    page.get_by_role("button", name="Log out").click()
    login(page, SCOPED_CLINICIAN)
    page.get_by_label("Patient ID").fill("E2E-CT")
    page.get_by_role("button", name="Search").click()
    page.get_by_text("No study matches.").wait_for()
