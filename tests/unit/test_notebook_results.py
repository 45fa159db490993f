"""Notebook-friendly probe results (issue 17 item 5): _repr_html_ on every result, and
depthlab.plots.plot(result or frame) -> a matplotlib Figure, saved only when path= is given."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

from depthlab import TrainConfig, data, fit, landscape, nets, plots, regions, trajectory
from depthlab.probes._display import MAX_ROWS, FrameRepr
from depthlab.signal import mlp_family, moments


def _gen(i: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(i)


@pytest.fixture(scope="module")
def results():
    net = nets.mlp([4, 16, 16, 2], activation="tanh")
    u0, u1 = torch.randn(2, 4, generator=_gen())
    x = torch.randn(32, 4, generator=_gen(1))
    y = torch.randint(0, 2, (32,), generator=_gen(2))
    dirs = (landscape.random_direction(net, seed=0), landscape.random_direction(net, seed=1))
    ds = data.mnist1d()
    return {
        "trajectory": trajectory.length(net, trajectory.great_circle(u0, u1), curvature=True),
        "moments": moments(mlp_family([8, 8, 8, 8]), 200, seed=0),
        "regions_2d": regions.count_2d(nets.mlp([2, 8, 8, 1])),
        "surface": landscape.surface(
            net, F.cross_entropy, (x, y), dirs, landscape.Grid.plane(-1, 1, 4)
        ),
        "history": fit(nets.mlp([40, 8, 10]), ds, TrainConfig(epochs=2)),
        "regions_1d": regions.count_1d(nets.mlp([4, 16, 16, 2]), u0, u1),
    }


@pytest.mark.parametrize(
    "name", ["trajectory", "moments", "regions_2d", "surface", "history", "regions_1d"]
)
def test_every_result_has_frame_short_repr_and_html(results, name):
    r = results[name]
    assert isinstance(r, FrameRepr)
    frame = r.to_frame()
    assert isinstance(frame, pd.DataFrame) and len(frame) > 0
    assert "\n" not in repr(r) and len(repr(r)) < 300
    html = r._repr_html_()
    assert html.startswith("<div") and "<table" in html
    assert html.count("<tr>") <= MAX_ROWS + 1  # header + at most MAX_ROWS rows
    if len(frame) > MAX_ROWS:
        assert f"of {len(frame)} rows" in html


@pytest.mark.parametrize("name", ["trajectory", "moments", "regions_2d", "surface", "history"])
def test_plot_returns_a_figure_from_a_result_or_its_frame(results, name, tmp_path):
    r = results[name]
    fig = plots.plot(r)
    assert isinstance(fig, Figure) and fig.axes
    assert list(tmp_path.iterdir()) == []  # nothing saved without path=
    fig2 = plots.plot(r.to_frame(), path=tmp_path / f"{name}.png")
    assert isinstance(fig2, Figure)
    assert (tmp_path / f"{name}.png").stat().st_size > 1000


def test_regions_figure_draws_every_polygon(results):
    r = results["regions_2d"]
    fig = plots.plot_regions_2d(r)
    (coll,) = fig.axes[0].collections
    assert len(coll.get_paths()) == r.n_regions


def test_plot_rejects_what_is_not_a_result():
    with pytest.raises(TypeError, match="to_frame"):
        plots.plot(42)
