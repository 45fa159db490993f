"""Open the report in headless Chromium: no console errors, every figure drawn, a row per claim."""

from __future__ import annotations

import shutil
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


def test_report_renders_in_chromium(tmp_path):
    runs = tmp_path / "runs"
    make_all(runs)
    # One real run of the first experiment, made small.
    run_experiment(
        "universal-approximation",
        {"widths": [1, 4, 16], "finetune_steps": 10, "n_train": 128},
        out_dir=runs / "universal-approximation",
        quick=True,
    )
    report = build_report(runs)

    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("dialog", lambda d: errors.append(f"dialog opened: {d.message}"))
            page.goto(report.as_uri(), wait_until="load")
            page.wait_for_function(
                "document.querySelectorAll('.plotly-host').length === "
                "document.querySelectorAll('.plotly-host.js-plotly-plot').length",
                timeout=30_000,
            )
            assert errors == []

            n_claims = page.locator("#claims-table tr.claim-row").count()
            assert n_claims == 2 + 3  # two fake claims, three from universal-approximation
            assert page.locator("#claims-table tr.failed-run-row").count() == 2

            images = page.locator("figure.static-figure img")
            assert images.count() >= 2
            for i in range(images.count()):
                box = images.nth(i).bounding_box()
                assert box and box["width"] > 50 and box["height"] > 50
                assert images.nth(i).evaluate("img => img.complete && img.naturalWidth > 0")

            plots = page.locator(".plotly-host")
            assert plots.count() == 1
            box = plots.first.bounding_box()
            assert box and box["width"] > 100 and box["height"] > 100
            assert page.locator(".plotly-host .main-svg").count() >= 1

            page.screenshot(path=str(tmp_path / "report.png"), full_page=False)
            assert (tmp_path / "report.png").stat().st_size > 10_000
        finally:
            browser.close()
