"""Figure polish: 2x dpi, readable legends, wide panel rows wrapped, no figure from a degenerate
grid (a note saying why instead), and a 3-D plot with a z label and a colour bar."""

from __future__ import annotations

import struct

import numpy as np
import pandas as pd
import pytest

from depthlab.plots import landscape as pl
from depthlab.plots.common import MAX_WIDTH, new_figure, readable_legends, save_figure


def _png_info(path) -> tuple[int, int, float]:
    data = path.read_bytes()
    w, h = struct.unpack(">II", data[16:24])
    i = data.find(b"pHYs")
    ppm = struct.unpack(">I", data[i + 4 : i + 8])[0]
    return w, h, ppm * 0.0254


def test_pngs_are_saved_at_2x_dpi(tmp_path):
    fig, axes = new_figure()
    axes[0, 0].plot([0, 1], [0, 1])
    rel = save_figure(fig, tmp_path, "line")
    w, h, dpi = _png_info(tmp_path / rel)
    assert round(dpi) == 220
    assert (w, h) == (1100, 836)  # 5.0 x 3.8 inches at 220 dpi


def test_small_legends_are_raised_to_8_points():
    fig, axes = new_figure()
    axes[0, 0].plot([0, 1], label="a")
    axes[0, 0].legend(fontsize=6, title="t", title_fontsize=5)
    readable_legends(fig)
    leg = axes[0, 0].get_legend()
    assert [t.get_fontsize() for t in leg.get_texts()] == [8.0]
    assert leg.get_title().get_fontsize() == 8.0


def test_a_wide_row_of_panels_wraps_and_keeps_its_shape():
    fig, axes = new_figure(ncols=4, width=4.4)
    assert axes.shape == (1, 4)
    w, h = fig.get_size_inches()
    assert w <= MAX_WIDTH and (w, h) == pytest.approx((8.8, 7.6))  # 2 x 2 panels
    rows = sorted({round(ax.get_position().y0, 3) for ax in axes.flat})
    assert len(rows) == 2
    fig, axes = new_figure(ncols=6, nrows=2, width=2.4, height=2.4)
    assert axes.shape == (2, 6) and fig.get_size_inches()[0] == pytest.approx(MAX_WIDTH)


def _grid(n_alpha: int, n_beta: int) -> pd.DataFrame:
    rows = [
        dict(label=lab, alpha=a, beta=b, loss=a * a + b * b, ratio=abs(a * b))
        for lab in ("skip", "no skip")
        for a in np.linspace(-1, 1, n_alpha)
        for b in np.linspace(-1, 1, n_beta)
    ]
    return pd.DataFrame(rows)


@pytest.mark.parametrize(
    "plot",
    [pl.plot_contours, pl.plot_surface_3d, pl.plot_surface_plotly, pl.plot_ratio_maps],
)
def test_a_one_point_grid_gives_a_note_not_empty_panels(tmp_path, plot):
    figs = plot(_grid(1, 1), tmp_path, name="fig")
    assert figs == {"fig": "figures/fig.txt"}
    note = (tmp_path / "figures" / "fig.txt").read_text()
    assert "1 point along α and 1 along β" in note and "at least 2 × 2" in note
    assert not list((tmp_path / "figures").glob("fig.png"))
    # Two points along each axis are enough.
    assert plot(_grid(2, 3), tmp_path, name="ok")["ok"].endswith((".png", ".html"))


def test_a_one_point_path_gives_a_note(tmp_path):
    frame = pd.DataFrame({"alpha": [0.0], "loss": [1.0], "label": ["a"]})
    assert pl.plot_curves_1d(frame, tmp_path, name="c") == {"c": "figures/c.txt"}


def test_the_3d_plot_has_a_z_label_and_a_colour_bar(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(pl, "save_figure_no_tight", lambda fig, d, n: seen.append(fig) or n)
    pl.plot_surface_3d(_grid(4, 4), tmp_path)
    (fig,) = seen
    scenes = [ax for ax in fig.axes if ax.name == "3d"]
    assert len(scenes) == 2 and all(ax.get_zlabel() == "loss" for ax in scenes)
    bars = [ax for ax in fig.axes if ax.name != "3d"]
    assert len(bars) == 1 and bars[0].get_ylabel() == "loss (shared scale)"
    lo, hi = bars[0].get_ylim()
    assert lo == pytest.approx(2 / 9) and hi > 1.0  # the smallest loss on the grid, (1/3)² * 2


def test_the_interactive_scenes_fill_their_frame_without_clipping(tmp_path):
    import json

    rel = pl.plot_surface_plotly(_grid(3, 3).assign(label="a"), tmp_path)[
        "landscape_3d_interactive"
    ]
    fig = json.loads((tmp_path / rel).with_suffix(".json").read_text())
    layout = fig["layout"]
    assert "width" not in layout and layout["autosize"] is True
    eye = layout["scene"]["camera"]["eye"]
    assert layout["scene"]["aspectmode"] == "cube"
    # plotly's default eye (1.25, 1.25, 1.25) is 2.17 away and clips the cube in a small scene
    assert np.linalg.norm([eye["x"], eye["y"], eye["z"]]) > 2.3
    assert layout["scene"]["zaxis"]["title"]["text"] == "loss"


def test_minor_log_labels_never_crowd():
    from matplotlib.ticker import NullFormatter

    from depthlab.plots.common import tidy_log_ticks

    fig, axes = new_figure(ncols=3)
    axes[0, 0].loglog([2, 80], [1, 1e-3])  # x: one decade label (10) in 1.8 decades
    axes[0, 1].semilogx([2, 3], [1, 2])  # less than a decade: minor labels are the only ones
    tidy_log_ticks(fig)
    fig.canvas.draw()
    minor = [t.get_text() for t in axes[0, 0].xaxis.get_minorticklabels() if t.get_text()]
    # every minor label left is a 2 or a 5 (2×10⁰, 5×10⁰, 2×10¹, 5×10¹)
    assert minor == [rf"$\mathdefault{{{m}\times10^{{{e}}}}}$" for e in (0, 1) for m in (2, 5)]
    assert isinstance(axes[0, 0].yaxis.get_minor_formatter(), NullFormatter)  # 3 decades
    assert not isinstance(axes[0, 1].xaxis.get_minor_formatter(), NullFormatter)
