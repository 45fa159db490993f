"""Figures for the linear-region experiments (from saved tables only; nothing is recomputed)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from depthlab.plots.common import new_figure, save_figure


def _hash_colors(hashes: np.ndarray) -> np.ndarray:
    """A stable colour per pattern hash: the same pattern has the same colour in every figure."""
    h = np.asarray(hashes, dtype=np.int64)
    hue = (h % 997) / 997.0
    sat = 0.35 + 0.45 * ((h // 997) % 7) / 6.0
    val = 0.70 + 0.28 * ((h // 6979) % 5) / 4.0
    import matplotlib.colors as mcolors

    return mcolors.hsv_to_rgb(np.stack([hue, sat, val], axis=1))


def draw_region_map(
    ax,
    polygons: pd.DataFrame,
    grid: pd.DataFrame | None = None,
    points: pd.DataFrame | None = None,
    title: str = "",
) -> None:
    """Fill each region (rows ``region, k, u, v, pattern_hash``) with its pattern's colour.

    ``grid`` (``u, v, label``) draws the decision boundary as a contour; ``points`` (``u, v``)
    marks data points.
    """
    from matplotlib.collections import PolyCollection

    order = np.lexsort((polygons["k"].to_numpy(), polygons["region"].to_numpy()))
    reg = polygons["region"].to_numpy()[order]
    uv = np.stack([polygons["u"].to_numpy()[order], polygons["v"].to_numpy()[order]], 1)
    starts = np.flatnonzero(np.r_[True, reg[1:] != reg[:-1]])
    polys = np.split(uv, starts[1:])
    hashes = polygons["pattern_hash"].to_numpy()[order][starts]
    coll = PolyCollection(polys, facecolors=_hash_colors(hashes), edgecolors="k", linewidths=0.15)
    ax.add_collection(coll)
    ax.set_xlim(polygons["u"].min(), polygons["u"].max())
    ax.set_ylim(polygons["v"].min(), polygons["v"].max())
    ax.set_aspect("equal")
    ax.grid(False)
    if grid is not None and len(grid):
        us, vs = np.sort(grid["u"].unique()), np.sort(grid["v"].unique())
        lab = grid.pivot(index="v", columns="u", values="label").loc[vs, us].to_numpy()
        levels = np.arange(lab.min(), lab.max() + 2) - 0.5
        ax.contour(us, vs, lab, levels=levels, colors="white", linewidths=1.2)
    if points is not None and len(points):
        ax.plot(points["u"], points["v"], "o", ms=6, mfc="white", mec="k")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("u")
    ax.set_ylabel("v")


def plot_region_maps(
    polygons: pd.DataFrame,
    counts: pd.DataFrame,
    run_dir,
    grid: pd.DataFrame | None = None,
    points: pd.DataFrame | None = None,
    name: str = "region_maps",
) -> dict[str, str]:
    """One panel per ``map`` in ``polygons`` (titled with its count from ``counts``)."""
    maps = list(dict.fromkeys(polygons["map"]))
    ncols = min(2, len(maps))
    nrows = int(np.ceil(len(maps) / ncols))
    fig, axes = new_figure(ncols=ncols, nrows=nrows, width=4.6, height=4.4)
    for ax, m in zip(axes.flat, maps, strict=False):
        n = int(counts.loc[counts["map"] == m, "n_regions"].iloc[0])
        draw_region_map(
            ax,
            polygons[polygons["map"] == m],
            None if grid is None else grid[grid["map"] == m],
            points,
            f"{m}: {n} regions",
        )
    for ax in list(axes.flat)[len(maps) :]:
        ax.set_visible(False)
    return {name: save_figure(fig, run_dir, name)}


def plot_breakpoints_1d(
    curve: pd.DataFrame, breaks: pd.DataFrame, run_dir, name: str = "breakpoints_1d", title=""
) -> dict[str, str]:
    """Output along a segment (``curve``: ``series, t, y``) with exact breakpoints as ticks
    (``breaks``: ``series, t``), one row per series."""
    series = list(dict.fromkeys(breaks["series"]))
    fig, axes = new_figure(nrows=len(series), width=8.0, height=1.9)
    for ax, s in zip(axes[:, 0], series, strict=True):
        c = curve[curve["series"] == s]
        if len(c):
            ax.plot(c["t"], c["y"], lw=0.8)
        else:
            ax.set_yticks([])
        b = breaks[breaks["series"] == s]["t"].to_numpy()
        ax.vlines(b, 0, 1, transform=ax.get_xaxis_transform(), colors="C3", lw=0.4, alpha=0.7)
        ax.set_ylabel(str(s), fontsize=8)
        ax.set_xlim(0, 1)
        ax.text(0.995, 0.9, f"{len(b) + 1} pieces", transform=ax.transAxes, ha="right", fontsize=8)
    axes[-1, 0].set_xlabel("t along the segment")
    if title:
        axes[0, 0].set_title(title, fontsize=9)
    return {name: save_figure(fig, run_dir, name)}


def plot_vs_units(
    df: pd.DataFrame,
    y: str,
    ylabel: str,
    run_dir,
    name: str,
    ref_exponent: float | None = None,
    title: str = "",
) -> dict[str, str]:
    """``y`` against total units N, one line per depth (log-log), with an optional N^p guide."""
    fig, axes = new_figure()
    ax = axes[0, 0]
    for depth, g in df.groupby("depth"):
        m = g.groupby("N")[y].mean().sort_index()
        ax.loglog(m.index, m.values, "o-", ms=4, label=f"depth {depth}")
    if ref_exponent is not None and len(df):
        n = np.sort(df["N"].unique()).astype(float)
        y0 = df.groupby("N")[y].mean().sort_index().to_numpy()
        ax.loglog(n, y0[-1] * (n / n[-1]) ** ref_exponent, "k--", lw=1, label=f"N^{ref_exponent:g}")
    ax.set_xlabel("total hidden units N")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return {name: save_figure(fig, run_dir, name)}


def plot_training_density(df: pd.DataFrame, run_dir, name: str = "density_training") -> dict:
    """Regions per unit length along fixed data lines against epoch, with test accuracy."""
    fig, axes = new_figure()
    ax = axes[0, 0]
    ax.plot(df["epoch"], df["density"], "o-", label="regions per unit length")
    ax.fill_between(df["epoch"], df["density_q25"], df["density_q75"], alpha=0.2)
    ax.set_xlabel("epoch")
    ax.set_ylabel("regions / unit length")
    ax2 = ax.twinx()
    ax2.plot(df["epoch"], df["test_acc"], "s--", color="C1", ms=3, label="test accuracy")
    ax2.set_ylabel("test accuracy")
    ax.set_title("density along lines between data points, during training", fontsize=9)
    ax.legend(loc="upper left", fontsize=7)
    ax2.legend(loc="lower right", fontsize=7)
    return {name: save_figure(fig, run_dir, name)}


def plot_sawtooth_widths(needed: pd.DataFrame, run_dir, name: str = "sawtooth_width") -> dict:
    """Shallow width needed (and exact pieces of the trained net) against folds k."""
    fig, axes = new_figure()
    ax = axes[0, 0]
    got = needed.dropna(subset=["width_needed"])
    ax.semilogy(got["k"], got["width_needed"], "o-", label="shallow width needed")
    ax.semilogy(got["k"], got["pieces_trained"], "s-", label="exact pieces of that net")
    ks = needed["k"].to_numpy(float)
    ax.semilogy(ks, 2.0**ks, "k--", lw=1, label="2^k (pieces of the target)")
    ax.semilogy(ks, 2 * ks, "k:", lw=1, label="2k (units of the deep construction)")
    ax.set_xlabel("sawtooth folds k")
    ax.set_ylabel("count")
    ax.legend(fontsize=7)
    ax.set_title("depth separation on the sawtooth", fontsize=9)
    return {name: save_figure(fig, run_dir, name)}
