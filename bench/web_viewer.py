"""Web viewer benchmark: scrolling a CT series in the browser UI, per slice.

Stores a synthetic CT series (``--slices``, 512x512 by default) in a fresh
node, logs in through the login page in headless Debian Chromium (Playwright
with ``executable_path``), opens the series and steps through every slice
with the arrow key as fast as the viewer shows them, timing in the page from
the key press to the new image on the canvas:

* cold: first pass (each rendered frame fetched from the server, the next
  ones prefetched while the current one is shown);
* warm: the same slices again (from the viewer's frame cache);
* new window: a window/level preset, then a pass (every frame rendered again).

    PYTHONPATH=src:. python -m bench.web_viewer                 # 300 slices
    PYTHONPATH=src:. python -m bench.web_viewer --slices 100 --size 256
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from playwright.sync_api import Page, sync_playwright
from tests.support.browser import CHROMIUM, CHROMIUM_FLAGS
from tests.support.live import serving

from bench.common import median, p95, print_command
from dicomvault.access import Door, PrincipalKind, Role, Scope, system_context
from dicomvault.config import load_settings
from dicomvault.dicom.synthetic import generate_series, to_part10
from dicomvault.node import open_archive

_USER, _PASSWORD = "bench-clinician", "bench password 12345"

_SCROLL = """async ([count, key]) => {
  const canvas = document.querySelector('#viewer-canvas');
  const times = [];
  for (let i = 0; i < count; i += 1) {
    const before = canvas.dataset.rendered;
    const start = performance.now();
    canvas.dispatchEvent(new KeyboardEvent('keydown', {key, bubbles: true}));
    await new Promise((done) => {
      const check = () => (canvas.dataset.rendered !== before ? done()
                                                              : requestAnimationFrame(check));
      check();
    });
    times.push(performance.now() - start);
  }
  return times;
}"""


def _pass(page: Page, count: int, key: str = "ArrowDown") -> list[float]:
    return [float(t) for t in page.evaluate(_SCROLL, [count, key])]


def _report(name: str, times: list[float]) -> None:
    total = sum(times) / 1000
    print(f"{name:11s} {len(times):4d} slices  median {median(times):6.1f} ms  "
          f"p95 {p95(times):6.1f} ms  {len(times) / total:6.1f} slices/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--slices", type=int, default=300)
    parser.add_argument("--size", type=int, default=512, help="rows and columns")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dv-bench-web-") as tmp:
        settings = load_settings(data_dir=Path(tmp), keyring_passphrase="bench passphrase")
        archive, _ = open_archive(settings)
        ctx = system_context(Door.CLI, actor="bench")
        started = time.monotonic()
        for ds in generate_series(count=args.slices, rows=args.size, columns=args.size, seed=3):
            archive.store_bytes(to_part10(ds), ctx)
        print(f"stored {args.slices} slices of {args.size}x{args.size} in "
              f"{time.monotonic() - started:.1f} s")
        assert archive.access is not None
        archive.access.create_user(ctx, _USER, roles=frozenset({Role.CLINICIAN}), scope=Scope(),
                                   password=_PASSWORD, kind=PrincipalKind.USER)
        with serving(archive) as url, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1280, "height": 800}, base_url=url)
            page.set_default_timeout(120_000)
            page.goto("/")
            page.get_by_label("User name").fill(_USER)
            page.get_by_label("Password").fill(_PASSWORD)
            page.get_by_role("button", name="Log in").click()
            page.get_by_role("button", name="Search").click()
            page.locator("#study-results tbody tr").first.click()
            page.locator(".series-grid button").first.click()
            page.wait_for_function("() => document.querySelector('#viewer-canvas')"
                                   "?.dataset.rendered !== undefined")
            page.locator("#viewer-canvas").focus()
            page.keyboard.press("Home")
            page.wait_for_function("() => document.querySelector('#viewer-overlay')"
                                   ".textContent.startsWith('Image 1 /')")
            steps = args.slices - 1
            _report("cold", _pass(page, steps))
            page.keyboard.press("Home")
            page.wait_for_function("() => document.querySelector('#viewer-overlay')"
                                   ".textContent.startsWith('Image 1 /')")
            _report("warm", _pass(page, steps))
            page.get_by_role("button", name="CT bone").click()
            page.wait_for_function("() => document.querySelector('#viewer-overlay')"
                                   ".textContent.includes('W 1500 / L 300')")
            _report("new window", _pass(page, steps, "ArrowUp"))
            browser.close()
        archive.engine.dispose()
    print_command()


if __name__ == "__main__":
    main()
