"""Figures for the expressivity experiments (from saved tables only)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from depthlab.plots.common import new_figure, save_figure


def plot_universal_approximation(
    sweep: pd.DataFrame, sawtooth_sweep: pd.DataFrame, needed: pd.DataFrame, target: float, run_dir
) -> dict[str, str]:
    """Error vs width (log-log) for the sinusoid and each sawtooth; width needed vs folds k."""
    fig, axes = new_figure(ncols=2)
    ax = axes[0, 0]
    m = sweep.groupby("width")["rmse"].agg(["mean", "min", "max"])
    ax.loglog(m.index, m["mean"], "o-", label="sinusoid, RMSE")
    ax.fill_between(m.index, m["min"], m["max"], alpha=0.2)
    w = np.asarray(m.index, float)
    ref = m["mean"].iloc[-1] * (w / w[-1]) ** -2.0
    ax.loglog(w, ref, "k--", lw=1, label="width$^{-2}$")
    ax.set_xlabel("hidden width")
    ax.set_ylabel("test RMSE")
    ax.set_title("one hidden layer: error vs width")
    ax.legend(fontsize=8)
    ax = axes[0, 1]
    if len(sawtooth_sweep):
        for k, grp in sawtooth_sweep.groupby("k"):
            g = grp.groupby("width")["rel_mse"].min().sort_index()
            ax.loglog(g.index, g.values, "o-", ms=3, label=f"sawtooth k={k}")
        ax.axhline(target, color="k", ls=":", lw=1, label="target")
    ax.set_xlabel("hidden width")
    ax.set_ylabel("relative test MSE (best seed)")
    ax.set_title("sawtooth: shallow error vs width")
    ax.legend(fontsize=7)
    figures = {"error_vs_width": save_figure(fig, run_dir, "error_vs_width")}

    fig, axes = new_figure()
    ax = axes[0, 0]
    got = needed.dropna(subset=["shallow_params_needed"])
    ax.semilogy(
        got["k"], got["shallow_params_needed"], "o-", label="shallow: params to reach target"
    )
    ax.semilogy(needed["k"], needed["deep_params"], "s-", label="deep construction: params (exact)")
    ks = needed["k"].to_numpy(float)
    ax.semilogy(ks, 3 * (2.0**ks - 1) + 1, "k--", lw=1, label="shallow exact fit: width ≥ 2^k − 1")
    ax.set_xlabel("sawtooth folds k")
    ax.set_ylabel("parameters")
    ax.set_title("equal error: shallow vs deep size")
    ax.legend(fontsize=8)
    figures["size_vs_folds"] = save_figure(fig, run_dir, "size_vs_folds")
    return figures
