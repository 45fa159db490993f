"""The multiplication experiment's claims (see :mod:`depthlab.experiments.multiplication`).

Constructions (exact checks, reported apart from the findings):

- :func:`gate_claim`: every gate's max error falls like λ² (log-log slope 2 ± 0.2);
- :func:`tree_claim`: the product tree's neuron and layer counts equal ``4(n − 1)`` and
  ``ceil(log2 n)``, and it is accurate at λ = 1e-3.

Empirical claims, from the error heat map at fixed n (seeds are the independent unit; a t
interval over the per-seed values, decided by :func:`depthlab.core.decide`):

- :func:`depth_claim` (``learned.shallow-exponential``): per seed, ``log2`` of the fewest neurons
  a trained one-hidden-layer net needs to reach the target over the fewest any deeper net needs;
  region ``>= 1`` (the shallow net needs at least twice as many; Thm 4.2 / 5.1 predict
  ``log2(2^n / bound(n, 2)) = 3`` at n = 8 for exact products);
- :func:`bound_claim` (``thm51.learned-within-bound``): per seed, the largest over depths
  ``k >= 2`` of ``log2(learned minimum / Thm 5.1 bound(n, k))``; region ``<= 1`` (every deep
  depth reaches the target within twice the neurons the theorem's construction uses).

Censored minima (no net in the grid reached the target) are filled at the end of their interval
that *disfavours* the claim; :func:`depth_samples` and :func:`bound_samples` say how.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from depthlab import evidence
from depthlab.core import Change, Claim, Region

DEPTH_ID = "rolnick-tegmark-2018.learned.shallow-exponential"
BOUND_ID = "rolnick-tegmark-2018.thm51.learned-within-bound"
DEPTH_REGION = Region.at_least(1.0)
BOUND_REGION = Region.at_most(1.0)
GATE_TOL = 0.2
TREE_TOL = 1e-3
CHANGED = "2026-12-02"
DEPTH_HISTORY = (
    Change(
        CHANGED,
        "design",
        "width search over n = 2..12, 300 full-batch Adam steps on 512 fixed points, lr 3e-2, "
        "best of 1-2 seeds per probe; log2 N_min slope in n >= 0.5 and deep <= half of it",
        "error heat map at fixed n = 6 (k = 1..3, 8..128 neurons), fresh samples every step, "
        "2000 steps, lr scan {3e-3, 1e-2, 3e-2}, 3 seeds; per-seed log2(shallow N_min / "
        "best deep N_min) >= 1",
        "issue 14: no net reached the target for n >= 5 under the old budget, and the verdict "
        "pooled seeds; the paper's Thm 5.1 is about neurons at fixed n against depth",
    ),
    Change(
        CHANGED,
        "heat_n, heat_neurons",
        "n = 6, 8..128 neurons at every depth (result: 0.426, 95% [-1.01, 1.86], inconclusive)",
        "n = 8, shallow 8..512 neurons, deep 8..128",
        "power, not the outcome: at n = 6 the predicted log2(2^n / bound) = 1.68 sits within one "
        "grid step (a factor 2) of the region's edge 1, so per-seed values on the doubling grid "
        "cannot give an interval above 1 unless every seed lands two steps apart; at n = 8 the "
        "prediction is log2(256 / 32) = 3, two steps clear of the edge; the region, target, "
        "seeds and budget are unchanged",
    ),
)
BOUND_HISTORY = (
    Change(
        CHANGED,
        "heat_n",
        "n = 6 (result: 0.678, 95% [0.678, 0.678], holds)",
        "n = 8",
        "follows the heat map's move to n = 8 (see learned.shallow-exponential); region unchanged",
    ),
)


def loglog_slope(x, y) -> float:
    """Slope of ``log y`` against ``log x`` (least squares)."""
    x, y = np.log(np.asarray(x, float)), np.log(np.asarray(y, float))
    return float(np.polyfit(x, y, 1)[0])


def gate_slope(frame: pd.DataFrame) -> float:
    """The log-log slope of one gate's max error against λ (2 for an O(λ²) error)."""
    return loglog_slope(frame["lam"], frame["max_abs_err"])


