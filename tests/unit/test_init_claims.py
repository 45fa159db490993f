"""The init experiments' claims decide from intervals over nets or seeds, and can fail.

Each claim builder is fed synthetic per-net (per-seed) data generated under the claim's
alternative, for which it must give ``fails``, and data generated under the claim, for which it
must give ``holds``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from depthlab.experiments._init_claims import fm1_claim, fm1_slope, fm2_claims, residual_claims
from depthlab.experiments._init_evidence import net_bootstrap, origin_slope
from depthlab.experiments.init_residual import InitResidualConfig
from depthlab.experiments.init_signal import InitMeanConfig
from depthlab.experiments.init_trainability import TrainabilityConfig, trainability_claims
from depthlab.experiments.init_trainable_depth import (
    TrainableDepthConfig,
    trainable_depth_claim,
)
from depthlab.theory import signal as th


def _lognormal(rng, shape, sigma=0.3):
    """Positive noise with mean 1."""
    return np.exp(rng.normal(-(sigma**2) / 2, sigma, size=shape))


# ------------------------------------------------------------------------------- bootstrap
def test_net_bootstrap_resamples_nets_and_covers_the_mean():
    rng = np.random.default_rng(0)
    a = rng.normal(2.0, 1.0, size=(400, 3))
    est = net_bootstrap(a, lambda m: m[:, 0], np.random.default_rng(1), statistic_name="mean")
    assert est.n == 400 and est.unit == "nets"
    assert est.value == pytest.approx(a[:, 0].mean())
    lo, hi = est.interval
    # the bootstrap interval of a mean is about ± 1.96 sd / sqrt(K)
    half = 1.96 * a[:, 0].std(ddof=1) / math.sqrt(400)
    assert (hi - lo) / 2 == pytest.approx(half, rel=0.15)
    assert lo < a[:, 0].mean() < hi


def test_origin_slope_is_exact_on_a_line():
    x = np.array([1.0, 2.0, 3.0])
    assert origin_slope(x, np.stack([0.5 * x, -2 * x]))[1] == pytest.approx(-2.0)


# ------------------------------------------------------------------------------- init-mean
def _fm1_nets(true_slope, k=400, depths=20, seed=0):
    rng = np.random.default_rng(seed)
    d = np.arange(1, depths + 1)
    return np.exp(true_slope * d) * _lognormal(rng, (k, depths))


def test_fm1_slope_recovers_the_drift_and_holds_at_the_prediction():
    cfg = InitMeanConfig()
    est = fm1_slope(_fm1_nets(math.log(0.5)), np.random.default_rng(2))
    assert est.value == pytest.approx(math.log(0.5), abs=0.005)
    claim = fm1_claim("lecun_normal", est, math.log(0.5), cfg, 64, 20)
    assert claim.verdict == "holds" and claim.kind == "empirical" and claim.n == 400
    assert claim.region.lo == pytest.approx(math.log(0.5) - 0.025)
    assert claim.history and claim.interval[0] < claim.estimate < claim.interval[1]


def test_fm1_claim_fails_for_a_five_percent_variance_error():
    # a scheme with fan_in Var W / 2 = 0.95 drifts by log 0.95 = -0.051 per layer: not He
    est = fm1_slope(_fm1_nets(math.log(0.95)), np.random.default_rng(3))
    assert fm1_claim("he_normal", est, 0.0, InitMeanConfig(), 64, 20).verdict == "fails"


# --------------------------------------------------------------------------- init-variance
def _fm2_frame_and_units(second_power=1.0, z2_scale=1.0, kurt_power=1.0, k=3000, seed=0):
    rng = np.random.default_rng(seed)
    rows, m2, z2, z4 = [], [], [], []
    for n in (8, 12, 20, 40, 80):
        widths = [20] + [n] * 6
        x2 = math.log(th.second_moment_ratio(widths)[-1])
        xk = math.log(th.jacobian_kurtosis(widths)[-1] / 3)
        zp = th.jacobian_second_moment(widths)[-1]
        rows.append({"log_second_pred": x2, "log_jac_kurt_pred": xk, "jac_second_pred": zp})
        m2.append(math.exp(second_power * x2) * _lognormal(rng, k))
        z2_col = z2_scale * zp * _lognormal(rng, k, 0.2)
        z2.append(z2_col)
        z4.append(3 * math.exp(kurt_power * xk) * z2_col.mean() ** 2 * _lognormal(rng, k, 0.2))
    units = {"m2": np.stack(m2, 1), "z2": np.stack(z2, 1), "z4": np.stack(z4, 1)}
    return pd.DataFrame(rows), units


def _fm2(**kw):
    df, units = _fm2_frame_and_units(**kw)
    claims = fm2_claims(df, units, lambda *key: np.random.default_rng(len(key)))
    return {c.id.split(".")[-1]: c for c in claims}


def test_fm2_claims_hold_on_data_drawn_from_the_theory():
    claims = _fm2()
    assert {c.verdict for c in claims.values()} == {"holds"}
    assert all(c.kind == "empirical" and c.n == 3000 and c.unit == "nets" for c in claims.values())


def test_fm2_second_moment_collapse_fails_off_the_curve():
    assert _fm2(second_power=1.5)["second-moment-collapse"].verdict == "fails"


def test_fm2_kurtosis_collapse_fails_off_the_curve():
    assert _fm2(kurt_power=1.5)["jacobian-kurtosis-collapse"].verdict == "fails"


def test_fm2_jacobian_second_moment_flat_fails_when_it_moves():
    assert _fm2(z2_scale=1.3)["jacobian-second-moment-flat"].verdict == "fails"


# --------------------------------------------------------------------------- init-residual
def _residual_units(schedule, blocks, k=1000, seed=0):
    """(K, len(blocks)) per-net M_L/M_0 with mean prod(1 + eta_l^2) of ``schedule(L)``."""
    rng = np.random.default_rng(seed)
    preds = np.array([th.residual_mean_ratio(schedule(L))[-1] for L in blocks])
    return preds * _lognormal(rng, (k, len(blocks)), 0.2), preds


def _residual(schedules, blocks=(10, 50, 200)):
    cfg = InitResidualConfig(blocks=list(blocks))
    units, preds, labels = {}, {}, {}
    for i, (slug, sched, power) in enumerate(schedules):
        u, p = _residual_units(sched, blocks, seed=i)
        units[slug], preds[slug], labels[slug] = u**power, p, slug
    claims = residual_claims(units, preds, labels, cfg, lambda *key: np.random.default_rng(7))
    return {c.id.split(".")[-1]: c for c in claims}


def test_residual_claims_hold_on_the_product_and_bounded_schedules():
    claims = _residual(
        [
            ("eta-one", lambda L: [1.0] * L, 1.0),
            ("eta-inv-sqrt-depth", lambda L: [L**-0.5] * L, 1.0),
            ("eta-geometric", lambda L: [0.9**i for i in range(1, L + 1)], 1.0),
        ]
    )
    assert {c.verdict for c in claims.values()} == {"holds"}, {
        k: (c.verdict, c.estimate, c.interval) for k, c in claims.items()
    }


def test_residual_bounded_fails_for_an_unbounded_sum_of_squares():
    # eta_l = l^(-1/2): sum eta_l^2 ~ log L is unbounded and E[M_L] = L + 1 grows
    claims = _residual(
        [
            ("eta-inv-sqrt-depth", lambda L: [i**-0.5 for i in range(1, L + 1)], 1.0),
            ("eta-geometric", lambda L: [0.9**i for i in range(1, L + 1)], 1.0),
        ]
    )
    assert claims["bounded"].verdict == "fails"


def test_residual_product_claim_fails_off_the_product():
    claims = _residual(
        [
            ("eta-one", lambda L: [1.0] * L, 0.8),
            ("eta-geometric", lambda L: [0.9**i for i in range(1, L + 1)], 1.0),
        ]
    )
    assert claims["eta-one"].verdict == "fails"


# ------------------------------------------------------------------------ init-trainability
def _grid(he_diag, he_narrow, lecun, depths=(8, 16, 32), narrow=8, seeds=5, seed=0, trunc=None):
    """A per-net table; each argument maps depth -> mean epochs, plus noise over seeds."""
    rng = np.random.default_rng(seed)
    rows = []
    for d in depths:
        cells = [("he_normal", d, he_diag[d]), ("lecun_normal", d, lecun[d])]
        if trunc is not None:
            cells.append(("trunc_normal_naive", d, trunc[d]))
        if d != narrow:
            cells.append(("he_normal", narrow, he_narrow[d]))
        for scheme, width, mu in cells:
            for s in range(seeds):
                e = float(max(1.0, mu + rng.normal(0, 0.3)))
                rows.append(
                    {
                        "scheme": scheme,
                        "depth": d,
                        "width": width,
                        "seed": s,
                        "beta": d / width,
                        "epochs_to_target": e,
                        "reached": True,
                        "steps_per_epoch": 16,
                    }
                )
    return pd.DataFrame(rows)


def _trainability(df, schemes=("he_normal", "lecun_normal")):
    cfg = TrainabilityConfig(schemes=list(schemes))
    return {c.id.split(".", 2)[-1]: c for c in trainability_claims(df, cfg)}


def test_trainability_claims_hold_when_beta_and_drift_decide():
    df = _grid({8: 3, 16: 3, 32: 3}, {16: 10, 32: 31}, {8: 6, 16: 20, 32: 31})
    claims = _trainability(df)
    assert claims["tracks-beta"].verdict == "holds"
    assert claims["width-grows-with-depth"].verdict == "holds"
    assert claims["drift.lecun-normal"].verdict == "holds"
    assert claims["drift.lecun-normal"].n == 5 and claims["drift.lecun-normal"].unit == "seeds"


def test_trainability_claims_fail_when_depth_not_beta_decides():
    # epochs grow with depth at constant beta, not at the fixed width; LeCun as fast as He
    df = _grid({8: 3, 16: 9, 32: 15}, {16: 3, 32: 3}, {8: 3, 16: 9, 32: 15})
    claims = _trainability(df)
    assert claims["tracks-beta"].verdict == "fails"
    assert claims["width-grows-with-depth"].verdict == "fails"
    assert claims["drift.lecun-normal"].verdict == "fails"


def test_trunc_naive_drift_claim_holds_when_slower_than_he_and_fails_when_as_fast():
    schemes = ("he_normal", "lecun_normal", "trunc_normal_naive")
    he, narrow, lecun = {8: 3, 16: 3, 32: 3}, {16: 10, 32: 31}, {8: 6, 16: 20, 32: 31}
    slow = _trainability(_grid(he, narrow, lecun, trunc={8: 3, 16: 5, 32: 12}), schemes)
    claim = slow["drift.trunc-normal-naive"]
    assert claim.verdict == "holds" and claim.n == 5
    assert claim.estimate == pytest.approx(9.0, abs=0.6)  # 12 - 3 epochs at depth 32, paired
    fast = _trainability(_grid(he, narrow, lecun, trunc={8: 3, 16: 3, 32: 3}), schemes)
    assert fast["drift.trunc-normal-naive"].verdict == "fails"
    assert abs(fast["drift.trunc-normal-naive"].estimate) < 0.6


# ---------------------------------------------------------------------- init-trainable-depth
def _depth_grid(agree_with_theory: bool, seeds: int = 3) -> pd.DataFrame:
    rows = []
    for s2, limit in ((0.5, 7.1), (1.76, 3e4), (9.0, 26.9)):
        for depth in (4, 16, 64):
            for seed in range(seeds):
                pred = depth < limit
                rows.append(
                    {
                        "sigma_w2": s2,
                        "depth": depth,
                        "seed": seed,
                        "six_xi_c": limit,
                        "predicted_trains": pred,
                        "near_boundary": limit / 1.5 < depth < limit * 1.5,
                        # the alternative: depth does not limit training, every net trains
                        "trained": pred if agree_with_theory else True,
                    }
                )
    return pd.DataFrame(rows)


def test_trainable_depth_claim_holds_when_nets_train_below_six_xi_and_fails_otherwise():
    cfg = TrainableDepthConfig(depths=[4, 16, 64], sigma_w2s=[0.5, 1.76, 9.0])
    c = trainable_depth_claim(_depth_grid(True, seeds=5), cfg)
    assert c.verdict == "holds" and c.kind == "empirical" and c.unit == "nets"
    assert c.estimate == 1.0 and c.n == 45  # no cell of this grid is within 1.5x of 6 xi_c
    bad = trainable_depth_claim(_depth_grid(False, seeds=10), cfg)
    assert bad.estimate == pytest.approx(2 / 3)  # the 3 cells beyond 6 xi_c disagree
    assert bad.verdict == "fails"


def test_fit_surviving_drops_a_diverging_net_and_trains_the_rest_as_alone():
    import torch

    from depthlab.data.base import Dataset
    from depthlab.experiments._init_training import fit_surviving
    from depthlab.init import initialize
    from depthlab.nets import mlp
    from depthlab.train import TrainConfig
    from depthlab.train_batched import fit_batched

    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 5, generator=g)
    y = (x[:, 0] > 0).long()
    data = Dataset(x, y, x, y, "classification")
    tc = TrainConfig(optimizer="sgd", lr=0.1, momentum=0.9, epochs=3, batch_size=16)

    def nets():
        out = []
        for i in range(3):
            m = mlp([5, 8, 2])
            initialize(m, "he_normal", torch.Generator().manual_seed(i))
            out.append(m)
        with torch.no_grad():
            out[1][0].weight.fill_(1e38)  # overflows at the first forward: loss is not finite
        return out

    def orders(idx):
        return [torch.Generator().manual_seed(10 + i) for i in idx]

    reached, finals, diverged = fit_surviving(nets(), orders, data, tc)
    assert diverged == [False, True, False] and finals[1] == {} and reached[1] is None
    alone = fit_batched([nets()[0], nets()[2]], data, tc, generators=orders([0, 2]))
    assert finals[0]["test_loss"] == pytest.approx(alone.finals[0]["test_loss"], rel=1e-6)
    assert finals[2]["test_loss"] == pytest.approx(alone.finals[1]["test_loss"], rel=1e-6)


def test_trainability_lr_scan_picks_fewest_mean_epochs_ties_to_smaller_lr():
    from depthlab.experiments._init_training import pick_lr

    # means: 0.003 -> 31 (censored), 0.01 -> 6, 0.03 -> 4, 0.05 -> 4.5 (one seed censored)
    toy = pd.DataFrame(
        {
            "lr": [0.003] * 3 + [0.01] * 3 + [0.03] * 3 + [0.05] * 3,
            "epochs_to_target": [31, 31, 31, 5, 6, 7, 3, 4, 5, 2, 2, 9.5],
        }
    )
    assert pick_lr(toy) == 0.03
    # a tie between 0.01 and 0.03 (both 4) goes to the smaller lr
    tie = toy.assign(epochs_to_target=[31, 31, 31, 3, 4, 5, 4, 4, 4, 9, 9, 9])
    assert pick_lr(tie) == 0.01


def test_trainability_note_names_the_scanned_lrs_and_the_design_change():
    df = _grid({8: 3, 16: 3, 32: 3}, {16: 10, 32: 31}, {8: 6, 16: 20, 32: 31})
    df["lr"] = [
        0.01 if w == 8 and d > 8 else 0.03 for d, w in zip(df["depth"], df["width"], strict=True)
    ]
    claim = _trainability(df)["tracks-beta"]
    assert "8x8: 0.03, 16x8: 0.01, 16x16: 0.03" in claim.note
    assert "draws confirmatory" in claim.note
    last = claim.history[-1]
    assert last.field == "learning rate and draws" and "5.95 [1.07, 10.83]" in last.old
