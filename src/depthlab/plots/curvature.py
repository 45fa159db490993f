"""Figures for the curvature experiments (from saved tables only; nothing is recomputed)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from depthlab.plots.common import new_figure, save_figure


def plot_length_depth(
    lengths: pd.DataFrame, curvature: pd.DataFrame, pca: pd.DataFrame, run_dir
) -> dict[str, str]:
    """Log length vs layer (measured and 2π sqrt(N q* chi_1^{l-1})), curvature, PCA pictures."""
    fig, axes = new_figure(ncols=2)
    ax = axes[0, 0]
    for i, (sw, g) in enumerate(lengths.groupby("sigma_w")):
        color = f"C{i}"
        for _, gs in g.groupby("seed"):
            ax.semilogy(gs.layer, gs.length, "o", ms=3, color=color, alpha=0.6)
        p = g.groupby("layer")["predicted"].first()
        ax.semilogy(p.index, p.values, "-", color=color, label=f"sigma_w={sw:g}: theory")
    ax.set_xlabel("layer l")
    ax.set_ylabel("curve length")
    ax.set_title("length vs depth (dots: measured)")
    ax.legend(fontsize=8)
    ax = axes[0, 1]
    for i, (sw, g) in enumerate(curvature.groupby("sigma_w")):
        m = g.groupby("layer")[["kbar", "kbar_predicted"]].mean()
        ax.semilogy(m.index, m.kbar, "o", ms=3, color=f"C{i}")
        ax.semilogy(m.index, m.kbar_predicted, "-", color=f"C{i}", label=f"sigma_w={sw:g}")
    ax.set_xlabel("layer l")
    ax.set_ylabel("sqrt(N) x mean curvature")
    ax.set_title("curvature: measured (dots) vs recursion")
    ax.legend(fontsize=8)
    figures = {"length_vs_depth": save_figure(fig, run_dir, "length_vs_depth")}

    if len(pca):
        sws = sorted(pca.sigma_w.unique())
        layers = sorted(pca.layer.unique())
        fig, axes = new_figure(ncols=len(layers), nrows=len(sws), width=2.4, height=2.4)
        for r, sw in enumerate(sws):
            for c, layer in enumerate(layers):
                ax = axes[r, c]
                g = pca[(pca.sigma_w == sw) & (pca.layer == layer)].sort_values("t")
                x = np.append(g.pc1.to_numpy(), g.pc1.iloc[0])
                y = np.append(g.pc2.to_numpy(), g.pc2.iloc[0])
                ax.plot(x, y, "-", lw=0.7)
                ax.grid(False)
                ax.set_xticks([])
                ax.set_yticks([])
                ax.set_title(f"sigma_w={sw:g}, layer {layer}", fontsize=8)
        figures["pca_projections"] = save_figure(fig, run_dir, "pca_projections")
    return figures


def plot_length_width(table: pd.DataFrame, run_dir) -> dict[str, str]:
    """Output length against neuron count: one wide layer vs stacked layers."""
    fig, axes = new_figure()
    ax = axes[0, 0]
    for kind, marker in (("shallow", "o-"), ("shallow-worst", "^-"), ("deep", "s-")):
        g = table[table.kind == kind].groupby("neurons")["length"].mean()
        ax.loglog(g.index, g.values, marker, ms=4, label=f"{kind} (mean over nets)")
    sh = table[table.kind == "shallow"].groupby("neurons")["length"].mean()
    if len(sh):
        n = np.asarray(sh.index, float)
        ax.loglog(n, sh.iloc[0] * n / n[0], "k:", lw=1, label="linear in width")
    ax.set_xlabel("hidden neurons (shallow: width; deep: depth x width)")
    ax.set_ylabel("length of the image of a unit curve")
    ax.set_title("equal neurons: width vs depth")
    ax.legend(fontsize=8)
    return {"length_vs_neurons": save_figure(fig, run_dir, "length_vs_neurons")}


def plot_phase_diagram(grid: pd.DataFrame, run_dir) -> dict[str, str]:
    """Heat maps of measured log growth with the theory's chi_1 = 1 boundary drawn."""
    sw = np.sort(grid.sigma_w2.unique())
    sb = np.sort(grid.sigma_b2.unique())
    fig, axes = new_figure(ncols=2)
    for ax, col, title in (
        (axes[0, 0], "length_growth", "log per-layer length growth"),
        (axes[0, 1], "corr_growth", "log per-layer growth of 1 - c"),
    ):
        z = grid.pivot(index="sigma_b2", columns="sigma_w2", values=col).loc[sb, sw].to_numpy()
        chi = (
            grid.pivot(index="sigma_b2", columns="sigma_w2", values="chi_1").loc[sb, sw].to_numpy()
        )
        lz = np.log(z)
        lim = float(np.nanmax(np.abs(lz))) or 1.0
        im = ax.pcolormesh(sw, sb, lz, cmap="RdBu_r", vmin=-lim, vmax=lim, shading="nearest")
        if len(sw) >= 2 and len(sb) >= 2 and chi.min() < 1 < chi.max():
            ax.contour(sw, sb, chi, levels=[1.0], colors="k", linewidths=2)
        fig.colorbar(im, ax=ax)
        ax.set_xlabel("sigma_w^2")
        ax.set_ylabel("sigma_b^2")
        ax.set_title(f"{title}\n(black: theory chi_1 = 1)", fontsize=9)
    return {"phase_diagram": save_figure(fig, run_dir, "phase_diagram")}


def plot_relu_he(table: pd.DataFrame, summary: pd.DataFrame, run_dir) -> dict[str, str]:
    """Length ratio per net against depth, its mean, and Var(log ratio)."""
    fig, axes = new_figure(ncols=2)
    ax = axes[0, 0]
    for _, g in list(table.groupby("net"))[:60]:
        ax.plot(g.layer, g.length_ratio, "-", color="0.6", lw=0.5, alpha=0.5)
    ax.plot(summary.layer, summary["mean"], "o-", color="C3", label="mean over nets")
    ax.axhline(1.0, color="k", ls=":", lw=1)
    ax.set_xlabel("layer")
    ax.set_ylabel("length / input length")
    ax.set_title("He ReLU: mean flat, spread grows")
    ax.legend(fontsize=8)
    ax = axes[0, 1]
    ax.plot(summary.layer, summary.var_log, "o-")
    ax.set_xlabel("layer")
    ax.set_ylabel("Var(log length ratio)")
    ax.set_title("variance across initialisations")
    return {"relu_he_length": save_figure(fig, run_dir, "relu_he_length")}


def plot_transitions(table: pd.DataFrame, run_dir) -> dict[str, str]:
    """Transitions (exact) against exact length, log-log, coloured by sigma_w^2."""
    fig, axes = new_figure()
    ax = axes[0, 0]
    use = table[(table.layer >= 1) & (table.transitions >= 1)]
    for i, (sw2, g) in enumerate(use.groupby("sigma_w2")):
        ax.loglog(g.length, g.transitions, "o", ms=4, color=f"C{i}", label=f"sigma_w^2={sw2:g}")
    if len(use) >= 2:
        x = np.geomspace(use.length.min(), use.length.max(), 20)
        c = float(np.exp(np.mean(np.log(use.transitions) - np.log(use.length))))
        ax.loglog(x, c * x, "k:", lw=1, label="proportional")
    ax.set_xlabel("exact curve length at layer")
    ax.set_ylabel("transitions (linear pieces - edges)")
    ax.set_title("hard-tanh: pieces vs length")
    ax.legend(fontsize=8)
    return {"transitions_vs_length": save_figure(fig, run_dir, "transitions_vs_length")}
