"""Figures for what depth buys: multiplication, mimic learning, compositional targets.

Every function takes saved tables (DataFrames) and a run directory, and returns
``{name: relative path}``. Nothing here trains or recomputes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from depthlab.plots.common import new_figure, save_figure


def plot_multiplication(
    gates: pd.DataFrame,
    minima: pd.DataFrame,
    heat: pd.DataFrame,
    target: float,
    run_dir: str | Path,
) -> dict[str, str]:
    """Gate error vs λ; minimal neurons vs n beside the bounds; heat map of error vs depth/neurons."""
    out: dict[str, str] = {}
    fig, axes = new_figure(2, 1)
    for ax, gate in zip(axes[0], ("multiply", "square"), strict=True):
        sub = gates[gates.gate == gate]
        for act, grp in sub.groupby("activation"):
            ax.loglog(grp["lam"], grp["max_abs_err"], "o-", label=act)
        lam = np.array(sorted(sub["lam"].unique()))
        if len(lam):
            ref = sub["max_abs_err"].max() * (lam / lam.max()) ** 2
            ax.loglog(lam, ref, "k--", lw=1, label="slope 2")
        ax.set_xlabel("scale λ")
        ax.set_ylabel("max |error| on U[0,2]")
        ax.set_title(
            f"{'4-neuron multiplication' if gate == 'multiply' else '3-neuron squaring'} gate"
        )
        ax.legend(fontsize=8)
    out["multiplication_gates"] = save_figure(fig, run_dir, "multiplication_gates")

    fig, axes = new_figure(1, 1, width=6)
    ax = axes[0, 0]
    fallback_cap = minima["min_neurons"].max()
    for k, grp in minima.groupby("k"):
        grp = grp.sort_values("n")
        (line,) = ax.semilogy(grp["n"], grp["min_neurons"], "o-", label=f"trained, k={k}")
        miss = grp[~grp["found"].astype(bool)]
        if len(miss):  # censored searches: hollow ^ just above the largest count tried
            col = "max_failing_neurons" if "max_failing_neurons" in miss else "cap_neurons"
            caps = miss[col] if col in miss else [fallback_cap] * len(miss)
            ax.semilogy(
                miss["n"],
                1.15 * np.asarray(caps, dtype=float),
                "^",
                mfc="none",
                color=line.get_color(),
            )
    ns = np.array(sorted(minima["n"].unique()))
    if len(ns):
        ax.semilogy(ns, 2.0**ns, "k--", lw=1, label="2^n (exact, 1 layer)")
        if "bound_thm51" in minima and (minima["k"] == 2).any():
            b2 = minima[minima["k"] == 2].sort_values("n")
            ax.semilogy(b2["n"], b2["bound_thm51"], "k-.", lw=1, label="Thm 5.1, k=2")
        ax.semilogy(ns, 4.0 * (ns - 1), "k:", lw=1, label="4(n−1) (tree)")
    ax.set_xlabel("inputs n")
    ax.set_ylabel(f"fewest neurons reaching rel. MSE {target:g}")
    ax.set_title("Product of n inputs from U[0, 2] (^: censored, above largest tried)")
    ax.legend(fontsize=8)
    out["multiplication_minimal_neurons"] = save_figure(
        fig, run_dir, "multiplication_minimal_neurons"
    )

    if not heat.empty:
        grid = heat.pivot(index="k", columns="neurons", values="best_rel_mse")
        fig, axes = new_figure(1, 1, width=6, height=3.6)
        ax = axes[0, 0]
        ax.grid(False)
        im = ax.imshow(
            np.log10(grid.to_numpy(dtype=float)), aspect="auto", origin="lower", cmap="viridis"
        )
        ax.set_xticks(range(grid.shape[1]), [str(c) for c in grid.columns])
        ax.set_yticks(range(grid.shape[0]), [str(i) for i in grid.index])
        ax.set_xlabel("total hidden neurons")
        ax.set_ylabel("hidden layers k")
        ax.set_title(f"log10 rel. test MSE, product of n={int(heat['n'].iloc[0])} inputs")
        fig.colorbar(im, ax=ax)
        out["multiplication_heatmap"] = save_figure(fig, run_dir, "multiplication_heatmap")
    return out


def plot_mimic(table: pd.DataFrame, run_dir: str | Path) -> dict[str, str]:
    """Test accuracy (mean ± std over seeds) of every row, against its parameter count."""
    fig, axes = new_figure(1, 1, width=7.5, height=4.2)
    ax = axes[0, 0]
    labels = [f"{m}\n({t})" for m, t in zip(table["model"], table["trained_on"], strict=True)]
    y = np.arange(len(table))
    colors = [
        "#455a64" if "teacher" in m else ("#1565c0" if "MIMIC" in m else "#9e9e9e")
        for m in table["model"]
    ]
    ax.barh(y, 100 * table["test_acc_mean"], xerr=100 * table["test_acc_std"], color=colors)
    for yi, (acc, p) in enumerate(zip(table["test_acc_mean"], table["params"], strict=True)):
        ax.text(100 * acc + 0.5, yi, f"{100 * acc:.1f}%  ({p:,} params)", va="center", fontsize=7)
    ax.set_yticks(y, labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("test accuracy (%)")
    lo = max(0.0, 100 * float(table["test_acc_mean"].min()) - 10)
    ax.set_xlim(lo, 100)
    ax.set_title("Mimic learning: shallow students, deep teachers")
    return {"mimic_accuracy": save_figure(fig, run_dir, "mimic_accuracy")}


def plot_compositional(summary: pd.DataFrame, run_dir: str | Path) -> dict[str, str]:
    """Relative test MSE against parameters, one panel per (target, n), one line per model."""
    targets = list(dict.fromkeys(summary["target"]))
    ns = sorted(summary["n"].unique())
    fig, axes = new_figure(len(ns), len(targets), width=3.8, height=3.2)
    styles = {"shallow": ("#9e9e9e", "o"), "deep": ("#1565c0", "s"), "tree": ("#2e7d32", "^")}
    for i, target in enumerate(targets):
        for j, n in enumerate(ns):
            ax = axes[i, j]
            sub = summary[(summary.target == target) & (summary.n == n)]
            for arch, grp in sub.groupby("arch"):
                color, marker = styles.get(arch, ("k", "o"))
                grp = grp.sort_values("params")
                ax.loglog(
                    grp["params"], grp["rel_mse_median"], marker=marker, color=color, label=arch
                )
            ax.set_title(f"{target}, n={n}", fontsize=9)
            ax.set_xlabel("parameters")
            if j == 0:
                ax.set_ylabel("rel. test MSE (median of seeds)")
            ax.legend(fontsize=7)
    return {
        "compositional_error_vs_params": save_figure(fig, run_dir, "compositional_error_vs_params")
    }
