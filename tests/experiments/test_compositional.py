"""The compositional experiment's design (issue 14) and its claims fed data: the gap claim holds
on a clear growth and fails on none or on a growth below the stated minimal effect."""

import numpy as np
import pandas as pd
import pytest
import torch

from depthlab.context import RunContext
from depthlab.experiments.compositional import (
    CompositionalConfig,
    CompositionalTargets,
    _data,
    budget_for,
    size_for_budget,
)

SEEDS = 8
CFG = CompositionalConfig()


def _adv(comp_by_n, ctrl_by_n, noise=0.05, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for target, by_n in (("compositional", comp_by_n), ("control", ctrl_by_n)):
        for n, r in by_n.items():
            for s in range(SEEDS):
                v = r * np.exp(noise * rng.standard_normal())
                rows.append(
                    {"target": target, "n": n, "seed": s, "shallow_over_tree": v}
                    | {"shallow_over_deep": 1.0}
                )
    return pd.DataFrame(rows)


def _claims(adv):
    return {c.id: c for c in CompositionalTargets.claims(adv, CFG)}


GAP = "poggio-2017.gap-grows-with-n"


def test_default_design_is_the_committed_one():
    assert CFG.ns == [4, 8, 16] and CFG.node_widths == [2, 4, 8]
    assert CFG.seeds == 8 and CFG.steps == 1000 and CFG.batch_size == 128
    assert CFG.min_growth == pytest.approx(np.log(1.2))
    # every model at n is matched to the tree's (n - 1)(4m + 1) parameters
    assert [budget_for(16, m) for m in CFG.node_widths] == [135, 255, 495]
    assert size_for_budget("tree", 16, budget_for(16, 8)) == 8
    assert size_for_budget("shallow", 16, 495) == 27  # 16*27 + 27 + 27 + 1 = 487


def test_gap_claim_holds_on_a_doubling_advantage():
    c = _claims(_adv({4: 2.0, 8: 4.0, 16: 8.0}, {4: 1.0, 8: 1.0, 16: 1.0}))[GAP]
    assert c.verdict == "holds" and c.n == SEEDS
    assert c.estimate == pytest.approx(np.log(2), rel=0.1)
    assert c.interval[0] > np.log(1.2)


def test_gap_claim_fails_on_a_growth_below_the_minimal_effect():
    # 5 % more advantage per doubling of n, tight across seeds: real but below ln 1.2 = 0.182
    c = _claims(_adv({4: 2.0, 8: 2.1, 16: 2.205}, {4: 1.0, 8: 1.0, 16: 1.0}, noise=0.02))[GAP]
    assert c.estimate == pytest.approx(np.log(1.05), abs=0.03)
    assert c.interval[1] < np.log(1.2)
    assert c.verdict == "fails"


def test_gap_claim_fails_on_a_flat_advantage_and_is_inconclusive_on_noise():
    flat = _claims(_adv({4: 4.0, 8: 4.0, 16: 4.0}, {4: 1.0, 8: 1.0, 16: 1.0}))[GAP]
    assert flat.verdict == "fails" and abs(flat.estimate) < 0.05
    noisy = _claims(_adv({4: 2.0, 8: 2.4, 16: 2.9}, {4: 1.0, 8: 1.0, 16: 1.0}, noise=0.8))[GAP]
    assert noisy.verdict == "inconclusive"


def test_design_changes_are_recorded_with_the_old_results():
    c = _claims(_adv({4: 2.0, 8: 4.0, 16: 8.0}, {4: 1.0, 8: 1.0, 16: 1.0}))
    gap = {h.field: h for h in c[GAP].history}
    assert "-0.464" in gap["design"].old and "inconclusive" in gap["design"].old
    assert gap["region"].old == "slope >= 0"
    for cid, old in (
        ("poggio-2017.tree-beats-shallow", "4.35"),
        ("poggio-2017.control-advantage-shrinks", "4.97"),
    ):
        design = [h for h in c[cid].history if h.field == "design"]
        assert design and old in design[0].old and design[0].date == "2026-12-02"


def test_each_seed_draws_its_own_target_on_fresh_samples():
    cfg = CompositionalConfig(seeds=3, steps=10, batch_size=8, n_test=32)
    d = _data("compositional", 4, cfg, RunContext(seed=0))
    assert d.x_train.shape == (80, 4)  # steps x batch_size: one epoch, every step fresh
    assert d.y_train.shape == (3, 80, 1) and d.y_test.shape == (3, 32, 1)
    assert not torch.allclose(d.y_train[0], d.y_train[1])
    # standardised per seed: relative MSE is the MSE
    assert torch.allclose(d.y_train.mean(dim=1), torch.zeros(3, 1), atol=1e-5)
    assert torch.allclose(d.y_train.std(dim=1), torch.ones(3, 1), atol=1e-4)
