"""Shared figure helpers: a headless backend, one house style, and atomic saving."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from depthlab.atomic import atomic_write_bytes, atomic_write_text

VERDICT_COLORS = {"holds": "#2e7d32", "fails": "#c62828", "inconclusive": "#ef6c00"}


def new_figure(ncols: int = 1, nrows: int = 1, width: float = 5.0, height: float = 3.8, **kw):
    """A figure with ``nrows x ncols`` axes and the house style."""
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False, **kw
    )
    for ax in axes.flat:
        ax.grid(True, which="both", alpha=0.25)
    return fig, axes


def save_figure(fig, run_dir: str | Path, name: str, dpi: int = 110) -> str:
    """Save ``fig`` as ``figures/NAME.png`` under ``run_dir``; return the relative path."""
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    rel = f"figures/{name}.png"
    atomic_write_bytes(Path(run_dir) / rel, buf.getvalue())
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
