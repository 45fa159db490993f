"""Figures for the ResNet experiments (from saved tables only)."""

from __future__ import annotations

import pandas as pd

from depthlab.plots.common import new_figure, save_figure


def plot_degradation(table: pd.DataFrame, run_dir) -> dict[str, str]:
    """Final training loss, test accuracy and init gradient ratio against depth, plain vs residual."""
    fig, axes = new_figure(ncols=3, width=4.2)
    for skip, grp in table.groupby("skip"):
        g = grp.groupby("conv_layers").median(numeric_only=True).sort_index()
        style = dict(marker="o", label="with shortcuts" if skip else "plain (no shortcuts)")
        axes[0, 0].plot(g.index, g["train_loss"], **style)
        axes[0, 1].plot(g.index, g["test_acc"], **style)
        axes[0, 2].semilogy(g.index, g["grad_ratio_init"], **style)
    axes[0, 0].set_ylabel("final training loss")
    axes[0, 1].set_ylabel("test accuracy")
    axes[0, 2].set_ylabel("‖∇ stem‖ / ‖∇ classifier‖ at init")
    for ax in axes.flat:
        ax.set_xlabel("conv layers")
        ax.legend(fontsize=8)
    axes[0, 0].set_title("degradation: training loss vs depth")
    return {"degradation": save_figure(fig, run_dir, "degradation")}
