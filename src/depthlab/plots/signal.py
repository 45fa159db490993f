"""Figures for the exploding/vanishing experiments (from saved tables only; nothing recomputed)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from depthlab.plots.common import new_figure, save_figure


def plot_init_mean(
    table: pd.DataFrame, slopes: pd.DataFrame, torch_tn: pd.DataFrame, run_dir
) -> dict[str, str]:
    """log E[M_d] vs depth per scheme with the predicted lines; PyTorch trunc_normal_'s variance kept."""
    fig, axes = new_figure(ncols=2)
    ax = axes[0, 0]
    for i, (scheme, g) in enumerate(table.groupby("scheme", sort=False)):
        color = f"C{i}"
        ax.semilogy(g["depth"], g["mean_m"], "-", color=color, lw=1.5, label=scheme)
        # a lower band edge at or below zero would paint a column down the log axis: floor it
        lo = np.maximum(g["mean_m"] - 2 * g["mean_m_se"], g["mean_m"] / 10)
        ax.fill_between(g["depth"], lo, g["mean_m"] + 2 * g["mean_m_se"], color=color, alpha=0.15)
        ax.semilogy(g["depth"], g["predicted"], ":", color=color, lw=1)
    fit_max = int(table[table["in_fit"]]["depth"].max())
    ax.axvspan(0, fit_max, color="grey", alpha=0.08, label=f"slope fit range (d ≤ {fit_max})")
    ax.set_ylim(max(table["mean_m"].min(), 1e-30) / 3, max(10.0, table["mean_m"].max() * 3))
    ax.set_xlabel("depth d")
    ax.set_ylabel("E[M_d] / M_0  (Monte Carlo, ±2 SE; dotted: theory)")
    ax.set_title("FM1: mean signal vs depth")
    ax.legend(fontsize=7)
    ax = axes[0, 1]
    y = np.arange(len(slopes))
    ax.barh(y - 0.2, slopes["predicted_slope"], height=0.4, label="predicted log(n Var W / 2)")
    ax.barh(
        y + 0.2, slopes["slope"], height=0.4, xerr=2 * slopes["slope_se"], label="measured slope"
    )
    ax.set_yticks(y, slopes["scheme"], fontsize=8)
    ax.set_xlabel("slope of log E[M_d] per layer")
    ax.set_title("measured vs predicted slope")
    ax.legend(fontsize=7)
    figures = {"mean_vs_depth": save_figure(fig, run_dir, "mean_vs_depth")}

    fig, axes = new_figure()
    ax = axes[0, 0]
    ax.semilogx(torch_tn["fan_in"], torch_tn["variance_kept"], "o-", ms=3)
    ax.axhline(0.7737, color="k", ls=":", lw=1, label="cut at ±2 std: 0.7737")
    ax.set_xlabel("fan_in")
    ax.set_ylabel("Var kept / (2 / fan_in)")
    ax.set_title("torch trunc_normal_(std=sqrt(2/fan_in), a=-2, b=2)")
    ax.legend(fontsize=8)
    figures["torch_trunc_normal"] = save_figure(fig, run_dir, "torch_trunc_normal")
    return figures


