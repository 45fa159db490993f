"""`depthlab sweep` and `depthlab report` from the command line (in-process with Typer's runner)."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "helpers"))
from fake_runs import make_all
from toyenv import toy_registered

from depthlab.cli import app
from depthlab.runs.sweep import parse_spec, run_sweep


@pytest.fixture(autouse=True, scope="module")
def _toy_experiment():
    with toy_registered():
        yield


runner = CliRunner()


def _spec(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "spec.yaml"
    p.write_text(text)
    return p


def test_sweep_runs_resumes_and_reports_failures(tmp_path):
    spec = _spec(
        tmp_path,
        "experiment: toy\ngrid:\n  width: [1, 2]\ncases:\n  - {fail: false}\n  - {fail: true}\n",
    )
    out = tmp_path / "out"
    res = runner.invoke(app, ["sweep", str(spec), "--out", str(out), "--backend", "serial"])
    assert res.exit_code == 1, res.output
    assert "4 cells: 2 ran, 0 already done, 2 failed" in res.output
    assert "toy failure at width" in res.output and "error.txt" in res.output
    assert len(pd.read_parquet(out / "table")) == 2

    dry = runner.invoke(app, ["sweep", str(spec), "--out", str(out), "--dry-run"])
    assert dry.exit_code == 0 and dry.output.count("done") == 2 and dry.output.count("failed") == 2

    report = runner.invoke(app, ["report", str(out)])
    assert report.exit_code == 0, report.output
    html = (out / "index.html").read_text()
    assert html.count('class="claim-row"') == 2 and html.count('class="failed-run-row"') == 2


def test_bad_spec_is_one_line_exit_2(tmp_path):
    spec = _spec(tmp_path, "experiment: toy\ngrid:\n  width: []\n")
    res = runner.invoke(app, ["sweep", str(spec), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "grid key 'width' has no values" in " ".join(res.output.split())
    assert not (tmp_path / "o").exists()
    res = runner.invoke(app, ["sweep", str(spec), "--backend", "mpi"])
    assert res.exit_code == 2 and "allowed: local, serial, ray" in res.output
    res = runner.invoke(app, ["sweep", str(tmp_path / "missing.yaml")])
    assert res.exit_code == 2 and "cannot read" in res.output


def test_progress_counts_are_consistent(tmp_path):
    seen = []
    spec = parse_spec({"experiment": "toy", "cases": [{"fail": True}, {}], "seeds": 2})
    run_sweep(spec, tmp_path, backend="serial", on_event=lambda ev, c: seen.append((ev.kind, c)))
    assert [k for k, _ in seen].count("start") == 4
    last = seen[-1][1]
    assert (last["done"], last["failed"], last["running"], last["total"]) == (2, 2, 0, 4)
    assert all(0 <= c["running"] <= 1 for _, c in seen)


def test_report_command_on_fake_runs(tmp_path):
    make_all(tmp_path)
    res = runner.invoke(app, ["report", str(tmp_path), "--out", str(tmp_path / "r.html")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "r.html").is_file() and list(tmp_path.glob("plotly-*.min.js"))
    assert runner.invoke(app, ["report", str(tmp_path / "nothing")]).exit_code == 2