def gate_slopes(gates: pd.DataFrame) -> pd.Series:
    """:func:`gate_slope` for every (gate, activation) pair."""
    return gates.groupby(["gate", "activation"]).apply(gate_slope)


# ---- constructions ----------------------------------------------------------------------------


def gate_claim(gates: pd.DataFrame) -> Claim:
    slopes = gate_slopes(gates)
    worst = slopes.iloc[int((slopes - 2).abs().argmax())]
    return evidence.construction(
        "rolnick-tegmark-2018.gates.lambda-squared",
        "The 4-neuron multiplication gate and the 3-neuron squaring gate become exact as λ -> 0, with error O(λ²), for softplus, SiLU, GELU and (shifted) tanh.",
        "Lin, Tegmark & Rolnick 2017; Rolnick & Tegmark 2018, Thm 4.1; lecture slide 23",
        bool(((slopes - 2).abs() <= GATE_TOL).all()),
        predicted=2.0,
        measured=f"log-log slopes {slopes.min():.3f}..{slopes.max():.3f} over {len(slopes)} gate/activation pairs (worst {worst:.3f})",
        tolerance=f"every slope of max |error| vs λ within 2 ± {GATE_TOL}",
        note="A check of the gates' Taylor expansion (deterministic up to the 4096 test points).",
    )


def tree_claim(trees: pd.DataFrame) -> Claim:
    counts_ok = bool(
        (trees.neurons == trees.neurons_predicted).all()
        and (trees.layers == trees.layers_predicted).all()
    )
    err_ok = bool((trees.rel_rms_err <= TREE_TOL).all())
    big = trees.iloc[-1]
    return evidence.construction(
        "rolnick-tegmark-2018.tree.4-n-minus-1",
        "A binary tree of multiplication gates computes x_1⋯x_n with 4(n−1) neurons in ceil(log2 n) hidden layers, while one hidden layer needs 2^n.",
        "Rolnick & Tegmark 2018, Sec. 4; THEORY.md §4",
        counts_ok and err_ok,
        predicted="4(n−1) neurons, ceil(log2 n) layers",
        measured=f"n={int(big.n)}: {int(big.neurons)} neurons in {int(big.layers)} layers (2^n = {int(big.shallow_exact)}); max rel. RMS error {trees.rel_rms_err.max():.2e} at λ=1e-3",
        tolerance=f"counts equal the formula for every n; relative RMS error ≤ {TREE_TOL:g} at λ = 1e-3",
        note="The counts hold by construction; the error checks the gates compose.",
    )


# ---- empirical claims from the heat map -------------------------------------------------------


def depth_samples(minima: pd.DataFrame) -> np.ndarray:
    """Per seed: ``log2(shallow N_min / best deep N_min)``.

    A censored shallow minimum is taken at twice the most neurons tried (the smallest value it
    can have on the doubling grid: low, against the claim). If every deep depth is censored, the
    seed's value is ``min(0, log2(shallow / (2 * most deep neurons tried)))``: the deep minimum is
    unbounded above, so that seed gives no evidence for the claim.
    """
    out = []
    for _, g in minima.groupby("seed"):
        sh = g[g.k == 1].iloc[0]
        deep = g[g.k > 1]
        s = sh.min_neurons if math.isfinite(sh.min_neurons) else 2 * sh.max_tried
        found = deep.min_neurons.dropna()
        if len(found):
            out.append(math.log2(s / found.min()))
        else:
            out.append(min(0.0, math.log2(s / (2 * deep.max_tried.max()))))
    return np.asarray(out, dtype=float)


def bound_samples(minima: pd.DataFrame) -> np.ndarray:
    """Per seed: the largest over depths ``k >= 2`` of ``log2(N_min(k) / bound(n, k))``; a censored
    depth counts at the larger of twice its most neurons tried and four times its bound, so it
    never supports the claim (``log2 >= 2``)."""
    out = []
    for _, g in minima[minima.k > 1].groupby("seed"):
        worst = np.maximum(2 * g.max_tried, 4 * g.bound_thm51)
        filled = g.min_neurons.where(np.isfinite(g.min_neurons), worst)
        out.append(float(np.log2(filled / g.bound_thm51).max()))
    return np.asarray(out, dtype=float)


