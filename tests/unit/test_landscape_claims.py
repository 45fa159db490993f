"""The landscape claims are decided by the shared rule and can fail (issue 13).

Each test feeds a claim builder synthetic per-seed data for which the claim must give ``fails``
(and the matching data for which it must hold), and pins every claim's id, kind and region.
"""

from __future__ import annotations

import pandas as pd
import pytest

from depthlab.experiments.landscape_interpolation import _worst_rise, interpolation_claims
from depthlab.experiments.landscape_skip import skip_claims

NOISE = (0.0, 0.01, -0.01)  # per-seed jitter, three seeds


def nets_table(nc_skip, nc_plain, acc_plain, acc_skip=0.9) -> pd.DataFrame:
    """One row per (depth, skip, seed): scores and accuracies given per depth, jittered by seed."""
    rows = []
    for i, depth in enumerate((6, 12, 20)):
        for seed, e in enumerate(NOISE):
            rows.append(
                {
                    "depth": depth,
                    "skip": True,
                    "seed": seed,
                    "nonconvexity": nc_skip[i] + e,
                    "ratio_center": 0.1,
                    "test_acc": acc_skip + e,
                }
            )
            rows.append(
                {
                    "depth": depth,
                    "skip": False,
                    "seed": seed,
                    "nonconvexity": nc_plain[i] + e / 2,
                    "ratio_center": 0.3,
                    "test_acc": acc_plain[i] + e,
                }
            )
    return pd.DataFrame(rows)


def verdicts(claims) -> dict[str, str]:
    return {c.id: c.verdict for c in claims}


def test_skip_claims_hold_on_li_et_al_like_data():
    claims = skip_claims(nets_table((0.05, 0.06, 0.05), (0.1, 0.3, 0.6), (0.85, 0.6, 0.4)))
    assert verdicts(claims) == {
        "li-2018.noskip-deep-less-convex": "holds",
        "li-2018.skip-alike-across-depth": "holds",
        "li-2018.noskip-accuracy-drops": "holds",
    }
    c = claims[0]
    assert c.kind == "empirical" and c.n == 3 and c.unit == "seeds"
    assert c.estimate == pytest.approx(0.55, abs=0.01)
    assert (c.region.lo, c.region.hi) == (0.10, None)
    assert (claims[1].region.lo, claims[1].region.hi) == (None, 0.10)
    assert (claims[2].region.lo, claims[2].region.hi) == (None, -0.02)
    # fitted change over depth 6..20: the slope of (0.85, 0.6, 0.4) on (6, 12, 20) times 14
    assert claims[2].estimate == pytest.approx(-0.4446, abs=1e-3)
    assert claims[0].history and claims[0].history[0].field == "tolerance"


def test_skip_claims_fail_when_the_plain_net_is_as_convex_alike_and_accurate():
    claims = skip_claims(nets_table((0.0, 0.3, 0.6), (0.0, 0.3, 0.6), (0.5, 0.7, 0.9)))
    assert verdicts(claims) == {
        "li-2018.noskip-deep-less-convex": "fails",
        "li-2018.skip-alike-across-depth": "fails",
        "li-2018.noskip-accuracy-drops": "fails",
    }


SEED_JITTER = (0.0, 0.01, -0.01, 0.02, -0.02, 0.005, -0.005, 0.0)  # eight seeds


def runs_table(sharp_sb, sharp_lb, lam_sb, lam_lb, acc_sb, acc_lb) -> pd.DataFrame:
    """One row per (seed, regime); sharpness jittered multiplicatively, accuracy by up to 0.4 pt."""
    rows = []
    for seed, e in enumerate(SEED_JITTER):
        for tag, sh, lam, acc in (
            ("SB", sharp_sb, lam_sb, acc_sb),
            ("LB", sharp_lb, lam_lb, acc_lb),
        ):
            rows.append(
                {
                    "seed": seed,
                    "regime": tag,
                    "sharpness": sh * (1 + (e if tag == "LB" else -e)),
                    "lambda_max": lam + e,
                    "test_acc": acc + (e if tag == "SB" else -e) / 5,
                    "train_loss": 0.12,
                    "reached": True,
                }
            )
    return pd.DataFrame(rows)


def mono_table(worst) -> pd.DataFrame:
    w = [worst, worst * 0.9, worst * 1.1, worst, worst, worst * 0.95, worst * 1.05, worst]
    return pd.DataFrame({"seed": range(8), "worst_rise": w})


