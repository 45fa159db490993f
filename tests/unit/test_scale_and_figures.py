"""Scales (tiny / quick / default / paper) and figures drawn from saved results (replot)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from pydantic import Field

from depthlab.config import ConfigError, ExperimentConfig, resolve_scale
from depthlab.context import RunContext
from depthlab.core import Result
from depthlab.experiments import base
from depthlab.runs import run_experiment
from depthlab.runs.figures import replot

SEEN: list[tuple[str, bool]] = []


class FigConfig(ExperimentConfig):
    n: int = Field(8, ge=1, le=1000)
    _quick_overrides = {"n": 4}
    _tiny_overrides = {"n": 2}
    _paper_overrides = {"n": 100}


class FigExperiment:
    name = "toy-figures"
    title = "figures from saved results"
    section = "other"
    order = 998
    Config = FigConfig

    def run(self, config: FigConfig, ctx: RunContext) -> Result:
        table = pd.DataFrame({"x": range(config.n), "y": [i * i for i in range(config.n)]})
        return Result(
            self.name,
            {},
            tables={"curve": table},
            metrics={"scale_n": config.n},
            meta={"ctx_scale": ctx.scale, "ctx_quick": ctx.quick},
        )

    def figures(self, result: Result, fig_dir) -> dict[str, str]:
        SEEN.append((result.experiment, result.run_dir is not None))
        frame = result.tables["curve"]
        path = fig_dir / "curve.svg"
        path.write_text(f"<svg><!-- {len(frame)} points, y max {frame['y'].max()} --></svg>")
        return {"curve": path}


@pytest.fixture(autouse=True)
def _registered():
    """Register the toy only for these tests, so registry-wide suites never see it."""
    base.register(FigExperiment)
    yield
    base._REGISTRY.pop(FigExperiment.name, None)


@pytest.mark.parametrize(
    ("scale", "n", "quick"),
    [("tiny", 2, True), ("quick", 4, True), ("default", 8, False), ("paper", 100, False)],
)
def test_scale_picks_the_overrides_and_is_recorded(tmp_path, scale, n, quick):
    res = run_experiment("toy-figures", out_dir=tmp_path / scale, scale=scale, device="cpu")
    assert res.metrics["scale_n"] == n
    assert res.meta["scale"] == scale and res.meta["ctx_scale"] == scale
    assert res.meta["ctx_quick"] is quick and res.meta["quick"] is quick


def test_scale_names_are_checked():
    assert resolve_scale(None, quick=True) == "quick"
    with pytest.raises(ConfigError, match="scale must be one of"):
        resolve_scale("huge")
    with pytest.raises(ConfigError, match="contradicts"):
        resolve_scale("paper", quick=True)
    assert FigConfig.paper().n == 100


def test_figures_are_drawn_from_the_saved_result_and_replot_redraws(tmp_path):
    SEEN.clear()
    res = run_experiment("toy-figures", out_dir=tmp_path / "run", device="cpu")
    assert SEEN == [("toy-figures", True)]  # a loaded result (it knows its run_dir)
    assert res.figures == {"curve": "figures/curve.svg"}
    svg = tmp_path / "run" / "figures" / "curve.svg"
    assert "8 points, y max 49" in svg.read_text()
    saved = json.loads((tmp_path / "run" / "result.json").read_text())
    assert saved["figures"] == {"curve": "figures/curve.svg"}
    svg.unlink()
    out = replot(tmp_path)
    assert out == {str(tmp_path / "run"): {"curve": "figures/curve.svg"}}
    assert "8 points" in svg.read_text() and len(SEEN) == 2


def test_replot_needs_runs(tmp_path):
    with pytest.raises(FileNotFoundError, match="no finished runs"):
        replot(tmp_path)
    with pytest.raises(FileNotFoundError, match="no run directory"):
        replot(tmp_path / "absent")
