"""Open the report in headless Chromium: it loads fast and light, reads top-down, and works.

The test builds a report from fake runs (a done run with static and interactive figures, a
failed and an interrupted run) plus real tiny-scale runs of two experiments (one with an
interactive 3-D surface), then measures and prints the page's weight (the HTML plus everything
fetched before the load event) and its load time (best of three loads), asserts them against the
budget (<= 3 MB, <= 1.5 s), checks the forest plot, the claims filter, a figure and the lazy
interactive figure, and saves a screenshot under the test's tmp dir (path printed).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "helpers"))
from fake_runs import make_all

from depthlab.report import build_report
from depthlab.runs import run_experiment

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
)
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed"),
]
playwright = pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extra")

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
]
MAX_BYTES = 3_000_000
MAX_LOAD_S = 1.5

LOAD_MS_JS = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  return nav.loadEventEnd - nav.startTime;
}"""


def _file(url: str) -> Path:
    from urllib.parse import unquote, urlparse

    return Path(unquote(urlparse(url).path))


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    runs = tmp_path_factory.mktemp("report") / "runs"
    make_all(runs)
    for name in ("universal-approximation", "landscape-skip", "init-variance"):
        run_experiment(name, out_dir=runs / name, scale="tiny", device="cpu")
    return build_report(runs)


def _load(page, report: Path) -> dict:
    """Load the page once: its load time, and every file fetched up to the load event."""
    fetched: list[str] = []
    page.on("request", lambda r: fetched.append(r.url))
    page.goto(report.as_uri(), wait_until="load")
    files = {u: _file(u) for u in fetched if u.startswith("file://")}
    return {
        "load_ms": page.evaluate(LOAD_MS_JS),
        "urls": list(files),
        "bytes": sum(p.stat().st_size for p in files.values() if p.is_file()),
    }


def test_report_loads_fast_reads_top_down_and_works(report, tmp_path):
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("dialog", lambda d: errors.append(f"dialog opened: {d.message}"))

            loads = []
            for _ in range(3):
                fresh = browser.new_page(viewport={"width": 1280, "height": 900})
                loads.append(_load(fresh, report))
                fresh.close()
            best = min(loads, key=lambda d: d["load_ms"])
            load_s, weight = best["load_ms"] / 1000, max(d["bytes"] for d in loads)
            referenced = sum(
                p.stat().st_size
                for p in report.parent.rglob("*")
                if p.suffix in (".png", ".svg", ".js") and p.is_file()
            )
            print(
                f"\nreport: {report.stat().st_size / 1e6:.3f} MB of HTML; "
                f"{weight / 1e6:.3f} MB fetched by the load event ({len(best['urls'])} files); "
                f"load {load_s:.3f} s (best of 3: {[round(d['load_ms']) for d in loads]} ms); "
                f"all it links (every figure, plotly.js): {referenced / 1e6:.2f} MB"
            )
            page.goto(report.as_uri(), wait_until="load")
            assert weight <= MAX_BYTES
            assert load_s <= MAX_LOAD_S
            assert errors == []
            # plotly.js is not fetched until a reader asks for an interactive figure.
            assert not any("plotly" in url for url in best["urls"])
            assert page.evaluate("typeof window.Plotly") == "undefined"

            # Top-down: the forest plot is on the first screen, above the claims table.
            forest = page.locator("#forest svg.forest-plot")
            assert forest.is_visible()
            fbox = forest.bounding_box()
            assert fbox["y"] < 900 and fbox["width"] > 900
            n_rows = page.locator("#claims-table details.claim-row").count()
            in_forest = page.locator("#claims-table details.claim-row[data-in-forest]").count()
            assert page.locator("svg.forest-plot g.forest-row").count() == in_forest >= 3
            assert page.locator("#smoke-banner").is_visible()
            # Constructions are apart; failed runs have rows.
            assert page.locator("#constructions-table tr.construction-row").count() >= 1
            assert page.locator("tr.failed-run-row").count() == 2

            # The filter: only failing claims, then everything again.
            fails = page.locator('#claims-table details.claim-row[data-verdict="fails"]').count()
            page.select_option("#filter-verdict", "fails")
            assert page.locator("#claims-table details.claim-row:visible").count() == fails
            assert page.locator("#filter-count").inner_text() == f"{fails} of {n_rows} shown"
            page.select_option("#filter-verdict", "")
            assert page.locator("#claims-table details.claim-row:visible").count() == n_rows
            # A claim row expands to its details.
            row = page.locator("#claims-table details.claim-row").first
            row.locator("summary").click()
            assert row.locator(".claim-detail").is_visible()
            row.locator("summary").click()

            # Static figures are drawn (lazily loaded images come in when scrolled to).
            images = page.locator("figure.static-figure img")
            assert images.count() >= 4
            for i in range(images.count()):
                images.nth(i).scroll_into_view_if_needed()
                page.wait_for_function(
                    "img => img.complete && img.naturalWidth > 0",
                    arg=images.nth(i).element_handle(),
                )
                box = images.nth(i).bounding_box()
                assert box and box["width"] > 50 and box["height"] > 50
                assert box["width"] <= 1200  # fits the page

            # The interactive version: one click loads plotly.js once and draws the scene.
            buttons = page.locator("button.open-interactive")
            assert buttons.count() >= 1
            buttons.first.scroll_into_view_if_needed()
            buttons.first.click()
            target = buttons.first.get_attribute("data-target")
            page.wait_for_selector(f"#{target}.js-plotly-plot .main-svg", timeout=30_000)
            host = page.locator(f"#{target}").bounding_box()
            assert host and host["width"] > 300 and host["height"] > 300
            assert page.evaluate("typeof window.Plotly") == "object"
            scripts = page.evaluate(
                "Array.from(document.scripts).filter(s => s.src.includes('plotly')).length"
            )
            assert scripts == 1
            assert errors == []

            page.evaluate("window.scrollTo(0, 0)")
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=False)
            assert shot.stat().st_size > 10_000
            print(f"screenshot (first screen): {shot}")
        finally:
            browser.close()


def test_chromium_screenshot_shows_forest_filter_and_a_figure(report, tmp_path):
    """Chromium's own ``--screenshot`` of the report's top 1280 x 2400 px: the forest plot, the
    claims filter and the first figure all lie inside it."""
    shot = tmp_path / "report-top.png"
    subprocess.run(
        [
            CHROMIUM,
            *ARGS,
            f"--screenshot={shot}",
            "--window-size=1280,2400",
            "--hide-scrollbars",
            "--virtual-time-budget=10000",  # let the lazily loaded figures in view arrive
            report.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert shot.stat().st_size > 20_000
    print(f"\nscreenshot (chromium --screenshot, 1280x2400): {shot}")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 2400})
            page.goto(report.as_uri(), wait_until="load")
            boxes = {}
            for sel in ("#forest svg.forest-plot", "#claims-filter", "figure.static-figure img"):
                box = boxes[sel] = page.locator(sel).first.bounding_box()
                assert box and box["y"] + min(box["height"], 100) < 2400, sel
        finally:
            browser.close()
    # The figure is drawn in the screenshot, not an empty frame: its area has dark pixels.
    from PIL import Image

    box = boxes["figure.static-figure img"]
    area = (box["x"], box["y"], box["x"] + box["width"], min(box["y"] + box["height"], 2400))
    darkest, _ = Image.open(shot).convert("L").crop(tuple(round(v) for v in area)).getextrema()
    assert darkest < 80
