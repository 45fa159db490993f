"""landscape-skip's three Li et al. claims are decided by the shared rule and can fail (issue 14),
and the basin non-convexity statistic scores the basin, not the bend into a plateau (float64)."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from depthlab import landscape
from depthlab.experiments._landscape_skip_claims import BASIN_LEVEL
from depthlab.experiments.landscape_skip import skip_claims

NOISE = (0.0, 0.01, -0.01, 0.02, -0.02)  # per-seed jitter, five seeds
DEPTHS = (8, 20, 32)


def nets_table(nc_skip, nc_plain, acc_plain, acc_skip=0.96) -> pd.DataFrame:
    """One row per (depth, skip, seed): basin scores and accuracies given per depth, jittered."""
    rows = []
    for i, depth in enumerate(DEPTHS):
        for seed, e in enumerate(NOISE):
            common = {"depth": depth, "seed": seed, "nonconvexity_grid": 0.2}
            rows.append(
                {
                    **common,
                    "skip": True,
                    "nonconvexity": nc_skip[i] + e,
                    "ratio_center": 0.001,
                    "test_acc": acc_skip + e,
                }
            )
            rows.append(
                {
                    **common,
                    "skip": False,
                    "nonconvexity": nc_plain[i] + e / 2,
                    "ratio_center": 0.03,
                    "test_acc": acc_plain[i] - e,
                }
            )
    return pd.DataFrame(rows)


def verdicts(claims) -> dict[str, str]:
    return {c.id: c.verdict for c in claims}


def test_skip_claims_hold_on_li_et_al_like_data():
    claims = skip_claims(nets_table((0.05, 0.06, 0.05), (0.05, 0.3, 0.6), (0.96, 0.8, 0.6)))
    assert verdicts(claims) == {
        "li-2018.noskip-deep-less-convex": "holds",
        "li-2018.skip-alike-across-depth": "holds",
        "li-2018.noskip-accuracy-drops": "holds",
    }
    assert all(c.kind == "empirical" and c.n == 5 and c.unit == "seeds" for c in claims)
    # depth 32: plain 0.6 + e/2, skip 0.05 + e -> mean difference 0.55 (the jitter sums to 0)
    assert claims[0].estimate == pytest.approx(0.55, abs=1e-9)
    assert claims[0].method == "paired t"
    # per-seed spread of (0.05, 0.06, 0.05) + e is 0.01 in every seed: a zero-width interval
    assert claims[1].estimate == pytest.approx(0.01, abs=1e-9)
    # depth 32 minus depth 8 without skips, paired by seed: 0.6 - 0.96 (the jitter cancels)
    assert claims[2].estimate == pytest.approx(-0.36, abs=1e-9)
    assert claims[2].interval == pytest.approx((-0.36, -0.36), abs=1e-9)
    assert (claims[0].region.lo, claims[0].region.hi) == (0.10, None)
    assert (claims[1].region.lo, claims[1].region.hi) == (None, 0.10)
    assert (claims[2].region.lo, claims[2].region.hi) == (None, -0.02)
    # each claim records the change of statistic, with the old design's result
    for c in claims:
        change = c.history[-1]
        assert change.field == "statistic" and change.date == "2026-12-02"
        assert "3cfede8" in change.old and "inconclusive" in change.old
        assert "basin" in change.new or "deepest" in change.new
    assert "0.03 (no skip) vs 0.001 (skip)" in claims[0].note


def test_skip_claims_fail_when_the_plain_net_is_as_convex_alike_and_accurate():
    # the plain net's basin is as convex as the skip net's, the skip nets' scores differ across
    # depth by 0.4, and the deep plain net is 3 points *more* accurate than the shallow one
    claims = skip_claims(nets_table((0.0, 0.2, 0.4), (0.0, 0.2, 0.4), (0.93, 0.95, 0.96)))
    assert verdicts(claims) == {
        "li-2018.noskip-deep-less-convex": "fails",
        "li-2018.skip-alike-across-depth": "fails",
        "li-2018.noskip-accuracy-drops": "fails",
    }
    assert claims[0].estimate == pytest.approx(0.0, abs=1e-9)
    assert claims[0].interval[1] < 0.10
    assert claims[1].estimate == pytest.approx(0.4, abs=1e-9)
    assert claims[2].estimate == pytest.approx(0.03, abs=1e-9)


def test_a_small_drop_through_noise_is_inconclusive_not_a_pass():
    # a 1-point mean drop with seed noise of +-4 points straddles the -0.02 region's edge
    t = nets_table((0.05, 0.05, 0.05), (0.05, 0.3, 0.6), (0.96, 0.95, 0.95))
    deep_plain = (t.depth == 32) & ~t.skip
    t.loc[deep_plain, "test_acc"] = [0.99, 0.91, 0.97, 0.93, 0.95]
    c = skip_claims(t)[2]
    assert c.estimate == pytest.approx(-0.01, abs=1e-9)
    assert c.verdict == "inconclusive"


def test_a_seed_without_a_basin_score_is_left_out_of_the_pairing():
    t = nets_table((0.05, 0.06, 0.05), (0.05, 0.3, 0.6), (0.96, 0.8, 0.6))
    t.loc[(t.depth == 32) & ~t.skip & (t.seed == 4), "nonconvexity"] = float("nan")
    c = skip_claims(t)[0]
    assert c.n == 4 and c.verdict == "holds"


def _surface(f, lo: float = -1.0, hi: float = 1.0, n: int = 41) -> landscape.Surface:
    grid = landscape.Grid.plane(lo, hi, n)
    pts = grid.points().to(torch.float64)
    loss = f(pts[:, 0], pts[:, 1]).view(grid.shape)
    return landscape.Surface(grid, loss, torch.full_like(loss, math.nan), (), {}, 0.0, n * n)


def test_basin_nonconvexity_scores_the_basin_not_the_bend_into_a_plateau():
    # a bowl that saturates at loss 10: radially concave where r^2 > s/2, i.e. where the loss is
    # above 10 (1 - e^-1/2) = 3.93 > ln 10, so the basin (loss <= ln 10) is convex
    s = 0.1
    bowl = _surface(lambda a, b: 10 * (1 - torch.exp(-(a**2 + b**2) / s)))
    assert bowl.loss.dtype == torch.float64
    assert landscape.nonconvexity(bowl) > 0.5  # the whole grid counts the bend
    assert landscape.basin_nonconvexity(bowl, BASIN_LEVEL) == 0.0
    # a saddle curves down everywhere; inside any basin the score is 1
    saddle = _surface(lambda a, b: 1.0 + a**2 - b**2)
    assert landscape.basin_nonconvexity(saddle, BASIN_LEVEL) == 1.0
    # a bowl with a ripple: the basin score is the fraction of basin points with f_aa < 0
    ripple = _surface(lambda a, b: a**2 + b**2 + 0.05 * torch.cos(20 * a), n=81)
    got = landscape.basin_nonconvexity(ripple, 1.0)
    f = ripple.loss[1:-1, 1:-1]
    a = torch.tensor(ripple.grid.alphas, dtype=torch.float64)[1:-1].view(-1, 1).expand_as(f)
    inside = f <= 1.0
    expected = float((2 - 20.0 * torch.cos(20 * a[inside]) < 0).double().mean())
    assert 0.3 < expected < 0.7
    assert got == pytest.approx(expected, abs=0.02)  # finite differences vs the exact f_aa
    # no interior point below the level: NaN
    assert math.isnan(landscape.basin_nonconvexity(bowl, -1.0))


def test_basin_nonconvexity_needs_a_2d_grid():
    grid = landscape.Grid.plane(-1, 1, 2)
    flat = landscape.Surface(
        grid, torch.zeros(2, 2, dtype=torch.float64), torch.zeros(2, 2), (), {}, 0.0, 4
    )
    with pytest.raises(ValueError, match="basin_nonconvexity needs a 2-D grid"):
        landscape.basin_nonconvexity(flat, 1.0)
