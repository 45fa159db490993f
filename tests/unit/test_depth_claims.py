"""The repaired claims of the multiplication and mimic experiments (issues 13 and 14).

Each claim is fed data for which it must fail, and data for which it must hold; the ids, kinds
and tolerance regions are pinned so that a change shows in review.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from depthlab.core import Region, decide
from depthlab.experiments import _mimic_claims as mc
from depthlab.experiments import _multiplication_claims as mul
from depthlab.experiments._multiplication_config import MultiplicationConfig
from depthlab.experiments._multiplication_heat import product_is_sample
from depthlab.theory.multiplication import depth_k_bound

CFG = MultiplicationConfig(heat_n=6)  # bounds 64 (k = 1), 20 (k = 2, 3)


def _minima(per_k: dict[int, list[float | None]], max_tried: float = 128) -> pd.DataFrame:
    """A per-seed minima table as ``minima_per_seed`` builds it; None marks a censored search."""
    rows = []
    for k, values in per_k.items():
        for s, v in enumerate(values):
            rows.append(
                {
                    "k": k,
                    "seed": s,
                    "min_neurons": float("nan") if v is None else float(v),
                    "max_tried": max_tried,
                    "bound_thm51": depth_k_bound(6, k),
                }
            )
    return pd.DataFrame(rows)


# ---- multiplication: the empirical claims -------------------------------------------------------


def test_depth_claim_holds_when_shallow_needs_far_more_neurons():
    c = mul.depth_claim(_minima({1: [128, 128, 128], 2: [32, 32, 32], 3: [32, 64, 32]}), CFG)
    assert c.kind == "empirical" and c.n == 3
    assert c.verdict == "holds"
    assert c.estimate == pytest.approx(2.0)
    # seed-to-seed spread on the doubling grid widens the t interval (2 df): not decided
    c = mul.depth_claim(_minima({1: [128, 128, 64], 2: [32, 32, 32], 3: [32, 64, 32]}), CFG)
    assert c.verdict == "inconclusive" and c.estimate == pytest.approx(5 / 3)


def test_depth_claim_fails_when_depth_does_not_help():
    c = mul.depth_claim(_minima({1: [32, 32, 32], 2: [32, 64, 32], 3: [64, 32, 32]}), CFG)
    assert c.verdict == "fails"
    assert c.interval[1] < 1


def test_depth_claim_counts_censoring_against_itself():
    # shallow censored: filled at 2 x 128 = 256, the lowest it can be
    m = _minima({1: [None, None, None], 2: [32, 32, 32], 3: [None, None, None]})
    assert list(mul.depth_samples(m)) == [3.0, 3.0, 3.0]
    # every deep depth censored: no evidence for the claim (<= 0), even if shallow is censored too
    m = _minima({1: [None, 64, None], 2: [None, None, None], 3: [None, None, None]})
    s = mul.depth_samples(m)
    assert (s <= 0).all() and s[1] == math.log2(64 / 256)
    assert mul.depth_claim(m, CFG).verdict != "holds"


def test_bound_claim_holds_within_twice_the_bound_and_fails_far_above_it():
    ok = mul.bound_claim(_minima({1: [None] * 3, 2: [32, 32, 32], 3: [32, 32, 16]}), CFG)
    assert ok.verdict == "holds"  # log2(32 / 20) = 0.68 <= 1
    assert ok.estimate == pytest.approx(math.log2(32 / 20))
    bad = mul.bound_claim(_minima({1: [None] * 3, 2: [128, 128, 64], 3: [128, 128, 128]}), CFG)
    assert bad.verdict == "fails"  # log2(128 / 20) = 2.7


def test_bound_claim_never_passes_a_censored_depth():
    m = _minima({1: [None] * 3, 2: [16, 16, 16], 3: [None, None, None]}, max_tried=8)
    assert (mul.bound_samples(m) >= 2).all()  # 4 x bound, though 2 x 8 = 16 < 2 x 20
    assert mul.bound_claim(m, CFG).verdict == "fails"


def test_learned_claims_need_both_depths():
    only_shallow = _minima({1: [8, 8, 8]})
    assert mul.depth_claim(only_shallow, CFG) is None
    assert mul.bound_claim(only_shallow, CFG) is None


# ---- multiplication: the constructions ---------------------------------------------------------


def _gates(power: float) -> pd.DataFrame:
    lam = np.array([0.2, 0.1, 0.05, 0.025])
    return pd.DataFrame(
        [
            {"gate": g, "activation": a, "lam": v, "max_abs_err": 0.3 * v**power}
            for g in ("multiply", "square")
            for a in ("softplus", "tanh")
            for v in lam
        ]
    )


def test_gate_construction_holds_for_lambda_squared_and_fails_for_lambda():
    assert mul.gate_claim(_gates(2.0)).verdict == "holds"
    c = mul.gate_claim(_gates(1.0))
    assert c.kind == "construction" and c.verdict == "fails"


def test_tree_construction_fails_on_a_wrong_count():
    good = pd.DataFrame(
        {
            "n": [2, 4],
            "neurons": [4, 12],
            "neurons_predicted": [4, 12],
            "layers": [1, 2],
            "layers_predicted": [1, 2],
            "shallow_exact": [4, 16],
            "rel_rms_err": [1e-6, 2e-6],
        }
    )
    assert mul.tree_claim(good).verdict == "holds"
    bad = good.assign(neurons=[4, 16])
    c = mul.tree_claim(bad)
    assert c.kind == "construction" and c.verdict == "fails"


def test_fresh_samples_estimate_the_relative_mse_without_bias():
    # the constant predictor f = E[y] = 1 (f' = 0) has relative MSE Var(y) / Var(y) = 1
    g = torch.Generator().manual_seed(0)
    x, y, w = product_is_sample(6, (4, 50_000), g)
    assert x.shape == (4, 50_000, 6) and y.shape == w.shape == (4, 50_000)
    assert float(x.min()) >= -1 and float(x.max()) <= 1
    est = (w * y**2).mean(dim=1)
    assert torch.allclose(est, torch.ones(4), atol=0.05), est
    var_p = (4 / 3) ** 6 - 1
    s2 = 0.5 * var_p + 0.5 * (2.4**6 - 2 * 1.5**6 + 1)
    assert float(w.max()) <= 2 * s2 / var_p * (1 + 1e-6)  # p/q <= 2, times s^2 / Var(y)


# ---- mimic ---------------------------------------------------------------------------------------


def _per_seed(snn, deep, single, ensemble, transfer) -> dict[str, np.ndarray]:
    a = np.asarray
    return {
        "teacher": a([0.84, 0.85, 0.83]),
        "SNN": a(snn),
        "deep": a(deep),
        "mimic_single": a(single),
        "mimic_ensemble": a(ensemble),
        "mimic_transfer": a(transfer),
    }


def _mimic(**kw) -> dict[str, str]:
    base = dict(
        snn=[0.55, 0.54, 0.56],
        deep=[0.55, 0.56, 0.54],
        single=[0.44, 0.45, 0.44],
        ensemble=[0.47, 0.47, 0.47],
        transfer=[0.66, 0.67, 0.65],
    )
    base.update(kw)
    claims = mc.mimic_claims(_per_seed(**base), "SNN", "deep", 0.89, design="test.")
    return {c.id: c.verdict for c in claims}


def test_mimic_claims_hold_on_a_clear_gain():
    assert _mimic() == {mc.BEATS_ID: "holds", mc.SAME_PARAMS_ID: "holds", mc.ENSEMBLE_ID: "holds"}


def test_mimic_beats_labels_fails_when_the_mimic_is_worse():
    v = _mimic(transfer=[0.44, 0.45, 0.43])
    assert v[mc.BEATS_ID] == "fails"
    assert v[mc.SAME_PARAMS_ID] == "fails"  # 11 points below the deep net


def test_a_tie_never_holds():
    v = _mimic(transfer=[0.55, 0.54, 0.56], ensemble=[0.44, 0.45, 0.44])
    assert v[mc.BEATS_ID] == "fails" and v[mc.ENSEMBLE_ID] == "fails"


def test_same_params_claim_allows_two_points_and_no_more():
    deep = [0.55, 0.55, 0.55]
    assert _mimic(transfer=[0.545, 0.54, 0.545], deep=deep)[mc.SAME_PARAMS_ID] == "holds"
    assert _mimic(transfer=[0.50, 0.51, 0.50], deep=deep)[mc.SAME_PARAMS_ID] == "fails"


def test_without_a_transfer_set_the_augmented_row_decides_and_says_so():
    ps = _per_seed([0.55] * 3, [0.55] * 3, [0.44] * 3, [0.47] * 3, [0.6, 0.61, 0.62])
    ps["mimic_extra"] = ps.pop("mimic_transfer")
    claims = {c.id: c for c in mc.mimic_claims(ps, "SNN", "deep", 0.9, design="d.")}
    assert "augmented copies" in claims[mc.BEATS_ID].note


# ---- pins ----------------------------------------------------------------------------------------


def test_claim_ids_kinds_and_regions_are_pinned():
    assert (mul.DEPTH_ID, mul.DEPTH_REGION) == (
        "rolnick-tegmark-2018.learned.shallow-exponential",
        Region(1.0, None),
    )
    assert (mul.BOUND_ID, mul.BOUND_REGION) == (
        "rolnick-tegmark-2018.thm51.learned-within-bound",
        Region(None, 1.0),
    )
    assert (mul.GATE_TOL, mul.TREE_TOL) == (0.2, 1e-3)
    assert mc.BEATS_REGION == Region(0.01, None)
    assert mc.ENSEMBLE_REGION == Region(0.005, None)
    assert mc.SAME_PARAMS_REGION == Region(-0.02, None)
    assert decide((0.0, 0.0), mc.ENSEMBLE_REGION) == "fails"
