"""The HTML report: reads top-down (forest plot, claims, constructions, sections), links figures
instead of inlining them, never inlines markup from a run directory, survives damaged runs, and
reads everything from the run directories (never the experiment registry)."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from pydantic import Field
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "helpers"))
from fake_runs import EVIL, make_all, make_done

from depthlab.config import ExperimentConfig
from depthlab.context import RunContext
from depthlab.core import Claim, Region, Result
from depthlab.experiments import base
from depthlab.report import build_report
from depthlab.report.build import (
    caption_for,
    find_runs,
    json_for_script,
    load_view,
    reproduce_command,
)
from depthlab.report.fmt import fmt_num, no_negative_zero
from depthlab.report.forest import forest_svg
from depthlab.runs import load_result, run_experiment
from depthlab.runs.runner import report_meta

SRC = Path(__file__).resolve().parents[2] / "src" / "depthlab"


def _text(html: str) -> str:
    """The visible text of a page (tags dropped)."""
    return re.sub(r"<[^>]+>", " ", html)


def test_report_reads_top_down_and_escapes(tmp_path):
    runs = make_all(tmp_path)
    out = build_report(tmp_path)
    html = out.read_text()
    assert len(find_runs(tmp_path)) == 3
    # Nothing from a run directory is markup.
    assert EVIL not in html
    assert "&lt;script&gt;alert(" in html
    # Top-down: forest plot, claims, constructions, unfinished runs, then the sections.
    order = [
        'id="forest"',
        'id="claims-table"',
        'id="constructions-table"',
        'id="unfinished"',
        'id="section-',
        'id="environment"',
    ]
    positions = [html.index(k) for k in order]
    assert positions == sorted(positions)
    # 2 legacy claims + 3 empirical ones are rows; the construction has its own table.
    assert html.count('class="claim-row"') == 5
    assert html.count('class="construction-row"') == 1
    assert html.count('class="failed-run-row"') == 2
    assert '<span id="count-claims">5 claims:</span>' in html
    assert html.count('class="forest-row"') == 3 and 'id="forest-unranked"' in html
    assert '<span id="count-holds">2 hold</span>' in html  # legacy holds + the empirical one
    assert "1 constructions checked (not counted)" in html
    # Lecture order from the saved meta: init (rank 3) before landscape (rank 8).
    assert html.index('id="section-init"') < html.index('id="section-landscape"')
    assert "Loss landscapes &lt;script&gt;" in html  # the section title saved in meta
    # Every claim link points at an element that exists.
    for anchor in re.findall(r'href="#((?:claim|run)-[^"]+)"', html):
        assert f'id="{anchor}"' in html, anchor
    # Details: n with its unit, the interval, the region and the tolerance history.
    assert "5 seeds" in html and "[-2.1, -1.85]" in html and "[-2.25, -1.75]" in html
    assert "2026-11-30: tolerance 0.5 &rarr; 0.25 (too loose &lt;script&gt;" in html
    assert "tolerance changed" in html
    # A quick run is labelled: its verdicts are a smoke test.
    assert 'id="smoke-banner"' in html and "not evidence" in html
    # A negative zero is never shown.
    assert "whether x = 0.000." in html
    assert not re.search(r"(?<![\w.])-0(?:\.0*)?(?!\d|\.\d)", _text(html))
    # The failed run shows its error; the interrupted run says so.
    assert "RuntimeError: NaN in layer 2" in html
    assert "this run did not finish (status: running)" in html
    # Figures are linked relative to the report, never base64-inlined; captions are sentences.
    assert 'src="fake-landscape/figures/curve.png"' in html
    assert "data:image/png;base64," not in html
    assert "A sine curve &lt;script&gt;" in html and "<figcaption>Surface.</figcaption>" in html
    # plotly.js is written once beside the report and loaded only on demand.
    assert len(html) < 150_000
    assert "Plotly.newPlot" in html and "function loadPlotly" in html
    beside = list(tmp_path.glob("plotly-*.min.js"))
    assert len(beside) == 1 and beside[0].stat().st_size > 1_000_000
    assert f'data-plotly-src="{beside[0].name}"' in html
    assert html.count('class="plotly-data"') == 1
    assert html.count('class="open-interactive"') == 1  # paired with the static "surface"
    assert 'src="http' not in html and '<link rel="stylesheet"' not in html
    assert "<script src=" not in html
    # Environment and wall time per run.
    assert 'id="environment"' in html and "1.5" in html
    assert runs["done"].exists()


def test_a_crafted_html_figure_never_reaches_the_report(tmp_path):
    run = make_done(tmp_path)
    fig_dir = run / "figures"
    evil = '<div class="plotly-graph-div"></div><script>Plotly.newPlot; alert(1)</script>'
    (fig_dir / "X.html").write_text(evil)
    (fig_dir / "Y.html").write_text(evil)
    (fig_dir / "Y.json").write_text(
        json.dumps({"data": [{"type": "scatter", "name": "</script><script>alert(1)</script>"}]})
    )
    data = json.loads((run / "result.json").read_text())
    data["figures"] |= {"X": "figures/X.html", "Y": "figures/Y.html"}
    (run / "result.json").write_text(json.dumps(data))
    html = build_report(tmp_path).read_text()
    assert "alert(1)" not in html.replace("\\u003c/script\\u003e\\u003cscript\\u003ealert(1)", "")
    assert "<script>alert" not in html and "plotly-graph-div" not in html
    assert "X.html: interactive figure without its JSON" in html
    # Y is drawn by our own code from its JSON, with < escaped.
    assert "\\u003c/script\\u003e\\u003cscript\\u003ealert(1)" in html


@pytest.mark.parametrize(
    ("damage", "warning"),
    [
        ("config_not_utf8", "config.yaml is not UTF-8"),
        ("wall_abc", "meta.wall_s is not a number ('abc')"),
        ("no_result", "status says done but result.json is missing"),
        ("result_not_json", "result.json is not JSON"),
        ("status_not_utf8", "status is not UTF-8"),
        ("bad_claim", "claim #1 skipped"),
        ("bad_yaml", "config.yaml is not valid YAML"),
    ],
)
def test_a_damaged_run_directory_is_a_warning_never_fatal(tmp_path, damage, warning):
    make_done(tmp_path, name="good")
    bad = make_done(tmp_path, name="bad")
    result = bad / "result.json"
    data = json.loads(result.read_text())
    if damage == "config_not_utf8":
        (bad / "config.yaml").write_bytes(b"experiment: bad\nlabel: \xff\xfe\n")
    elif damage == "wall_abc":
        data["meta"]["wall_s"] = "abc"
        result.write_text(json.dumps(data))
    elif damage == "no_result":
        result.unlink()
    elif damage == "result_not_json":
        result.write_text("{not json")
    elif damage == "status_not_utf8":
        (bad / "status").write_bytes(b"done\xff\n")
    elif damage == "bad_claim":
        data["claims"][0]["verdict"] = "maybe"
        result.write_text(json.dumps(data))
    elif damage == "bad_yaml":
        (bad / "config.yaml").write_text("experiment: [bad\n")
    html = build_report(tmp_path).read_text()
    assert 'id="warnings"' in html
    warnings = re.findall(r'<li class="warning">(.*?)</li>', html)
    assert any(w.startswith("bad: ") and warning in w.replace("&#39;", "'") for w in warnings)
    assert not any(w.startswith("good") for w in warnings)
    assert 'id="run-good"' in html  # the healthy run is unaffected


def test_a_section_is_one_block_even_when_an_old_run_saved_no_rank(tmp_path):
    make_done(tmp_path, name="new")
    old = make_done(tmp_path, name="old")
    data = json.loads((old / "result.json").read_text())
    del data["meta"]["section_rank"], data["meta"]["section_title"]
    (old / "result.json").write_text(json.dumps(data))
    make_done(tmp_path, name="first", section="expressivity")
    data = json.loads((tmp_path / "first" / "result.json").read_text())
    data["meta"]["section_rank"] = 0
    (tmp_path / "first" / "result.json").write_text(json.dumps(data))
    html = build_report(tmp_path).read_text()
    assert html.count('id="section-landscape"') == 1
    assert html.index('id="section-expressivity"') < html.index('id="section-landscape"')
    block = html.split('id="section-landscape"')[1]
    assert 'id="run-new"' in block and 'id="run-old"' in block


def test_damaged_result_is_shown_as_failed(tmp_path):
    run = make_done(tmp_path)
    (run / "result.json").write_text("{not json")
    view = load_view(run)
    assert view.status == "failed" and "could not read the saved result" in view.error_headline
    assert "could not read" in build_report(tmp_path).read_text()


def test_the_report_never_imports_the_registry_or_torch():
    for path in (SRC / "report").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            for name in names:
                assert not name.startswith(("depthlab.experiments", "torch")), (path.name, name)


def test_building_a_report_loads_no_experiment_module(tmp_path):
    make_all(tmp_path)
    code = (
        "import sys\n"
        "from depthlab.report import build_report\n"
        f"build_report({str(tmp_path)!r})\n"
        "loaded = [m for m in sys.modules if m.startswith('depthlab.experiments.')"
        " and m != 'depthlab.experiments.base']\n"
        "print(loaded)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    )
    assert out.stdout.strip() == "[]"


def test_the_runner_saves_what_the_report_needs_in_meta():
    class Exp:
        title = "A title"
        section = "landscape"
        order = 7
        captions = {"surface": "The loss surface around the minimum."}

    meta = report_meta(Exp())
    assert meta["title"] == "A title" and meta["order"] == 7
    assert meta["section"] == "landscape" and meta["section_title"].startswith("Loss landscapes")
    assert meta["section_rank"] == 8
    assert meta["captions"] == {"surface": "The loss surface around the minimum."}


def test_forest_plot_rows_and_geometry():
    holds = Claim(
        id="a.holds",
        statement="s",
        source="t",
        predicted=-2.0,
        measured=-1.97,
        tolerance="±0.25",
        verdict="holds",
        kind="empirical",
        estimate=-1.97,
        interval=(-2.1, -1.85),
        region=Region.around(-2.0, 0.25),
    ).to_dict()
    wide = Claim(
        id="b.count",
        statement="regions in the window stay far below the bound",
        source="t",
        predicted=None,
        measured=3183,
        tolerance="<= bound",
        verdict="holds",
        kind="empirical",
        estimate=3183.0,
        interval=(3000.0, 3300.0),
        region=Region.at_most(3.5e7),
    ).to_dict()
    lone = dict(holds, id="c.lone", interval=None, verdict="inconclusive", n=1, unit="seeds")
    svg = forest_svg([("Section <one>", [holds, lone]), ("two", [wide])])
    assert svg.count('class="forest-row"') == 3
    assert "Section &lt;one&gt;" in svg and "<one>" not in svg
    assert "no interval (n = 1 seeds): cannot be decided" in svg
    rows = svg.split('class="forest-row"')[1:]
    # The interval of the holding claim lies inside its shaded region, in pixels too.
    rx, rw = (
        float(v)
        for v in re.search(
            r'class="region" x="([\d.]+)" y="[\d.]+" width="([\d.]+)"', rows[0]
        ).groups()
    )
    x1, x2 = (
        float(v)
        for v in re.search(
            r'<line x1="([\d.]+)" y1="[\d.]+" x2="([\d.]+)"', rows[0].split('class="interval"')[1]
        ).groups()
    )
    assert rx < x1 < x2 < rx + rw
    assert 'stroke="#2e7d32"' in rows[0]  # green: holds
    # An interval open on one side runs to the row's edge.
    open_iv = dict(holds, id="d.open", interval=[1.0, "inf"], region={"lo": 0.5, "hi": None})
    row = forest_svg([("s", [open_iv])]).split('class="interval"')[1]
    assert re.search(r'x2="680.0"', row) and "[1, inf)" in forest_svg([("s", [open_iv])])
    # Five decades apart: a log axis, and the open lower side runs to the row's left edge.
    assert "(log)" in rows[2]
    assert re.search(r'class="region" x="360.0"', rows[2])


def test_numbers_never_show_a_negative_zero():
    assert (
        fmt_num(-0.0) == "0" and fmt_num(-1e-9) == "-1e-09" and fmt_num(-0.00001234) == "-1.234e-05"
    )
    assert fmt_num(2.0) == "2" and fmt_num(None) == "" and fmt_num(float("nan")) == "nan"
    assert no_negative_zero("slope -0.000 (was -0.0); x=-0.5, -0e+00, -0.0001, = -0.000.") == (
        "slope 0.000 (was 0.0); x=-0.5, 0e+00, -0.0001, = 0.000."
    )


def test_captions_come_from_the_experiment_or_a_sentence():
    assert caption_for("surface", {"surface": "The surface."}) == "The surface."
    assert caption_for("landscape_skip_3d_interactive", {}) == "Landscape skip 3d."
    assert caption_for("error-vs_width", None) == "Error vs width."


def test_self_contained_embeds_each_figure_once(tmp_path):
    make_done(tmp_path)
    html = build_report(tmp_path, tmp_path / "one.html", self_contained=True).read_text()
    page = html.split('<script type="text/plain" id="plotly-js">')[0]
    assert page.count('src="data:image/png;base64,') == 2  # curve and surface, once each
    assert '<script type="text/plain" id="plotly-js">' in html
    assert "</script" not in html.split('id="plotly-js">', 1)[1].split("</script>", 1)[0]
    assert not list(tmp_path.glob("plotly-*.min.js"))


def test_plotly_json_cannot_break_out_of_its_script_tag():
    text = json_for_script({"name": "</script><script>alert(1)</script>"})
    assert "</script" not in text and "<" not in text
    assert json.loads(str(text)) == {"name": "</script><script>alert(1)</script>"}


def test_reproduce_command_sets_every_key_and_quotes():
    cmd = reproduce_command(
        "toy",
        {"experiment": "toy", "widths": [1, 2], "label": "a b;rm"},
        {"seed": 2, "quick": True},
    )
    assert cmd == "depthlab run toy --set 'widths=[1,2]' --set 'label=\"a b;rm\"' --seed 2 --quick"


def test_report_can_be_rebuilt_without_recomputing(tmp_path):
    make_done(tmp_path)
    first = build_report(tmp_path, tmp_path / "a.html").read_text()
    second = build_report(tmp_path, tmp_path / "b.html").read_text()
    assert first == second


def test_figures_are_linked_relative_to_an_out_file_elsewhere(tmp_path):
    make_done(tmp_path / "runs")
    html = build_report(tmp_path / "runs", tmp_path / "site" / "r.html").read_text()
    assert 'src="../runs/fake-landscape/figures/curve.png"' in html
    assert (tmp_path / "site" / "r.html").is_file()


def test_figure_path_outside_the_run_is_not_read(tmp_path):
    run = make_done(tmp_path)
    data = json.loads((run / "result.json").read_text())
    data["figures"]["stolen"] = "../../../etc/passwd"
    (run / "result.json").write_text(json.dumps(data))
    view = load_view(run)
    stolen = next(f for f in view.figures if f["name"] == "stolen")
    assert stolen["kind"] == "missing"


def test_result_repr_html_in_notebooks(tmp_path):
    run = make_done(tmp_path)
    res = load_result(run)
    html = res._repr_html_()
    assert EVIL not in html and "&lt;script&gt;" in html
    assert "2 holds" in html and "2 fails" in html and "1 constructions checked" in html
    assert "data:image/png;base64," in html
    assert "sharpness = 1.25" in html


def test_report_file_is_readable_by_others(tmp_path):
    import os
    import stat

    make_done(tmp_path)
    mode = stat.S_IMODE(build_report(tmp_path).stat().st_mode)
    assert mode == 0o666 & ~_umask()
    assert os.access(tmp_path / "index.html", os.R_OK)


def _umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


class _ReplotConfig(ExperimentConfig):
    n: int = Field(3, ge=1, le=100)


class _ReplotExperiment:
    name = "toy-replot"
    title = "redrawn from saved results"
    section = "other"
    order = 997
    Config = _ReplotConfig
    captions = {"curve": "The curve, redrawn from its saved table."}

    def run(self, config: _ReplotConfig, ctx: RunContext) -> Result:
        return Result(self.name, {}, tables={"t": pd.DataFrame({"x": range(config.n)})})

    def figures(self, result: Result, fig_dir) -> dict[str, str]:
        path = fig_dir / "curve.svg"
        path.write_text(
            f'<svg xmlns="http://www.w3.org/2000/svg"><!-- {len(result.tables["t"])} --></svg>'
        )
        return {"curve": path}


def test_cli_report_replot_redraws_then_rebuilds(tmp_path):
    from depthlab.cli import app

    base.register(_ReplotExperiment)
    try:
        run_experiment("toy-replot", out_dir=tmp_path / "runs" / "toy-replot", device="cpu")
        svg = tmp_path / "runs" / "toy-replot" / "figures" / "curve.svg"
        svg.unlink()
        res = CliRunner().invoke(
            app, ["report", str(tmp_path / "runs"), "--replot", "--out", str(tmp_path / "r.html")]
        )
        assert res.exit_code == 0, res.output
        assert "redrew the figures of 1 run(s)" in res.output
        assert "<!-- 3 -->" in svg.read_text()
        html = (tmp_path / "r.html").read_text()
        assert "The curve, redrawn from its saved table." in html
        assert 'src="runs/toy-replot/figures/curve.svg"' in html
    finally:
        base._REGISTRY.pop(_ReplotExperiment.name, None)
