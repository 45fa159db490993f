"""Figures for loss landscapes, from tidy tables only (never recomputed here).

Tables have one row per grid point: a panel column (``label`` by default), ``alpha``, ``beta``
(NaN for 1-D), ``loss`` and optionally ``acc``; curvature tables have ``ratio``
(``|λ_min/λ_max|``). Panels side by side share one colour scale, so surfaces compare by eye.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from depthlab.plots.common import new_figure, save_figure, save_note, save_plotly


def _panels(frame: pd.DataFrame, by: str) -> list[tuple[str, pd.DataFrame]]:
    if by not in frame.columns:
        return [("", frame)]
    return [(str(k), g) for k, g in frame.groupby(by, sort=False)]


def _mesh(g: pd.DataFrame, value: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``A, B, Z`` with ``Z[j, i]`` at ``(alpha_i, beta_j)`` (rows are β, as matplotlib wants)."""
    piv = g.pivot_table(index="beta", columns="alpha", values=value, aggfunc="mean")
    a, b = np.meshgrid(piv.columns.to_numpy(float), piv.index.to_numpy(float))
    return a, b, piv.to_numpy(float)


def degenerate_grid(frame: pd.DataFrame, by: str = "label", need_beta: bool = True) -> str | None:
    """Why ``frame`` cannot make a surface or map (fewer than 2 distinct α, or β, in a panel),
    or ``None`` when every panel has a real grid."""
    if frame.empty:
        return "The table is empty."
    for label, g in _panels(frame, by):
        na = g["alpha"].nunique() if "alpha" in g else 0
        nb = g["beta"].nunique() if need_beta and "beta" in g else (2 if not need_beta else 0)
        if na < 2 or nb < 2:
            where = f" in panel {label!r}" if label else ""
            return (
                f"The grid has {na} point{'s' if na != 1 else ''} along α and {nb} along β"
                f"{where}; a surface or map needs at least 2 × 2 points (raise the resolution)."
            )
    return None


def _skipped(run_dir: str | Path, name: str, frame: pd.DataFrame, by: str, need_beta=True):
    reason = degenerate_grid(frame, by, need_beta)
    return None if reason is None else {name: save_note(run_dir, name, reason)}


def _shared_range(frame: pd.DataFrame, value: str, vmax: float | None) -> tuple[float, float]:
    v = frame[value].to_numpy(float)
    v = v[np.isfinite(v)]
    lo = float(v.min()) if len(v) else 0.0
    hi = float(vmax) if vmax is not None else float(np.quantile(v, 0.95)) if len(v) else 1.0
    return lo, hi if hi > lo else lo + 1.0


def plot_curves_1d(
    frame: pd.DataFrame,
    run_dir: str | Path,
    name: str = "landscape_1d",
    by: str = "label",
    x: str = "alpha",
    xlabel: str = "α",
) -> dict[str, str]:
    """Loss (log scale) and, when present, accuracy along a 1-D path, one line per panel value."""
    if frame.empty or frame[x].nunique() < 2:
        n = 0 if frame.empty else frame[x].nunique()
        return {name: save_note(run_dir, name, f"The path has {n} point(s); a curve needs 2.")}
    has_acc = "acc" in frame.columns and frame["acc"].notna().any()
    fig, axes = new_figure(ncols=2 if has_acc else 1)
    for label, g in _panels(frame, by):
        g = g.sort_values(x)
        axes[0, 0].plot(g[x], g["loss"], label=label or None)
        if has_acc:
            axes[0, 1].plot(g[x], 100 * g["acc"], label=label or None)
    axes[0, 0].set(xlabel=xlabel, ylabel="loss", yscale="log", title="loss along the path")
    if has_acc:
        axes[0, 1].set(xlabel=xlabel, ylabel="accuracy (%)", title="accuracy along the path")
    if by in frame.columns:
        axes[0, 0].legend(fontsize=7)
    return {name: save_figure(fig, run_dir, name)}


