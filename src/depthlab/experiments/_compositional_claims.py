"""The claims of the compositional experiment (Poggio et al. 2017), from the per-model errors.

``runs`` has one row per trained net: (target, n, arch, budget, seed, params, rel_mse). Two
per-seed tables are derived from it (the seed is the independent unit: it draws the target, the
initialisations and the order of the fresh samples):

- :func:`advantages`: per (target, n, seed) ``shallow_over_tree``, the geometric mean over the
  node widths of shallow / tree relative test MSE at matched parameters;
- :func:`rates`: per (target, n, seed) the least-squares log-log slope of relative test MSE on
  parameters over the node widths, for the shallow net and the tree net, and their difference
  ``rate_gap = slope_shallow - slope_tree`` (the theorems' rates, Poggio et al. 2017).
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
    "training points; 1024 test points"
)
NEW_DESIGN = (
    "n = 4, 8, 16; budgets matched to the tree net's (n-1)(4m+1) parameters for node widths "
    "m = 2, 4, 8; 8 seeds, each drawing its own target, initialisations and sample order; "
    "1000 Adam steps of 128 fresh samples each (no sample is seen twice); test points 1024 -> "
    "2048"
)
REASON = (
    "faithfulness and power (issue 14): Poggio et al.'s theorems are about approximation, so "
    "fresh samples replace the 512 fixed points that kept every model at n = 16 at the "
    "no-learning floor (relative MSE 0.3-1.1); budgets growing like the tree's n-1 nodes are "
    "the theorems' own scaling (the tree's accuracy stays fixed, the shallow net's must fall); "
    "a target per seed makes the claim about the class of compositional functions, not one "
    "draw per n; 8 seeds instead of 4 for the interval"
)


CONFIRM_DESIGN = (
    "20 seeds on fresh (confirmatory) draws: every stream of the run (inputs, targets, "
    "initialisations, sample order) salted with 'confirm', so no draw of the exploratory run "
    "(design 9cf7256, result 2e680b3) is reused; the generic deep MLP (in no claim) only at the "
    "paper scale"
)
CONFIRM_REASON = (
    "power (issue 14): the seeds are shared with gap-grows-with-n, whose rate statistic needs 20 "
    "seeds to decide a minimal effect of 0.1 per doubling (the per-seed trend spread 0.54 in the "
    "exploratory run); fresh draws because that statistic's idea came from the exploratory run. "
    "This claim's statistic and region are unchanged; more seeds only narrow its interval"
)


def advantages(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (target, n, seed): the geometric mean over budgets of shallow/tree and shallow/deep
    test error (the s-th nets of each family fit the same target of seed s). ``shallow_over_deep``
    is NaN when the generic deep family did not run."""
    out = []
    for (target, n, seed), grp in runs.groupby(["target", "n", "seed"]):
        piv = grp.pivot(index="budget", columns="arch", values="rel_mse")

        def gm(a: str, b: str, piv=piv) -> float:
            if a not in piv or b not in piv:
                return float("nan")
            return float(np.exp(np.mean(np.log(piv[a] / piv[b]))))

        out.append(
            {
                "target": target,
                "n": int(n),
                "seed": int(seed),
                "shallow_over_tree": gm("shallow", "tree"),
                "shallow_over_deep": gm("shallow", "deep"),
            }
        )
    return pd.DataFrame(out)


def _loglog_slope(params: pd.Series, err: pd.Series) -> float:
    x, y = np.log(params.to_numpy(float)), np.log(err.to_numpy(float))
    if np.unique(x).size < 2 or not np.all(np.isfinite(y)):
        return float("nan")
    return float(np.polyfit(x, y, 1)[0])