def _design(config) -> str:
    return (
        f"Design (fixed before the run): n = {config.heat_n}, depths {list(config.depths)}, "
        f"total neurons {list(config.heat_neurons)} (k equal layers of neurons // k; k >= 2 "
        f"up to {config.heat_max_deep}), "
        f"{config.heat_seeds} seeds, {config.heat_steps} Adam steps of {config.heat_batch} fresh "
        f"points each (cosine schedule), learning rates {list(config.heat_lrs)} from the same "
        f"initial net, chosen per cell and seed on a validation set; the error is the relative "
        f"test MSE on {config.heat_n_test} separate points (importance sampled, unbiased); target "
        f"{config.target_rel_mse:g}."
    )


def _minima_text(minima: pd.DataFrame) -> str:
    parts = []
    for k, g in minima.groupby("k"):
        vals = ["cens." if not math.isfinite(v) else str(int(v)) for v in g.min_neurons]
        parts.append(f"k={int(k)}: {', '.join(vals)}")
    return "; ".join(parts)


def depth_claim(minima: pd.DataFrame, config) -> Claim | None:
    """Shallow vs deep minimal neurons at fixed n (``None`` without k = 1 and a deeper k)."""
    if not ((minima.k == 1).any() and (minima.k > 1).any()):
        return None
    n = config.heat_n
    est = evidence.mean(depth_samples(minima), statistic="log2(shallow N_min / best deep N_min)")
    from depthlab.theory.multiplication import depth_k_bound

    pred = math.log2(2**n / depth_k_bound(n, 2))
    return evidence.empirical(
        DEPTH_ID,
        f"At fixed n (here {n}), a trained one-hidden-layer net needs at least twice as many neurons as a deeper net to multiply n inputs to the target error.",
        "Rolnick & Tegmark 2018, Thm 4.2 and 5.1; lecture slide 23",
        est,
        DEPTH_REGION,
        predicted=round(pred, 3),
        tolerance="95% t interval over seeds of log2(shallow / best deep minimum) >= 1 (a factor 2)",
        note=_design(config)
        + f" Per-seed minima (neurons): {_minima_text(minima)}. Prediction: log2(2^n / Thm 5.1 "
        "bound at k = 2) for exact products; the claim asks only for a factor 2 at the target "
        "error. Censored minima are filled against the claim (see depth_samples).",
        history=DEPTH_HISTORY,
    )


def bound_claim(minima: pd.DataFrame, config) -> Claim | None:
    """Every deep depth's learned minimum within twice Theorem 5.1's bound (``None`` without k >= 2)."""
    deep = minima[minima.k > 1]
    if deep.empty:
        return None
    est = evidence.mean(
        bound_samples(minima), statistic="max over k >= 2 of log2(N_min(k) / Thm 5.1 bound)"
    )
    bounds = ", ".join(
        f"k={int(k)}: {int(b)}" for k, b in deep.groupby("k").bound_thm51.first().items()
    )
    return evidence.empirical(
        BOUND_ID,
        f"A trained depth-k net (k >= 2) multiplies n = {config.heat_n} inputs to the target error with no more than twice the neurons of Theorem 5.1's construction, which interpolates between 2^n (k = 1) and 4(n-1) (k = log2 n).",
        "Rolnick & Tegmark 2018, Thm 5.1; lecture slide 23",
        est,
        BOUND_REGION,
        predicted="<= 0 (the construction is exact as λ -> 0)",
        tolerance="95% t interval over seeds of max_k log2(N_min / bound) <= 1 (a factor 2: the grid doubles)",
        note=_design(config)
        + f" Thm 5.1 bounds: {bounds}. A censored depth counts at the larger of twice its most "
        "neurons tried and four times its bound, so it never supports the claim.",
        history=BOUND_HISTORY,
    )


__all__ = [
    "BOUND_ID",
    "DEPTH_ID",
    "bound_claim",
    "bound_samples",
    "depth_claim",
    "depth_samples",
    "gate_claim",
    "gate_slope",
    "gate_slopes",
    "loglog_slope",
    "tree_claim",
]
