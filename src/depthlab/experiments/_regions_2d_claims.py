"""The claims and the Montúfar figure of ``regions-2d`` (:mod:`depthlab.experiments.regions_2d`),
built from its saved tables only, so tests can feed them data that must fail."""

from __future__ import annotations

import numpy as np
import pandas as pd

from depthlab import evidence
from depthlab.core import Region
from depthlab.experiments._regions_common import describe_depths, loglog_slopes, worst_depth_slope

SOURCE_2D = "Hanin & Rolnick 2019b (NeurIPS), Thm 1 and Fig. 1; lecture slide 25"
SOURCE_M = "Montúfar, Pascanu, Cho & Bengio 2014 (NeurIPS), Sec. 3 construction; lecture slide 25"
PER_AREA_SLOPE = Region.around(2.0, 0.5)
FAR_BELOW = Region.at_most(-1.0)


def regions_2d_claims(
    per_area: pd.DataFrame,
    mont: pd.DataFrame,
    rand: pd.DataFrame,
    config,
) -> tuple[list, pd.DataFrame]:
    """The four claims of ``regions-2d`` from its saved tables (``per_area``: ``depth, N, seed,
    per_area``; ``mont``: the construction's exact counts; ``rand``: random nets' counts)."""
    slopes = loglog_slopes(per_area, "per_area")
    est, worst, per_depth = worst_depth_slope(
        slopes, 2.0, "log-log slope of regions per unit area on N"
    )
    exact = bool((mont["n_regions"] == mont["formula"]).all())
    gap = mont["gap"].to_numpy(dtype=float)
    exceeds = bool(mont["n_regions"].iloc[-1] > mont["shallow_max_same_N"].iloc[-1])
    grows = bool(np.all(np.diff(np.log(gap)) > 0))
    top = mont.iloc[-1]
    frac = np.log10(rand["n_regions"].to_numpy(dtype=float) / float(top["n_regions"]))
    far = evidence.mean(
        frac, unit="nets", statistic="log10(random count / construction count) on [0, 1]^2"
    )
    p, last = config.montufar_p, config.montufar_last
    listing = ", ".join(
        f"L={int(r.hidden_layers)} (N={int(r.N)}): {int(r.n_regions)} vs {int(r.shallow_max_same_N)}"
        for r in mont.itertuples()
    )
    claims = [
        evidence.empirical(
            "hanin-rolnick-2019b.regions-per-area-n-squared",
            "In n_0 = 2 dimensions the number of regions per unit area grows like N^2 whatever "
            "the depth.",
            SOURCE_2D,
            est,
            PER_AREA_SLOPE,
            predicted=2.0,
            tolerance="95% interval over seeds of the log-log slope of regions per area on N, at "
            "the depth farthest from 2, inside [1.5, 2.5]",
            measured=describe_depths(per_depth),
            note="Unit: seed (one He-normal net per depth, N and seed on one plane through three "
            f"training inputs); decided at the least favourable depth (here depth {worst}).",
        ),
        evidence.construction(
            "montufar-2014.construction-count-exact",
            "Montúfar et al.'s folding construction on n_0 = 2 inputs has exactly "
            "p^(2 (L-1)) (1 + n_L + C(n_L, 2)) linear regions in the unit square.",
            SOURCE_M,
            exact,
            predicted=", ".join(str(int(v)) for v in mont["formula"]),
            measured=", ".join(str(int(v)) for v in mont["n_regions"]),
            tolerance="count_2d on [0, 1]^2 equals the formula exactly at every depth",
            note=f"p = {p} folds per coordinate (2p = {2 * p} units per folding layer), a last "
            f"layer of {last} units in general position; "
            f"{len(mont)} depths, 1 to {int(mont['hidden_layers'].max())} hidden layers.",
        ),
        evidence.construction(
            "montufar-2014.deep-exceeds-shallow-max",
            "A deep ReLU net on 2 inputs can have exponentially more linear regions than any "
            "one-hidden-layer net with the same number of neurons.",
            SOURCE_M,
            exceeds and grows,
            predicted="count / (1 + N + C(N, 2)) grows with every added layer and exceeds 1 at the "
            "deepest",
            measured=listing + f"; ratio at the deepest {float(top['gap']):.4g}",
            tolerance="exact: count (from count_2d) / shallow maximum strictly increasing at every "
            "added layer, and above 1 at the deepest",
            note="The shallow maximum is the hyperplane-arrangement count over the whole plane; "
            "the construction's count is within the unit square alone.",
        ),
        evidence.empirical(
            "hanin-rolnick-2019b.deep-far-below-max",
            "At initialization a deep net has far fewer regions than the maximum its depth "
            "allows, counted on the same window.",
            SOURCE_2D + "; " + SOURCE_M,
            far,
            FAR_BELOW,
            predicted="random count << construction count on the same window",
            tolerance="95% interval over nets of log10(random / construction) at most -1 (ten "
            "times fewer; fixed before the run)",
            measured=f"random {rand['hidden'].iloc[0]} nets: {rand['n_regions'].mean():.1f} regions "
            f"on [0, 1]^2 (mean of {len(rand)}; {rand['n_regions_wide'].mean():.1f} on "
            f"[-10, 10]^2) vs the construction's {int(top['n_regions'])} on [0, 1]^2",
            note="Same architecture and same window as the deepest construction; He-normal "
            f"weights, bias std {config.bias_std}. Unit: net.",
        ),
    ]
    return claims, slopes


def plot_montufar(mont, poly, rand, run_dir) -> dict[str, str]:
    """Counts against depth (construction, shallow maximum, random nets) and one construction map."""
    from depthlab.plots.common import new_figure, save_figure
    from depthlab.plots.regions import draw_region_map

    fig, axes = new_figure(ncols=2, width=4.8, height=4.2)
    ax = axes[0, 0]
    L = mont["hidden_layers"].to_numpy()
    ax.semilogy(L, mont["n_regions"], "o-", label="construction (count_2d, [0,1]^2)")
    ax.semilogy(L, mont["shallow_max_same_N"], "s--", label="one hidden layer, same N: max")
    ax.semilogy(
        np.full(len(rand), L[-1]), rand["n_regions"].clip(lower=1), "x", color="C3",
        label="random nets, same arch, [0,1]^2",
    )  # fmt: skip
    ax.set_xlabel("hidden layers L")
    ax.set_ylabel("linear regions")
    ax.set_title("Montufar et al. 2014: exponential in depth", fontsize=9)
    ax.legend(fontsize=7)
    draw_region_map(axes[0, 1], poly, title=str(poly["map"].iloc[0]))
    return {"montufar_counts": save_figure(fig, run_dir, "montufar_counts")}


__all__ = ["FAR_BELOW", "PER_AREA_SLOPE", "plot_montufar", "regions_2d_claims"]
