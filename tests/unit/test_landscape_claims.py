"""The landscape claims are decided by the shared rule and can fail (issue 13).

Each test feeds a claim builder synthetic per-seed data for which the claim must give ``fails``
(and the matching data for which it must hold), and pins every claim's id, kind and region.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from depthlab.experiments.landscape_interpolation import _worst_rise, interpolation_claims


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
        assert c.history[0].field == "design" and c.history[-2].date == "2026-12-02"
        assert "956013e" in c.history[-2].old  # the previous design's result is recorded
    assert "956013e" in claims[0].history[0].old
    for c in claims:  # every claim records the power change 8 -> 16 seeds and the 8-seed result
        last = c.history[-1]
        assert (last.date, last.field, last.new) == ("2026-12-02", "seeds", "16")
        assert last.old.startswith("8 ") and "427743c" in last.old
        assert "0.0075, 95% [-0.0067, 0.0216]" in last.old and "power" in last.reason


def test_interpolation_default_design_has_sixteen_seeds():
    from depthlab.experiments.landscape_interpolation import InterpolationConfig

    cfg = InterpolationConfig()
    assert cfg.seeds == 16
    assert (cfg.sharpness_dirs, cfg.sharpness_step, cfg.n_test) == (32, 0.1, 5000)


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


def gap_tables(mean_gap: float, n: int, sd: float = 0.017) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``n`` seeds whose paired SB - LB accuracy differences have mean ``mean_gap`` and sample SD
    ``sd`` exactly (half the seeds +a, half -a); sharpness and λ_max as in a Keskar-like run."""
    a = sd * math.sqrt((n - 1) / n)
    rows = []
    for seed in range(n):
        d = mean_gap + (a if seed % 2 else -a)
        for tag, sh, lam, acc in (("SB", 0.1, 2.0, 0.77 + d), ("LB", 0.2, 8.0, 0.77)):
            rows.append(
                {
                    "seed": seed,
                    "regime": tag,
                    "sharpness": sh * (1 + 0.01 * (seed % 3)),
                    "lambda_max": lam + 0.1 * (seed % 3),
                    "test_acc": acc,
                    "train_loss": 0.12,
                    "reached": True,
                }
            )
    return pd.DataFrame(rows), pd.DataFrame({"seed": range(n), "worst_rise": [0.0] * n})


def test_sixteen_seeds_decide_the_gap_that_eight_left_open():
    # the 8-seed result: gap 0.75 pt at a per-seed SD of 1.7 pt straddles the 2-point boundary
    gen8 = interpolation_claims(*gap_tables(0.0075, 8))[3]
    assert gen8.verdict == "inconclusive" and gen8.n == 8
    assert gen8.interval[0] == pytest.approx(0.0075 - 0.014212, abs=1e-5)
    assert gen8.interval[1] == pytest.approx(0.0075 + 0.014212, abs=1e-5)
    # the same gap and SD over 16 seeds: half-width t_15 * 0.017 / 4 = 0.00906, wholly below 2 pt
    gen16 = interpolation_claims(*gap_tables(0.0075, 16))[3]
    assert gen16.verdict == "fails" and gen16.n == 16
    assert gen16.estimate == pytest.approx(0.0075)
    assert (
        gen16.interval[1] == pytest.approx(0.0075 + 0.0090583, abs=1e-5)
        and gen16.interval[1] < 0.02
    )
    # a Keskar-sized gap of 3.5 points at the same SD holds over 16 seeds
    held = interpolation_claims(*gap_tables(0.035, 16))[3]
    assert held.verdict == "holds" and held.interval[0] == pytest.approx(
        0.035 - 0.0090583, abs=1e-5
    )


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
