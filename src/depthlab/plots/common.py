"""Shared figure helpers: a headless backend, one house style, and atomic saving."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from depthlab.atomic import atomic_write_bytes, atomic_write_text

VERDICT_COLORS = {"holds": "#2e7d32", "fails": "#c62828", "inconclusive": "#ef6c00"}


MAX_WIDTH = 12.0  # inches: at the report's 100 px per inch, a figure fits the page unscaled
MIN_LEGEND_PT = 8.0  # legends never drawn smaller than this (readable at the page's width)
DPI = 220  # 2x: sharp on high-density screens; the report shows 100 CSS px per inch


def new_figure(ncols: int = 1, nrows: int = 1, width: float = 5.0, height: float = 3.8, **kw):
    """A figure with ``nrows x ncols`` axes and the house style.

    The returned array always has shape ``(nrows, ncols)``. A single row of panels much wider
    than :data:`MAX_WIDTH` is wrapped onto several rows (the array keeps its shape, the panels
    keep their size); any other grid wider than that is scaled down as a whole. So a figure shown at
    the report's width keeps its text and legends readable.
    """
    if nrows == 1 and ncols >= 3 and ncols * width > 1.15 * MAX_WIDTH:
        per_row = max(1, int(MAX_WIDTH // width))
        rows = -(-ncols // per_row)
        per_row = -(-ncols // rows)
        fig, grid = plt.subplots(
            rows, per_row, figsize=(width * per_row, height * rows), squeeze=False, **kw
        )
        for ax in grid.flat[ncols:]:
            ax.set_visible(False)
        axes = np.array(list(grid.flat[:ncols]), dtype=object).reshape(1, ncols)
    else:
        shrink = min(1.0, MAX_WIDTH / (width * ncols))
        fig, axes = plt.subplots(
            nrows,
            ncols,
            figsize=(width * ncols * shrink, height * nrows * shrink),
            squeeze=False,
            **kw,
        )
    for ax in axes.flat:
        ax.grid(True, which="both", alpha=0.25)
    return fig, axes


def readable_legends(fig, min_pt: float = MIN_LEGEND_PT) -> None:
    """Raise every legend's text (axes and figure legends) to at least ``min_pt`` points."""
    legends = [ax.get_legend() for ax in fig.axes] + list(getattr(fig, "legends", []))
    for leg in legends:
        if leg is None:
            continue
        for text in leg.get_texts():
            if text.get_fontsize() < min_pt:
                text.set_fontsize(min_pt)
        title = leg.get_title()
        if title.get_text() and title.get_fontsize() < min_pt:
            title.set_fontsize(min_pt)


def _two_and_five(value: float, _pos=None) -> str:
    """Minor log tick label for 2×10ᵏ and 5×10ᵏ only."""
    if value <= 0:
        return ""
    exp = int(np.floor(np.log10(value) + 1e-9))
    mant = round(value / 10.0**exp, 6)
    return rf"$\mathdefault{{{mant:g}\times10^{{{exp}}}}}$" if mant in (2.0, 5.0) else ""


def tidy_log_ticks(fig) -> None:
    """Keep minor tick labels on log axes from crowding: with two or more labelled decades in
    view they are dropped; with one decade label and more than a decade of range, only 2×10ᵏ
    and 5×10ᵏ are labelled (matplotlib would label every minor tick, ``2×10⁰ 3×10⁰ 4×10⁰ …``)."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    for ax in fig.axes:
        for axis, lim in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
            if axis.get_scale() != "log":
                continue
            lo, hi = sorted(lim)
            majors = [t for t in axis.get_majorticklocs() if lo <= t <= hi]
            if len(majors) >= 2:
                axis.set_minor_formatter(NullFormatter())
            elif len(majors) == 1 and lo > 0 and hi / lo > 10:
                axis.set_minor_formatter(FuncFormatter(_two_and_five))


def save_figure(fig, run_dir: str | Path, name: str, dpi: int = DPI, tight: bool = True) -> str:
    """Save ``fig`` as ``figures/NAME.png`` under ``run_dir`` at 2x dpi; return the relative path.

    Legends are raised to :data:`MIN_LEGEND_PT` and crowded minor log labels dropped first
    (:func:`tidy_log_ticks`). ``tight=False`` keeps the figure's own
    layout (for panel grids with a shared colour bar).
    """
    buf = io.BytesIO()
    readable_legends(fig)
    tidy_log_ticks(fig)
    if tight:
        fig.tight_layout()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    rel = f"figures/{name}.png"
    atomic_write_bytes(Path(run_dir) / rel, buf.getvalue())
    return rel


def save_note(run_dir: str | Path, name: str, reason: str) -> str:
    """Record that figure ``name`` was not drawn, and why, as ``figures/NAME.txt``; return the
    relative path. The report shows the reason where the figure would be (used, for example,
    instead of drawing empty panels from a degenerate grid)."""
    rel = f"figures/{name}.txt"
    atomic_write_text(Path(run_dir) / rel, reason.strip() + "\n")
    return rel


def save_plotly(fig, run_dir: str | Path, name: str) -> str:
    """Save a plotly figure as ``figures/NAME.html`` (a div; the report inlines plotly.js once).

    The figure's JSON goes beside it as ``figures/NAME.json``; the report draws from that, so no
    markup from a run directory is ever inlined.
    """
    rel = f"figures/{name}.html"
    atomic_write_text(Path(run_dir) / f"figures/{name}.json", fig.to_json())
    atomic_write_text(Path(run_dir) / rel, fig.to_html(full_html=False, include_plotlyjs=False))
    return rel
