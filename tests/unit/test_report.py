"""The HTML report: claims first, lecture order, figures embedded, failures shown, text escaped."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "helpers"))
from fake_runs import EVIL, make_all, make_done

from depthlab.report import build_report
from depthlab.report.build import find_runs, json_for_script, load_view, reproduce_command
from depthlab.runs import load_result


def test_report_shows_every_run_claims_first_and_escapes(tmp_path):
    runs = make_all(tmp_path)
    html = build_report(tmp_path).read_text()
    assert len(find_runs(tmp_path)) == 3
    # Nothing from a run directory is markup.
    assert EVIL not in html
    assert "&lt;script&gt;alert(" in html
    # The claims table comes before any section and has one row per claim, plus failed runs.
    assert html.index('id="claims-table"') < html.index('id="section-')
    assert html.count('class="claim-row"') == 2
    assert html.count('class="failed-run-row"') == 2
    # Lecture order: init (failed run's section, from its meta) before landscape.
    assert html.index('id="section-init"') < html.index('id="section-landscape"')
    # Claim rows link to their run's anchor, which exists.
    for anchor in re.findall(r'<tr class="claim-row"[^>]*>\s*<td><a href="#([^"]+)"', html):
        assert f'id="{anchor}"' in html
    # The failed run shows its error; the interrupted run says so.
    assert "RuntimeError: NaN in layer 2" in html
    assert "this run did not finish (status: running)" in html
    # Figures: the PNG is embedded, plotly.js inlined exactly once, the surface travels as JSON.
    assert "data:image/png;base64," in html
    assert html.count('<script type="text/javascript">') == 2  # plotly.js + the hydrator
    assert html.count('class="plotly-data"') == 1
    assert 'src="http' not in html and '<link rel="stylesheet"' not in html
    # Environment and wall time per run.
    assert 'id="environment"' in html and "1.5" in html
    assert runs["done"].exists()


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


def test_damaged_result_is_shown_as_failed(tmp_path):
    run = make_done(tmp_path)
    (run / "result.json").write_text("{not json")
    view = load_view(run)
    assert view.status == "failed" and "could not read the saved result" in view.error_headline
    assert "could not read" in build_report(tmp_path).read_text()


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
    assert "1 holds" in html and "1 fails" in html
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
