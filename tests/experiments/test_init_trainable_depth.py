"""init-trainable-depth: the default design's grid, and its claim fed data it must hold and fail on.

The tables are built from the default config's grid of sigma_w^2 x depths with the theory's
``6 xi_c`` (only the cells the experiment trains: outside the factor-2 band), and outcomes drawn
by rule, so the numbers asserted are exact.
"""

from __future__ import annotations

import pandas as pd
import pytest

from depthlab.experiments.init_trainable_depth import (
    _COLUMNS,
    TrainableDepthConfig,
    _near,
    trainable_depth_claim,
)
from depthlab.runs import run_experiment
from depthlab.theory.meanfield import depth_scale


def _table(config: TrainableDepthConfig, trains) -> pd.DataFrame:
    """One row per tested net of ``config``'s grid; ``trains(sigma_w2, depth, limit, seed)``
    says whether that net reached the target."""
    rows = []
    for s2 in config.sigma_w2s:
        limit = 6 * depth_scale("tanh", s2, config.sigma_b2, "c")
        for depth in config.depths:
            if _near(depth, limit, config.band):
                continue
            for seed in range(config.seeds):
                rows.append(
                    {
                        "sigma_w2": s2,
                        "depth": depth,
                        "seed": seed,
                        "xi_c": limit / 6,
                        "six_xi_c": limit,
                        "predicted_trains": depth < limit,
                        "near_boundary": False,
                        "trained": bool(trains(s2, depth, limit, seed)),
                        "diverged": False,
                        "last_train_acc": 0.5,
                    }
                )
    return pd.DataFrame(rows, columns=_COLUMNS)


def test_default_grid_tests_50_nets_on_both_sides_of_criticality():
    cfg = TrainableDepthConfig()
    t = _table(cfg, lambda s2, d, lim, seed: d < lim)
    assert len(t) == 50
    untrainable = t[~t["predicted_trains"]]
    assert len(untrainable) == 20
    # predicted untrainable nets in the ordered (< 1.76) and in the chaotic (> 1.76) phase
    assert (untrainable["sigma_w2"] < 1.76).sum() == 16
    assert (untrainable["sigma_w2"] > 1.76).sum() == 4
    # every tested net is at most half or at least twice 6 xi_c
    ratio = t["depth"] / t["six_xi_c"]
    assert ((ratio <= 0.5) | (ratio >= 2.0)).all()


def test_claim_holds_when_nets_train_exactly_below_six_xi():
    cfg = TrainableDepthConfig()
    c = trainable_depth_claim(_table(cfg, lambda s2, d, lim, seed: d < lim), cfg)
    assert c.verdict == "holds" and c.unit == "nets" and c.n == 50
    assert c.estimate == 1.0
    assert c.interval[0] == pytest.approx(0.9288, abs=1e-3)
    assert c.history and "df8c127" in c.history[0].old


def test_claim_holds_with_four_disagreeing_nets_and_is_inconclusive_with_five():
    cfg = TrainableDepthConfig()
    # the critical nets at depth 32 and 64 (4 nets) fail to train in the budget
    c4 = trainable_depth_claim(
        _table(cfg, lambda s2, d, lim, seed: d < lim and not (s2 == 1.76 and d >= 32)), cfg
    )
    assert c4.estimate == pytest.approx(46 / 50) and c4.verdict == "holds"
    # ... and one ordered depth-16 net trains
    c5 = trainable_depth_claim(
        _table(
            cfg,
            lambda s2, d, lim, seed: (
                (d < lim and not (s2 == 1.76 and d >= 32)) or (s2 == 0.3 and d == 16 and seed == 0)
            ),
        ),
        cfg,
    )
    assert c5.estimate == pytest.approx(45 / 50) and c5.verdict == "inconclusive"


def test_claim_fails_when_depth_limits_nothing():
    cfg = TrainableDepthConfig()
    c = trainable_depth_claim(_table(cfg, lambda s2, d, lim, seed: True), cfg)
    assert c.estimate == pytest.approx(30 / 50)
    lo, hi = c.interval
    assert lo == pytest.approx(0.4518, abs=1e-3) and hi == pytest.approx(0.7359, abs=1e-3)
    assert c.verdict == "fails"


def test_claim_does_not_hold_when_a_fixed_depth_not_six_xi_limits_training():
    cfg = TrainableDepthConfig()
    # every net trains to depth 16 whatever its sigma_w^2, none deeper: the 4 ordered depth-16
    # nets train against the prediction and the 4 critical depth-32/64 nets do not
    c = trainable_depth_claim(_table(cfg, lambda s2, d, lim, seed: d <= 16), cfg)
    assert c.estimate == pytest.approx(42 / 50) and c.verdict == "inconclusive"
    # to depth 32: 10 ordered nets against, 2 critical depth-64 nets against
    c = trainable_depth_claim(_table(cfg, lambda s2, d, lim, seed: d <= 32), cfg)
    assert c.estimate == pytest.approx(38 / 50) and c.verdict == "inconclusive"


def test_tiny_run_trains_only_the_nets_outside_the_band(tmp_path):
    cfg = {
        "sigma_w2s": [0.5, 1.76, 25.0],
        "depths": [2, 4, 16],
        "width": 8,
        "seeds": 2,
        "max_epochs": 1,
        "n_train": 128,
    }
    res = run_experiment("init-trainable-depth", cfg, out_dir=tmp_path, device="cpu")
    t = res.tables["nets"]
    # sigma_w^2 = 0.5: 6 xi_c = 7.1, so depth 4 (> 3.6) is in the band and untrained;
    # 25: 6 xi_c = 19.7, so depth 16 (> 9.9) is in the band
    cells = set(zip(t["sigma_w2"], t["depth"], strict=True))
    assert cells == {(0.5, 2), (0.5, 16), (1.76, 2), (1.76, 4), (1.76, 16), (25.0, 2), (25.0, 4)}
    assert not t["near_boundary"].any() and len(t) == 14
    (claim,) = res.claims
    assert claim.n == 14 and claim.history
