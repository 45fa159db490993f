"""The landscape claims are decided by the shared rule and can fail (issue 13).

Each test feeds a claim builder synthetic per-seed data for which the claim must give ``fails``
(and the matching data for which it must hold), and pins every claim's id, kind and region.
"""

from __future__ import annotations

import pandas as pd
import pytest

from depthlab.experiments.landscape_interpolation import _worst_rise, interpolation_claims


def runs_table(rise_sb, rise_lb, lam_sb, lam_lb, acc_sb, acc_lb) -> pd.DataFrame:
    rows = []
    for seed, e in enumerate((0.0, 0.01, -0.01, 0.02, -0.02)):
        for tag, r, lam, acc in (("SB", rise_sb, lam_sb, acc_sb), ("LB", rise_lb, lam_lb, acc_lb)):
            rows.append(
                {
                    "seed": seed,
                    "regime": tag,
                    "rise": r + e / 10,
                    "lambda_max": lam + e,
                    "test_acc": acc + e / 5,
                    "train_loss": 0.09,
                    "reached": True,
                }
            )
    return pd.DataFrame(rows)


def mono_table(worst) -> pd.DataFrame:
    return pd.DataFrame(
        {"seed": range(5), "worst_rise": [worst, worst * 0.9, worst * 1.1, worst, worst]}
    )


def test_interpolation_claims_hold_on_keskar_like_data():
    claims = interpolation_claims(runs_table(0.01, 0.05, 2.0, 8.0, 0.8, 0.7), mono_table(0.0))
    assert {c.id: c.verdict for c in claims} == {
        "goodfellow-2015.monotone-init-to-final": "holds",
        "keskar-2017.large-batch-sharper": "holds",
        "keskar-2017.large-batch-larger-lambda-max": "holds",
        "keskar-2017.small-batch-generalizes": "holds",
    }
    assert all(c.kind == "empirical" and c.n == 5 for c in claims)
    assert claims[2].estimate == pytest.approx(6.0)
    assert (claims[0].region.lo, claims[0].region.hi) == (None, 0.01)
    assert all((c.region.lo, c.region.hi) == (0.0, None) for c in claims[1:])
    assert "Every run reached the target" in claims[1].note
    assert all(c.history and c.history[0].field == "design" for c in claims[1:])


def test_interpolation_claims_fail_when_large_batch_is_flatter_and_better():
    claims = interpolation_claims(runs_table(0.05, 0.01, 8.0, 2.0, 0.7, 0.8), mono_table(0.3))
    assert {c.verdict for c in claims} == {"fails"}


def test_worst_rise_is_relative_to_the_drop_and_one_without_a_drop():
    alpha = [-0.25, 0.0, 0.25, 0.5, 0.75, 1.0, 1.25]
    path = pd.DataFrame({"alpha": alpha, "loss": [3.0, 2.0, 1.5, 1.6, 1.0, 0.0, 0.5]})
    assert _worst_rise(path) == pytest.approx(0.1 / 2.0)
    flat = pd.DataFrame({"alpha": alpha, "loss": [1.0] * 7})
    assert _worst_rise(flat) == 1.0