def test_interpolation_claims_hold_on_keskar_like_data():
    # LB twice as sharp, λ_max 2 -> 8, a 5-point generalization gap
    claims = interpolation_claims(runs_table(0.1, 0.2, 2.0, 8.0, 0.80, 0.75), mono_table(0.0))
    assert {c.id: c.verdict for c in claims} == {
        "goodfellow-2015.monotone-init-to-final": "holds",
        "keskar-2017.large-batch-sharper": "holds",
        "keskar-2017.large-batch-larger-lambda-max": "holds",
        "keskar-2017.small-batch-generalizes": "holds",
    }
    assert all(c.kind == "empirical" and c.n == 8 for c in claims)
    sharp, lam, gen = claims[1], claims[2], claims[3]
    assert sharp.method == "paired t on logs"
    # geometric mean of (1 + e) / (1 - e) over the jitters, times 2
    assert sharp.estimate == pytest.approx(2.0003, abs=1e-3)
    assert lam.estimate == pytest.approx(6.0)
    assert gen.estimate == pytest.approx(0.05)
    assert (claims[0].region.lo, claims[0].region.hi) == (None, 0.01)
    assert (sharp.region.lo, sharp.region.hi) == (1.1, None)
    assert (lam.region.lo, lam.region.hi) == (0.0, None)
    assert (gen.region.lo, gen.region.hi) == (0.02, None)
    assert "Every run reached the target" in sharp.note
    for c in claims[1:]:
        assert c.history[0].field == "design" and c.history[-1].date == "2026-12-02"
        assert "956013e" in c.history[-1].old  # the previous design's result is recorded
    assert "956013e" in claims[0].history[0].old


def test_interpolation_claims_fail_when_large_batch_is_flatter_and_better():
    claims = interpolation_claims(runs_table(0.2, 0.1, 8.0, 2.0, 0.75, 0.80), mono_table(0.3))
    assert {c.verdict for c in claims} == {"fails"}


def test_keskar_claims_fail_on_effects_below_the_minimal_size():
    # LB only 3 % sharper and SB only half a point better: both positive, both below the
    # minimal effects (10 %, 2 points), with intervals wholly below them
    claims = interpolation_claims(runs_table(0.1, 0.103, 2.0, 8.0, 0.755, 0.75), mono_table(0.0))
    v = {c.id: c.verdict for c in claims}
    assert v["keskar-2017.large-batch-sharper"] == "fails"
    assert v["keskar-2017.small-batch-generalizes"] == "fails"
    sharp, gen = claims[1], claims[3]
    assert sharp.estimate == pytest.approx(1.03, abs=1e-3) and sharp.interval[1] < 1.1
    assert gen.estimate == pytest.approx(0.005) and gen.interval[1] < 0.02


def test_keskar_claims_straddling_the_minimal_effect_are_inconclusive():
    # a 2-point gap and a 10 % sharper LB sit on the boundaries: neither side is decided
    claims = interpolation_claims(runs_table(0.1, 0.11, 2.0, 8.0, 0.77, 0.75), mono_table(0.0))
    v = {c.id: c.verdict for c in claims}
    assert v["keskar-2017.large-batch-sharper"] == "inconclusive"
    assert v["keskar-2017.small-batch-generalizes"] == "inconclusive"


def test_sharpness_ratio_without_positive_values_has_no_interval():
    runs = runs_table(0.1, 0.2, 2.0, 8.0, 0.8, 0.75)
    runs.loc[0, "sharpness"] = -0.01
    sharp = interpolation_claims(runs, mono_table(0.0))[1]
    assert sharp.interval is None and sharp.verdict == "inconclusive" and sharp.n == 8


def test_worst_rise_is_relative_to_the_drop_and_one_without_a_drop():
    alpha = [-0.25, 0.0, 0.25, 0.5, 0.75, 1.0, 1.25]
    path = pd.DataFrame({"alpha": alpha, "loss": [3.0, 2.0, 1.5, 1.6, 1.0, 0.0, 0.5]})
    assert _worst_rise(path) == pytest.approx(0.1 / 2.0)
    flat = pd.DataFrame({"alpha": alpha, "loss": [1.0] * 7})
    assert _worst_rise(flat) == 1.0


def test_keskar_sharpness_is_the_relative_rise_averaged_over_directions_and_signs():
    import torch
    import torch.nn.functional as F
    from torch.func import functional_call

    from depthlab import landscape
    from depthlab.experiments.landscape_interpolation import keskar_sharpness

    g = torch.Generator().manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    for p in net.parameters():
        p.data = torch.randn(p.shape, generator=g, dtype=torch.float64)
    net = net.double().eval()
    x = torch.randn(64, 4, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (64,), generator=g)
    theta = dict(net.named_parameters())

    def loss(shift):
        with torch.no_grad():
            return float(F.cross_entropy(functional_call(net, shift, (x,)), y))

    l0 = loss(theta)
    rises = []
    for k in (3, 4):
        d = landscape.random_direction(net, seed=k).tensors
        for sign in (-1, 1):
            moved = {n: theta[n] + sign * 0.1 * d[n] for n in theta}
            rises.append((loss(moved) - l0) / (1 + l0))
    got = keskar_sharpness(net, F.cross_entropy, (x, y), step=0.1, seeds=[3, 4])
    assert got == pytest.approx(sum(rises) / 4, rel=1e-9)
    with pytest.raises(ValueError, match="at least one direction"):
        keskar_sharpness(net, F.cross_entropy, (x, y), step=0.1, seeds=[])