def plot_contours(
    frame: pd.DataFrame,
    run_dir: str | Path,
    name: str = "landscape_contours",
    by: str = "label",
    value: str = "loss",
    filled: bool = True,
    vmax: float | None = None,
    levels: int = 25,
    ncols: int | None = None,
) -> dict[str, str]:
    """Side-by-side (filled) contour panels with one shared set of levels and colour bar."""
    if skipped := _skipped(run_dir, name, frame, by):
        return skipped
    panels = _panels(frame, by)
    lo, hi = _shared_range(frame, value, vmax)
    lv = np.linspace(lo, hi, levels)
    ncols = ncols or min(len(panels), 3)
    nrows = -(-len(panels) // ncols)
    fig, axes = new_figure(ncols=ncols, nrows=nrows, width=3.4, height=3.1)
    cs = None
    for ax, (label, g) in zip(axes.flat, panels, strict=False):
        a, b, z = _mesh(g, value)
        z = np.clip(z, lo, hi)
        if filled:
            cs = ax.contourf(a, b, z, levels=lv, cmap="viridis", extend="max")
        else:
            cs = ax.contour(a, b, z, levels=lv, cmap="viridis")
            ax.clabel(cs, cs.levels[::4], fontsize=6)
        ax.plot([0], [0], "r+", ms=8)
        ax.set(title=label, xlabel="α", ylabel="β", aspect="equal")
        ax.grid(False)
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    if cs is not None:
        fig.colorbar(cs, cax=_colorbar_axes(fig), label=f"{value} (shared scale)")
    return {name: save_figure_no_tight(fig, run_dir, name)}


def _colorbar_axes(fig):
    """Leave room on the right of a panel grid and return an axes for one shared colour bar."""
    fig.subplots_adjust(left=0.1, right=0.86, bottom=0.1, top=0.92, wspace=0.4, hspace=0.45)
    return fig.add_axes((0.89, 0.15, 0.015, 0.7))


def save_figure_no_tight(fig, run_dir: str | Path, name: str) -> str:
    """Save like :func:`save_figure` (2x dpi, readable legends) but keep the figure's own layout."""
    return save_figure(fig, run_dir, name, tight=False)


def plot_surface_3d(
    frame: pd.DataFrame,
    run_dir: str | Path,
    name: str = "landscape_3d",
    by: str = "label",
    value: str = "loss",
    vmax: float | None = None,
    ncols: int | None = None,
) -> dict[str, str]:
    """Static matplotlib 3-D surfaces, side by side, with a shared z range and colour scale
    (z axis labelled, one colour bar for all panels)."""
    import matplotlib.pyplot as plt
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    if skipped := _skipped(run_dir, name, frame, by):
        return skipped
    panels = _panels(frame, by)
    lo, hi = _shared_range(frame, value, vmax)
    ncols = ncols or min(len(panels), 3)
    nrows = -(-len(panels) // ncols)
    fig = plt.figure(figsize=(3.8 * ncols + 0.8, 3.4 * nrows))
    fig.subplots_adjust(left=0.02, right=0.88, bottom=0.05, top=0.92, wspace=0.15, hspace=0.15)
    for i, (label, g) in enumerate(panels):
        ax = fig.add_subplot(nrows, ncols, i + 1, projection="3d")
        a, b, z = _mesh(g, value)
        ax.plot_surface(
            a,
            b,
            np.clip(z, lo, hi),
            cmap="viridis",
            vmin=lo,
            vmax=hi,
            linewidth=0,
            antialiased=True,
        )
        ax.set(title=label, xlabel="α", ylabel="β", zlim=(lo, hi))
        ax.set_zlabel(value, labelpad=10)
    cax = fig.add_axes((0.91, 0.15, 0.015, 0.7))
    fig.colorbar(
        ScalarMappable(norm=Normalize(lo, hi), cmap="viridis"),
        cax=cax,
        label=f"{value} (shared scale)",
    )
    return {name: save_figure_no_tight(fig, run_dir, name)}


def plot_surface_plotly(
    frame: pd.DataFrame,
    run_dir: str | Path,
    name: str = "landscape_3d_interactive",
    by: str = "label",
    value: str = "loss",
    vmax: float | None = None,
) -> dict[str, str]:
    """Interactive plotly 3-D surfaces (one scene per panel, shared colour scale) as HTML.

    The figure has no fixed width (it fills its frame) and its scenes keep a margin for the
    axis titles, so they are not clipped."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    if skipped := _skipped(run_dir, name, frame, by):
        return skipped
    panels = _panels(frame, by)
    lo, hi = _shared_range(frame, value, vmax)
    ncols = 2 if len(panels) == 4 else min(len(panels), 3)
    nrows = -(-len(panels) // ncols)
    fig = make_subplots(
        rows=nrows,
        cols=ncols,
        specs=[[{"type": "surface"}] * ncols for _ in range(nrows)],
        subplot_titles=[lab for lab, _ in panels],
    )
    for i, (_label, g) in enumerate(panels):
        a, b, z = _mesh(g, value)
        fig.add_trace(
            go.Surface(
                x=a,
                y=b,
                z=np.clip(z, lo, hi),
                cmin=lo,
                cmax=hi,
                colorscale="Viridis",
                showscale=i == 0,
                colorbar={"title": value},
            ),
            row=i // ncols + 1,
            col=i % ncols + 1,
        )
    fig.update_layout(
        height=420 * nrows, autosize=True, margin={"l": 10, "r": 10, "t": 40, "b": 10}
    )
    fig.update_scenes(
        zaxis_range=[lo, hi],
        xaxis_title="α",
        yaxis_title="β",
        zaxis_title=value,
        aspectmode="cube",
        camera_eye={"x": 1.5, "y": 1.5, "z": 1.1},  # the whole cube inside its frame
    )
    return {name: save_plotly(fig, run_dir, name)}


def plot_ratio_maps(
    frame: pd.DataFrame,
    run_dir: str | Path,
    name: str = "landscape_curvature",
    by: str = "label",
) -> dict[str, str]:
    """``|λ_min/λ_max|`` heat maps (Li et al. 2018, Fig. 7), shared colour scale 0 … max."""
    if skipped := _skipped(run_dir, name, frame, by):
        return skipped
    panels = _panels(frame, by)
    hi = max(float(frame["ratio"].max()), 1e-6)
    ncols = min(len(panels), 3)
    nrows = -(-len(panels) // ncols)
    fig, axes = new_figure(ncols=ncols, nrows=nrows, width=3.4, height=3.1)
    im = None
    for ax, (label, g) in zip(axes.flat, panels, strict=False):
        a, b, z = _mesh(g, "ratio")
        im = ax.pcolormesh(a, b, z, vmin=0, vmax=hi, cmap="magma", shading="nearest")
        ax.set(title=label, xlabel="α", ylabel="β", aspect="equal")
        ax.grid(False)
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    if im is not None:
        fig.colorbar(im, cax=_colorbar_axes(fig), label="|λmin/λmax|")
    return {name: save_figure_no_tight(fig, run_dir, name)}


def plot_accuracy_vs_depth(
    nets: pd.DataFrame, run_dir: str | Path, name: str = "landscape_accuracy"
) -> dict[str, str]:
    """Test accuracy and the (basin) non-convexity score against depth, with and without skips."""
    fig, axes = new_figure(ncols=2)
    for skip, g in nets.groupby("skip"):
        g = g.sort_values("depth")
        lab = "skip" if skip else "no skip"
        axes[0, 0].plot(g["depth"], 100 * g["test_acc"], "o-", label=lab)
        axes[0, 1].plot(g["depth"], g["nonconvexity"], "o-", label=lab)
    axes[0, 0].set(xlabel="depth (weight layers)", ylabel="test accuracy (%)")
    axes[0, 1].set(
        xlabel="depth (weight layers)", ylabel="basin non-convexity (loss ≤ ln 10)", ylim=(-0.02, 1)
    )
    axes[0, 0].legend()
    return {name: save_figure(fig, run_dir, name)}


def plot_landscape_skip(
    nets: pd.DataFrame, surfaces: pd.DataFrame, curvature: pd.DataFrame, run_dir: str | Path
) -> dict[str, str]:
    """All figures of ``landscape-skip``: one row with skips, one without, columns by depth.

    Loss colours are clipped at 10, as in Li et al.'s contour plots, so the basins show.
    """
    order = lambda f: f.sort_values(["skip", "depth"], ascending=[False, True], kind="stable")  # noqa: E731
    ncols = nets["depth"].nunique()
    s, c = order(surfaces), order(curvature)
    figs: dict[str, str] = {}
    vmax = min(10.0, float(s["loss"].max()))
    figs |= plot_contours(s, run_dir, "landscape_skip_contours", ncols=ncols, vmax=vmax)
    figs |= plot_surface_3d(s, run_dir, "landscape_skip_3d", ncols=ncols, vmax=vmax)
    figs |= plot_surface_plotly(s, run_dir, "landscape_skip_3d_interactive", vmax=vmax)
    figs |= plot_ratio_maps(c, run_dir, "landscape_skip_curvature")
    figs |= plot_accuracy_vs_depth(nets, run_dir, "landscape_skip_accuracy")
    return figs
