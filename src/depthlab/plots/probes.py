"""One-line figures of probe results for notebooks: ``plot(result)`` returns a matplotlib Figure.

Every function takes a probe result (anything with ``to_frame()``) or its frame, draws with the
house style (:func:`depthlab.plots.common.new_figure`) and returns the ``Figure``; pass
``path="fig.png"`` to also save it (PNG/PDF/SVG by suffix, at the 2x DPI). Nothing is recomputed.

>>> from depthlab.plots.probes import plot
>>> plot(trajectory.length(net, curve))          # doctest: +SKIP
>>> plot(regions.count_2d(net, three), path="regions.png")   # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from depthlab.plots.common import DPI, new_figure


def as_frame(obj: Any) -> pd.DataFrame:
    """A probe result's ``to_frame()``, or ``obj`` itself if it is already a DataFrame."""
    if isinstance(obj, pd.DataFrame):
        return obj
    if hasattr(obj, "to_frame"):
        return obj.to_frame()
    raise TypeError(f"expected a probe result with to_frame() or a DataFrame, got {type(obj)}")


def _finish(fig, path: str | Path | None):
    fig.tight_layout()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=DPI, bbox_inches="tight")  # DPI is already 2x
    return fig


def plot_trajectory(result: Any, path: str | Path | None = None):
    """Length (log scale) per layer, one line per curve; curvature beside it when measured."""
    df = as_frame(result)
    has_k = "curvature" in df and df["curvature"].notna().any()
    fig, axes = new_figure(ncols=2 if has_k else 1)
    order = list(dict.fromkeys(df["layer"]))
    for curve, g in df.groupby("curve", sort=True):
        x = [order.index(v) for v in g["layer"]]
        axes[0, 0].plot(x, g["length"], marker="o", label=f"curve {curve}")
        if has_k:
            axes[0, 1].plot(x, g["curvature"], marker="o")
    axes[0, 0].set(yscale="log", xlabel="layer", ylabel="length", title="trajectory length")
    if has_k:
        axes[0, 1].set(xlabel="layer", ylabel="mean curvature", title="curvature")
    for ax in axes.ravel():
        ax.set_xticks(range(len(order)), order, rotation=45, ha="right")
    if df["curve"].nunique() <= 8:
        axes[0, 0].legend()
    return _finish(fig, path)


def plot_moments(result: Any, path: str | Path | None = None):
    """E[M_j]/M_0 and E[M_j^2]/M_0^2 per layer, with standard errors."""
    df = as_frame(result)
    fig, axes = new_figure()
    ax = axes[0, 0]
    ax.errorbar(df["layer"], df["mean_m"], yerr=df["mean_m_se"], marker="o", label="E[M_j]/M_0")
    ax.errorbar(
        df["layer"], df["second_m"], yerr=df["second_m_se"], marker="s", label="E[M_j²]/M_0²"
    )
    ax.set(xlabel="layer j", ylabel="ratio to layer 0", yscale="log", title="signal moments")
    ax.legend()
    return _finish(fig, path)


def plot_regions_2d(result: Any, path: str | Path | None = None):
    """The regions of a 2-D slice as coloured polygons (a frame gives region centres only)."""
    fig, axes = new_figure(width=4.6, height=4.4)
    ax = axes[0, 0]
    polys = getattr(result, "polygons", None)
    if polys is not None:
        from matplotlib.collections import PolyCollection

        rng = np.random.default_rng(0)  # colours only
        coll = PolyCollection(
            [np.asarray(p) for p in polys], facecolors=rng.random((len(polys), 3)), linewidths=0.3
        )
        coll.set_edgecolor("k")
        ax.add_collection(coll)
        ax.autoscale_view()
    else:
        df = as_frame(result)
        ax.scatter(df["u"], df["v"], s=4)
    ax.set(xlabel="u", ylabel="v", title=f"{len(as_frame(result))} linear regions")
    ax.set_aspect("equal")
    return _finish(fig, path)


def plot_surface(result: Any, path: str | Path | None = None, value: str = "loss"):
    """A 1-D loss curve or a 2-D contour map of ``value`` (``loss`` or ``acc``)."""
    df = as_frame(result)
    fig, axes = new_figure()
    ax = axes[0, 0]
    if "beta" not in df or df["beta"].nunique() <= 1:
        ax.plot(df["alpha"], df[value], marker=".")
        ax.set(xlabel="α", ylabel=value, title=f"{value} along the direction")
    else:
        grid = df.pivot_table(index="beta", columns="alpha", values=value)
        if min(grid.shape) < 2:
            ax.text(0.5, 0.5, "grid too small to contour", ha="center", transform=ax.transAxes)
        else:
            cs = ax.contourf(grid.columns, grid.index, grid.to_numpy(), levels=20)
            fig.colorbar(cs, ax=ax, label=value)
        ax.set(xlabel="α", ylabel="β", title=f"{value} surface")
    return _finish(fig, path)


def plot_history(result: Any, path: str | Path | None = None):
    """Training curves: train and test loss per epoch (and test accuracy if recorded)."""
    df = as_frame(result)
    has_acc = "test_acc" in df and df["test_acc"].notna().any()
    fig, axes = new_figure(ncols=2 if has_acc else 1)
    for col in ("train_loss", "test_loss"):
        if col in df:
            axes[0, 0].plot(df["epoch"], df[col], marker=".", label=col)
    axes[0, 0].set(xlabel="epoch", ylabel="loss", title="training")
    axes[0, 0].legend()
    if has_acc:
        axes[0, 1].plot(df["epoch"], df["test_acc"], marker=".")
        axes[0, 1].set(xlabel="epoch", ylabel="test accuracy")
    return _finish(fig, path)


def plot_frame(result: Any, path: str | Path | None = None):
    """Fallback: every numeric column of the frame against its row number."""
    df = as_frame(result).select_dtypes("number")
    fig, axes = new_figure()
    for col in list(df.columns)[:6]:
        axes[0, 0].plot(np.arange(len(df)), df[col], marker=".", label=col)
    axes[0, 0].set(xlabel="row")
    axes[0, 0].legend()
    return _finish(fig, path)


def plot(result: Any, path: str | Path | None = None):
    """The natural figure of a probe result (or its frame), chosen by what the frame holds."""
    df = as_frame(result)
    cols = set(df.columns)
    if {"curve", "layer", "length"} <= cols:
        return plot_trajectory(result, path)
    if {"mean_m", "second_m"} <= cols:
        return plot_moments(result, path)
    if {"region", "area", "u", "v"} <= cols:
        return plot_regions_2d(result, path)
    if {"alpha", "loss"} <= cols:
        return plot_surface(result, path)
    if {"epoch", "train_loss"} <= cols:
        return plot_history(result, path)
    return plot_frame(result, path)