def plot_init_variance(df: pd.DataFrame, run_dir) -> dict[str, str]:
    """log E[M_d^2]/M_0^2 and log(Jacobian kurtosis / 3) against beta and against the prediction."""
    fig, axes = new_figure(ncols=4, width=4.4)
    markers = dict(zip(sorted(df["family"].unique()), "osD^vP*", strict=False))
    b = np.linspace(0, df["beta"].max() * 1.05, 50)
    for fam, g in df.groupby("family"):
        m = markers[fam]
        axes[0, 0].plot(g["beta"], g["log_second_m"], m, label=fam, alpha=0.8)
        axes[0, 1].errorbar(
            g["log_second_pred"],
            g["log_second_m"],
            yerr=2 * g["second_m_se"] / g["second_m"],
            fmt=m,
            label=fam,
            alpha=0.8,
        )
        axes[0, 2].plot(g["log_jac_kurt_pred"], g["log_jac_kurt_ratio"], m, label=fam, alpha=0.8)
    axes[0, 0].plot(b, 5 * b, "k:", lw=1, label="5β")
    axes[0, 0].set_xlabel("β = Σ 1/n_j")
    axes[0, 0].set_ylabel("log E[M_d²]/M_0²")
    axes[0, 0].set_title("FM2: second moment vs β")
    for ax, title in ((axes[0, 1], "M_d: measured vs theory"), (axes[0, 2], "Jacobian entries")):
        lim = [0, max(ax.get_xlim()[1], ax.get_ylim()[1])]
        ax.plot(lim, lim, "k:", lw=1, label="y = x")
        ax.set_title(title)
    axes[0, 1].set_xlabel("log Π(1 + 5/n_j)")
    axes[0, 1].set_ylabel("measured log E[M_d²]/M_0² (±2 SE)")
    axes[0, 2].set_xlabel("log Π_{hidden below}(1 + 5/n_j)")
    axes[0, 2].set_ylabel("measured log(E[Z⁴]/E[Z²]² / 3)")
    ax = axes[0, 3]
    for fam, g in df.groupby("family"):
        ax.plot(
            g["beta"], np.log(g["var_m"]), markers[fam], label=f"{fam}: log Var(M_d)", alpha=0.8
        )
    order = df.sort_values("beta")
    ax.plot(
        order["beta"],
        np.log(np.expm1(order["log_second_pred"])),
        "k.",
        ms=4,
        label="theory: log(Π(1 + 5/n_j) − 1)",
    )
    ax.set_xlabel("β = Σ 1/n_j")
    ax.set_ylabel("log Var(M_d) / M_0²")
    ax.set_title("log Var(M_d) vs β")
    for ax in axes.flat:
        ax.legend(fontsize=7)
    return {"variance_vs_beta": save_figure(fig, run_dir, "variance_vs_beta")}


def plot_init_residual(df: pd.DataFrame, run_dir) -> dict[str, str]:
    """E[M_l] against block l for each branch-scale schedule, beside prod(1 + eta^2)."""
    fig, axes = new_figure()
    ax = axes[0, 0]
    for i, (label, g) in enumerate(df.groupby("schedule", sort=False)):
        c = f"C{i}"
        ax.semilogy(g["block"], g["mean_m"], "o", ms=3, color=c, label=f"{label} (Monte Carlo)")
        ax.semilogy(g["block"], g["predicted"], "-", color=c, lw=1, label="Π(1 + η²)")
    ax.set_xlabel("block l")
    ax.set_ylabel("E[M_l] / M_0")
    ax.set_title("residual nets: mean signal")
    ax.legend(fontsize=7)
    return {"residual_mean": save_figure(fig, run_dir, "residual_mean")}


def plot_init_trainability(df: pd.DataFrame, run_dir) -> dict[str, str]:
    """Heat maps of epochs-to-target over depth × width per scheme, and against beta."""
    schemes = list(dict.fromkeys(df["scheme"]))
    fig, axes = new_figure(ncols=len(schemes) + 1, width=4.0)
    vmax = float(df["epochs_to_target"].max())
    for ax, scheme in zip(axes[0, :-1], schemes, strict=True):
        g = df[df["scheme"] == scheme].pivot_table(
            index="depth", columns="width", values="epochs_to_target"
        )
        im = ax.imshow(g.values, origin="lower", cmap="viridis_r", vmin=0, vmax=vmax, aspect="auto")
        ax.set_xticks(range(len(g.columns)), g.columns)
        ax.set_yticks(range(len(g.index)), g.index)
        ax.set_xlabel("width")
        ax.set_ylabel("depth (hidden layers)")
        ax.set_title(f"{scheme}: epochs to target", fontsize=9)
        ax.grid(False)
        for (r, c), v in np.ndenumerate(g.values):
            ax.text(
                c,
                r,
                "–" if v >= vmax else f"{v:g}",
                ha="center",
                va="center",
                fontsize=7,
                color="w" if v >= vmax / 2 else "k",
            )
    fig.colorbar(im, ax=axes[0, -2], fraction=0.046)
    ax = axes[0, -1]
    for i, scheme in enumerate(schemes):
        g = df[df["scheme"] == scheme]
        ax.semilogx(g["beta"], g["epochs_to_target"], "o", color=f"C{i}", label=scheme, alpha=0.8)
    ax.axhline(vmax, color="k", ls=":", lw=1, label="not reached")
    ax.set_xlabel("β = Σ 1/n_j")
    ax.set_ylabel("epochs to target accuracy")
    ax.set_title("trainability vs β")
    ax.legend(fontsize=7)
    return {"trainability": save_figure(fig, run_dir, "trainability")}
