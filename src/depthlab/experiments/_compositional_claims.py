"""The claims of the compositional experiment (Poggio et al. 2017), from per-seed advantages.

``adv`` has one row per (target, n, seed) with ``shallow_over_tree``: the geometric mean over
the node widths of shallow / tree relative test MSE at matched parameters (see
:func:`depthlab.experiments.compositional.advantages`). The seed is the independent unit: it
draws the target, the initialisations and the order of the fresh samples.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from depthlab import evidence
from depthlab.core import Change, Claim, Region

SRC = "Poggio et al. 2017, Thms 1-2; THEORY.md §6; lecture slides 20 and 22"
CHANGED = "2026-12-02"

OLD_DESIGN = (
    "n = 4, 8, 16; fixed budgets 80, 250, 800 parameters at every n; 4 seeds (initialisation "
    "and batch order); one target per n shared by the seeds; 300 full-batch Adam steps on 512 "
    "training points"
)
NEW_DESIGN = (
    "n = 4, 8, 16; budgets matched to the tree net's (n-1)(4m+1) parameters for node widths "
    "m = 2, 4, 8; 8 seeds, each drawing its own target, initialisations and sample order; "
    "1000 Adam steps of 128 fresh samples each (no sample is seen twice)"
)
REASON = (
    "faithfulness and power (issue 14): Poggio et al.'s theorems are about approximation, so "
    "fresh samples replace the 512 fixed points that kept every model at n = 16 at the "
    "no-learning floor (relative MSE 0.3-1.1); budgets growing like the tree's n-1 nodes are "
    "the theorems' own scaling (the tree's accuracy stays fixed, the shallow net's must fall); "
    "a target per seed makes the claim about the class of compositional functions, not one "
    "draw per n; 8 seeds instead of 4 for the interval"
)


def per_seed(adv: pd.DataFrame, target: str) -> pd.DataFrame:
    """(seeds, n) table of shallow/tree advantages for one target."""
    sub = adv[adv.target == target]
    return sub.pivot(index="seed", columns="n", values="shallow_over_tree").sort_index(axis=1)


def _fmt(piv: pd.DataFrame) -> str:
    return ", ".join(f"n={n}: {float(np.exp(np.log(piv[n]).mean())):.2f}" for n in piv.columns)


def floor_note(summary: pd.DataFrame | None) -> str:
    """The best relative test MSE any model reached per n on the compositional target: near 1,
    no model learned the target at that n, and the ratio there says little about approximation."""
    if summary is None or summary.empty:
        return ""
    comp = summary[summary.target == "compositional"]
    best = comp.groupby("n")["rel_mse_median"].min()
    per_n = ", ".join(f"n={int(n)}: {v:.3g}" for n, v in best.items())
    return (
        f" Best relative test MSE of any model (median over seeds) per n: {per_n}; a value near 1 "
        "means no model learned the target at that n (the data or steps, not approximation, "
        "limit it there), and the trend is then not a test of the theory."
    )


def build_claims(adv: pd.DataFrame, config, summary: pd.DataFrame | None = None) -> list[Claim]:
    """tree-beats-shallow, gap-grows-with-n (>= 2 values of n) and control-advantage-shrinks
    (when the control ran), each from a t interval over seeds."""
    thr = config.advantage_threshold
    comp = per_seed(adv, "compositional")
    ns = [int(n) for n in comp.columns]
    comp_gm = np.exp(np.log(comp.to_numpy(float)).mean(axis=1))  # per seed, over n
    design = (
        f"Design: n = {ns}, node widths m = {list(config.node_widths)} (every model at n matched "
        f"to the tree's (n-1)(4m+1) parameters), {config.seeds} seeds (the unit: each draws "
        f"its target, initialisations and sample order), {config.steps} Adam steps of "
        f"{config.batch_size} fresh samples. A(s) = geometric mean over node widths of shallow / "
        "tree relative test MSE for seed s."
    )
    est = evidence.mean(np.log(comp_gm), statistic="ln shallow/tree error ratio")
    est = evidence.Estimate(
        float(np.exp(est.value)),
        None if est.lo is None else float(np.exp(est.lo)),
        None if est.hi is None else float(np.exp(est.hi)),
        est.n,
        "t on logs",
        "seeds",
        "shallow/tree error ratio (geometric mean over n and budgets)",
        tuple(comp_gm.tolist()),
    )
    claims = [
        evidence.empirical(
            "poggio-2017.tree-beats-shallow",
            "On compositional targets, tree-structured deep nets reach lower test error than "
            "shallow nets with the same number of parameters.",
            SRC,
            est,
            Region.at_least(thr),
            predicted=f"error ratio shallow/tree >= {thr:g}",
            tolerance=f"95% interval over seeds of the geometric-mean ratio lies at or above "
            f"{thr:g}",
            note=f"{design} Per n (geometric mean over seeds): {_fmt(comp)}.",
            history=(
                Change(
                    CHANGED,
                    "statistic",
                    f"median-of-2-seeds ratio >= {thr:g} at every n",
                    "geometric mean over n and budgets, t interval over seeds",
                    "issue 13: a verdict from an interval over the independent unit",
                ),
                Change(
                    CHANGED,
                    "design",
                    f"{OLD_DESIGN}; result 4.35, 95% [2.93, 6.47], holds",
                    NEW_DESIGN,
                    REASON,
                ),
            ),
        )
    ]
    if len(ns) >= 2:
        claims.append(trend_claim(comp, ns, config.min_growth, design + floor_note(summary)))
    if "control" in set(adv.target):
        ctrl = per_seed(adv, "control")
        ctrl_gm = np.exp(np.log(ctrl.to_numpy(float)).mean(axis=1))
        shrink = evidence.ratio(
            comp_gm, ctrl_gm, paired=True, statistic="compositional advantage / control advantage"
        )
        claims.append(
            evidence.empirical(
                "poggio-2017.control-advantage-shrinks",
                "On a non-compositional target of the same smoothness, the tree net's "
                "advantage over the shallow net shrinks.",
                SRC,
                shrink,
                Region.at_least(1.0),
                predicted="advantage on the compositional target / on the control > 1",
                tolerance="95% interval over seeds of the ratio of advantages lies at or above 1",
                note=f"{design} Control advantage per n: {_fmt(ctrl)}; compositional: "
                f"{_fmt(comp)}.",
                history=(
                    Change(
                        CHANGED,
                        "statistic",
                        "control ratio below the compositional ratio at every n (medians)",
                        "ratio of advantages, paired t on logs over seeds",
                        "issue 13: a verdict from an interval over the independent unit",
                    ),
                    Change(
                        CHANGED,
                        "design",
                        f"{OLD_DESIGN}; result 4.97, 95% [3.37, 7.31], holds",
                        NEW_DESIGN,
                        REASON,
                    ),
                ),
            )
        )
    return claims


def trend_claim(comp: pd.DataFrame, ns: list[int], min_growth: float, design: str) -> Claim:
    """gap-grows-with-n: the per-seed least-squares slope of ln A on log2 n over every n, with a
    t interval over seeds, against the least growth that counts (``min_growth`` per doubling)."""
    est = evidence.trend(
        np.log2(ns),
        np.log(comp.to_numpy(float)),
        statistic="slope of ln(shallow/tree error ratio) on log2 n",
    )
    factor = float(np.exp(min_growth))
    return evidence.empirical(
        "poggio-2017.gap-grows-with-n",
        "The advantage of the tree-structured deep net over the shallow one grows with the "
        "number of inputs n.",
        SRC,
        est,
        Region.at_least(min_growth),
        predicted=f"ln(advantage) rises with log2 n by at least {min_growth:.3g} per doubling "
        f"(the advantage x{factor:.3g} per doubling of n)",
        tolerance=f"95% interval over seeds of the per-seed trend slope over all n lies at or "
        f"above {min_growth:.3g} (the least growth that counts, fixed before the run)",
        note=f"{design} A trend over every n per seed, not two endpoints. Advantage per n "
        f"(geometric mean over seeds): {_fmt(comp)}.",
        history=(
            Change(
                CHANGED,
                "statistic",
                "ratio at the largest n above the ratio at the smallest n (2 seeds)",
                "per-seed least-squares trend over all n, t interval over seeds, >= 0",
                "issue 13: two endpoints of a non-monotone series (3.65, 10.42, 4.32) from 2 "
                "seeds decided the old verdict",
            ),
            Change(
                CHANGED,
                "design",
                f"{OLD_DESIGN}; result -0.464, 95% [-0.975, 0.047], inconclusive (advantage "
                "5.0, 8.3, 2.0 at n = 4, 8, 16; n = 16 at the no-learning floor)",
                NEW_DESIGN,
                REASON,
            ),
            Change(
                CHANGED,
                "region",
                "slope >= 0",
                f"slope >= {min_growth:.3g} (min_growth; default ln 1.2 = 0.182)",
                "faithfulness (issue 14): a stated minimal effect, so that a growth too small to "
                "matter (under 20% per doubling of n, under 1.44x from n = 4 to 16) cannot count "
                "as the theorems' growing gap, and a small one can fail",
            ),
        ),
    )