def rates(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (target, n, seed): the least-squares slope of ln(relative test MSE) on ln(parameters)
    over the node widths, for the shallow and the tree net (each on its own parameter counts),
    and ``rate_gap = slope_shallow - slope_tree`` (> 0: the shallow net's error falls slower).
    NaN with fewer than two budgets."""
    out = []
    for (target, n, seed), grp in runs.groupby(["target", "n", "seed"]):
        sl = {
            a: _loglog_slope(grp[grp.arch == a]["params"], grp[grp.arch == a]["rel_mse"])
            for a in ("shallow", "tree")
        }
        out.append(
            {
                "target": target,
                "n": int(n),
                "seed": int(seed),
                "slope_shallow": sl["shallow"],
                "slope_tree": sl["tree"],
                "rate_gap": sl["shallow"] - sl["tree"],
            }
        )
    return pd.DataFrame(out)


def per_seed(adv: pd.DataFrame, target: str, value: str = "shallow_over_tree") -> pd.DataFrame:
    """(seeds, n) table of one per-seed value (default the shallow/tree advantage) for a target."""
    sub = adv[adv.target == target]
    return sub.pivot(index="seed", columns="n", values=value).sort_index(axis=1)


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


def build_claims(runs: pd.DataFrame, config, summary: pd.DataFrame | None = None) -> list[Claim]:
    """tree-beats-shallow, gap-grows-with-n (>= 2 values of n and >= 2 node widths) and
    control-advantage-shrinks (when the control ran), each from a t interval over seeds."""
    thr = config.advantage_threshold
    adv = advantages(runs)
    comp = per_seed(adv, "compositional")
    ns = [int(n) for n in comp.columns]
    comp_gm = np.exp(np.log(comp.to_numpy(float)).mean(axis=1))  # per seed, over n
    design = (
        f"Design: n = {ns}, node widths m = {list(config.node_widths)} (every model at n matched "
        f"to the tree's (n-1)(4m+1) parameters), {config.seeds} seeds (the unit: each draws "
        f"its target, initialisations and sample order; {config.draws} draws), {config.steps} "
        f"Adam steps of {config.batch_size} fresh samples. A(s) = geometric mean over node "
        "widths of shallow / tree relative test MSE for seed s."
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
                Change(
                    CHANGED,
                    "seeds and draws",
                    "8 seeds, exploratory draws (design 9cf7256); result 6.47, 95% [5.33, 7.85], "
                    "holds",
                    CONFIRM_DESIGN,
                    CONFIRM_REASON,
                ),
            ),
        )
    ]
    if len(ns) >= 2 and len(config.node_widths) >= 2:
        gaps = per_seed(rates(runs), "compositional", "rate_gap")
        claims.append(
            rate_trend_claim(gaps, ns, config.min_rate_growth, design + floor_note(summary))
        )
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
                    Change(
                        CHANGED,
                        "seeds and draws",
                        "8 seeds, exploratory draws (design 9cf7256); result 13.3, 95% "
                        "[10.5, 16.8], holds",
                        CONFIRM_DESIGN,
                        CONFIRM_REASON,
                    ),
                ),
            )
        )
    return claims


def _fmt_gap(gaps: pd.DataFrame) -> str:
    return ", ".join(f"n={n}: {float(gaps[n].mean()):.3g}" for n in gaps.columns)


def rate_trend_claim(gaps: pd.DataFrame, ns: list[int], min_growth: float, design: str) -> Claim:
    """gap-grows-with-n on the theorems' rates: per seed, the rate gap r(n) = s_shallow(n) -
    s_tree(n) (least-squares log-log slopes of error on parameters over the node widths), and
    its least-squares trend on log2 n over every n; t interval over seeds, against the least
    growth that counts (``min_growth`` per doubling of n)."""
    est = evidence.trend(
        np.log2(ns),
        gaps.to_numpy(float),
        statistic="slope on log2 n of the rate gap (shallow minus tree log-log error slope)",
    )
    return evidence.empirical(
        "poggio-2017.gap-grows-with-n",
        "The advantage of the tree-structured deep net over the shallow one grows with the "
        "number of inputs n: the shallow net's error falls ever more slowly with its size as n "
        "grows (O(eps^{-n/m}) units), the tree net's at a rate independent of n "
        "(O((n-1) eps^{-2/m})).",
        SRC,
        est,
        Region.at_least(min_growth),
        predicted=f"the rate gap widens by at least {min_growth:.3g} per doubling of n (theory "
        "for MSE: gap m - 2m/n, +3m/16 per doubling over n = 4..16)",
        tolerance=f"95% interval over seeds of the per-seed trend of the rate gap on log2 n "
        f"lies at or above {min_growth:.3g} (the least growth that counts, fixed before the "
        "confirmatory run)",
        note=f"{design} r(n) = s_shallow(n) - s_tree(n), s = least-squares slope of ln(relative "
        "test MSE) on ln(parameters) over the node widths of seed s; the estimate is the mean "
        "over seeds of each seed's least-squares slope of r on log2 n (over n = 4, 8, 16 it "
        "equals (r(16) - r(4)) / 2). Mean rate gap per n over seeds: "
        f"{_fmt_gap(gaps)}. Confirmatory: the idea came from the exploratory run (design "
        "9cf7256), so every stream is salted with 'confirm' (fresh targets, inputs, "
        "initialisations and sample order).",
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
                "slope >= 0.182 (min_growth = ln 1.2)",
                "faithfulness (issue 14): a stated minimal effect, so that a growth too small to "
                "matter (under 20% per doubling of n, under 1.44x from n = 4 to 16) cannot count "
                "as the theorems' growing gap, and a small one can fail",
            ),
            Change(
                CHANGED,
                "statistic and region",
                "per-seed trend on log2 n of ln A, A = geometric mean over the three budgets of "
                "shallow/tree error, region >= ln 1.2 per doubling, 8 seeds (design 9cf7256); "
                "result -0.082, 95% [-0.514, 0.351], inconclusive",
                "per-seed trend on log2 n of the rate gap r(n) = s_shallow(n) - s_tree(n) "
                "(log-log slopes of error on parameters over the budgets), region >= "
                f"{min_growth:.3g} per doubling (min_rate_growth); {CONFIRM_DESIGN}",
                "faithfulness to the theorems, which are about rates (units needed for accuracy "
                "eps: shallow O(eps^{-n/m}), tree O((n-1) eps^{-2/m})); averaging ln(ratio) over "
                "the budgets mixes the two rates with the constants, so the ratio's level can "
                "stay flat while its slope grows. The rate idea was seen in the exploratory "
                "run (shallow slopes -1.04, -0.52, -0.24 at n = 4, 8, 16; tree -1.3..-1.5), "
                "hence a confirmatory run on fresh draws; 20 seeds because the exploratory "
                "per-seed trend of r spread 0.54 (sd), giving a half-width of about 0.25",
            ),
        ),
    )
