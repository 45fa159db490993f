"""The claims of universal-approximation, sawtooth-depth-separation and compositional, fed data.

Each repaired claim gets data for which it must hold and data for which it must fail, so a claim
that cannot fail shows here. The ids, kinds and regions are pinned: a change shows in review.
"""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from depthlab.experiments.compositional import CompositionalConfig, CompositionalTargets
from depthlab.experiments.sawtooth_separation import SawtoothConfig, SawtoothDepthSeparation
from depthlab.experiments.universal_approximation import UAConfig, UniversalApproximation

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "helpers"))
from compositional_runs import fake_runs

SEEDS = 5


def _ua_sweep(exponents: dict[str, float], widths, noise=0.03, seed=0) -> pd.DataFrame:
    """RMSE = c * width^p per target, with a multiplicative per-(seed, width) wobble."""
    rng = np.random.default_rng(seed)
    rows = []
    for target, p in exponents.items():
        for s in range(SEEDS):
            for w in widths:
                rmse = 0.5 * w**p * np.exp(noise * rng.standard_normal())
                rows.append({"target": target, "width": w, "seed": s, "rmse": rmse})
    return pd.DataFrame(rows)


def _ua(claims):
    return {c.id: c for c in claims}


UA_CFG = UAConfig(seeds=SEEDS)


def test_ua_rate_holds_at_width_minus_two_on_both_targets():
    sweep = _ua_sweep({"sinusoid": -2.0, "runge": -2.0}, UA_CFG.widths)
    c = _ua(UniversalApproximation.claims(sweep, UA_CFG))
    for cid in ("de-boor-1978.shallow-rate", "de-boor-1978.shallow-rate-runge"):
        assert c[cid].kind == "empirical" and c[cid].n == SEEDS
        assert c[cid].verdict == "holds", c[cid]
        assert c[cid].estimate == pytest.approx(-2.0, abs=0.05)
    assert c["lecture-s15.shallow-error-falls"].verdict == "holds"


def test_ua_rate_fails_at_width_minus_one_and_a_half():
    sweep = _ua_sweep({"sinusoid": -1.5, "runge": -2.0}, UA_CFG.widths)
    c = _ua(UniversalApproximation.claims(sweep, UA_CFG))
    assert c["de-boor-1978.shallow-rate"].verdict == "fails"
    assert c["de-boor-1978.shallow-rate"].interval[0] > -1.75
    assert c["de-boor-1978.shallow-rate-runge"].verdict == "holds"
    other = _ua(
        UniversalApproximation.claims(
            _ua_sweep({"sinusoid": -2.0, "runge": -2.6}, UA_CFG.widths), UA_CFG
        )
    )
    assert other["de-boor-1978.shallow-rate-runge"].verdict == "fails"
    assert other["de-boor-1978.shallow-rate"].verdict == "holds"


def test_ua_error_falls_fails_when_one_target_does_not_fall():
    sweep = _ua_sweep({"sinusoid": -2.0, "runge": -0.1}, UA_CFG.widths)
    c = _ua(UniversalApproximation.claims(sweep, UA_CFG))
    falls = c["lecture-s15.shallow-error-falls"]
    assert falls.verdict == "fails" and falls.estimate == pytest.approx(-0.1, abs=0.05)


def test_ua_rate_is_inconclusive_with_a_note_when_too_few_widths_qualify():
    cfg = UAConfig(widths=[1, 4, 16, 64, 128], n_train=512, seeds=SEEDS)
    sweep = _ua_sweep({"sinusoid": -2.0, "runge": -2.0}, cfg.widths)
    rate = _ua(UniversalApproximation.claims(sweep, cfg))["de-boor-1978.shallow-rate"]
    assert rate.verdict == "inconclusive" and rate.interval is None
    assert "only 2 width(s) >= 64" in rate.measured and "at least 3 widths" in rate.note


def test_ua_regions_are_pinned():
    sweep = _ua_sweep({"sinusoid": -2.0, "runge": -2.0}, UA_CFG.widths)
    c = _ua(UniversalApproximation.claims(sweep, UA_CFG))
    assert (c["de-boor-1978.shallow-rate"].region.lo, c["de-boor-1978.shallow-rate"].region.hi) == (
        -2.25,
        -1.75,
    )
    assert c["lecture-s15.shallow-error-falls"].region.hi == -0.5
    assert c["lecture-s15.shallow-error-falls"].region.lo is None
    assert len(c["de-boor-1978.shallow-rate"].history) == 1


def test_ua_config_refuses_a_readout_with_too_few_points():
    from depthlab.config import ConfigError

    with pytest.raises(ConfigError, match="n_train"):
        UAConfig.build({"widths": [1, 512], "n_train": 512})
    with pytest.raises(ConfigError, match="widths"):
        UAConfig.build({"widths": [4, 4]})


# ---------------------------------------------------------------- sawtooth


def _needed(per_fold: float, ks=(3, 4, 5, 6), noise=0.1, seed=0) -> pd.DataFrame:
    """Width needed = 4 * 2^(per_fold * k), jittered per seed."""
    rng = np.random.default_rng(seed)
    rows = []
    for k in ks:
        for s in range(SEEDS):
            w = int(round(4 * 2 ** (per_fold * k + noise * rng.standard_normal())))
            rows.append({"k": k, "seed": s, "width_needed": w, "pieces_trained": w + 1})
    return pd.DataFrame(rows)


SAW_CFG = SawtoothConfig(seeds=SEEDS)


def test_width_claim_holds_for_doubling_and_fails_for_slow_growth():
    up = SawtoothDepthSeparation.width_claim(_needed(1.0), SAW_CFG)
    assert up.id == "telgarsky-2016.shallow-width-exponential" and up.kind == "empirical"
    assert up.verdict == "holds" and up.estimate == pytest.approx(1.0, abs=0.15)
    assert up.region.lo == 0.75 and up.region.hi is None
    slow = SawtoothDepthSeparation.width_claim(_needed(0.3), SAW_CFG)
    assert slow.verdict == "fails" and slow.interval[1] < 0.75


def test_width_claim_drops_unreached_folds_and_is_inconclusive_when_nothing_is_reached():
    needed = _needed(1.0)
    needed.loc[needed.k == 6, "width_needed"] = None
    assert SawtoothDepthSeparation.width_claim(needed, SAW_CFG).n == SEEDS
    needed["width_needed"] = None
    claim = SawtoothDepthSeparation.width_claim(needed, SAW_CFG)
    assert claim.verdict == "inconclusive" and "no seed reached" in claim.measured


def test_sawtooth_constructions_fail_on_wrong_counts():
    exact = pd.DataFrame(
        {"k": [1, 2, 3], "pieces": [2, 4, 7], "expected": [2, 4, 8]}
        | {"breakpoints_at_i_over_2k": [True, True, True]}
    )
    bad = SawtoothDepthSeparation.exact_claim(exact)
    assert bad.kind == "construction" and bad.verdict == "fails"
    exact.loc[2, "pieces"] = 8
    assert SawtoothDepthSeparation.exact_claim(exact).verdict == "holds"
    needed = _needed(1.0)
    assert SawtoothDepthSeparation.pieces_claim(needed).verdict == "holds"
    needed.loc[0, "pieces_trained"] = needed.loc[0, "width_needed"] + 2
    over = SawtoothDepthSeparation.pieces_claim(needed)
    assert over.kind == "construction" and over.verdict == "fails"


# ---------------------------------------------------------------- compositional


COMP_CFG = CompositionalConfig(seeds=SEEDS)


def _comp(adv, ctrl, gap):
    runs = fake_runs(adv, ctrl, gap, seeds=SEEDS)
    return {c.id: c for c in CompositionalTargets.claims(runs, COMP_CFG)}


def test_compositional_claims_hold_when_the_tree_advantage_is_large_and_its_rate_gap_grows():
    c = _comp({4: 2.0, 8: 4.0, 16: 8.0}, {4: 1.0, 8: 1.0, 16: 1.0}, {4: 0.2, 8: 0.6, 16: 1.0})
    assert all(x.kind == "empirical" and x.n == SEEDS for x in c.values())
    assert c["poggio-2017.tree-beats-shallow"].verdict == "holds"
    assert c["poggio-2017.tree-beats-shallow"].estimate == pytest.approx(4.0, rel=0.05)
    assert c["poggio-2017.gap-grows-with-n"].verdict == "holds"
    assert c["poggio-2017.gap-grows-with-n"].estimate == pytest.approx(0.4, abs=0.03)
    assert c["poggio-2017.control-advantage-shrinks"].verdict == "holds"
    assert c["poggio-2017.tree-beats-shallow"].region.lo == 1.5
    assert c["poggio-2017.gap-grows-with-n"].region.lo == pytest.approx(0.1)


def test_compositional_claims_fail_on_no_advantage_a_narrowing_rate_gap_and_a_better_control():
    c = _comp({4: 1.0, 8: 0.8, 16: 0.6}, {4: 2.0, 8: 2.0, 16: 2.0}, {4: 0.6, 8: 0.4, 16: 0.2})
    assert c["poggio-2017.tree-beats-shallow"].verdict == "fails"
    assert c["poggio-2017.gap-grows-with-n"].verdict == "fails"
    assert c["poggio-2017.gap-grows-with-n"].estimate == pytest.approx(-0.2, abs=0.03)
    assert c["poggio-2017.control-advantage-shrinks"].verdict == "fails"


def test_gap_trend_uses_every_n_not_two_endpoints():
    # endpoints rise (0.2 -> 0.3) but the middle collapses: the old two-endpoint rule said "holds"
    flat = {4: 1.0, 8: 1.0, 16: 1.0, 32: 1.0}
    c = _comp(flat, flat, {4: 0.2, 8: -0.8, 16: 0.3, 32: -0.7})
    assert c["poggio-2017.gap-grows-with-n"].verdict == "fails"


# ---------------------------------------------------------------- the paper scale's code path

PAPER_SMALL = {
    "universal-approximation": {"widths": [1, 4, 16, 32], "seeds": 2, "n_train": 128}
    | {"rate_min_width": 4},
    "sawtooth-depth-separation": {"exact_ks": [1, 2], "fit_ks": [3, 4], "seeds": 2}
    | {"max_width": 64, "deep_steps": 0},
    "compositional": {"ns": [4, 8], "node_widths": [2, 3], "seeds": 2, "steps": 5}
    | {"batch_size": 16, "n_test": 64},
}


@pytest.mark.parametrize("name", sorted(PAPER_SMALL))
def test_paper_scale_builds_and_runs_at_tiny_sizes(name, tmp_path):
    from depthlab.experiments import get_experiment
    from depthlab.runs import run_experiment

    paper = get_experiment(name).Config.paper()
    assert paper.seeds >= 10  # the papers' scale: more seeds than the CPU default
    r = run_experiment(
        name, PAPER_SMALL[name], out_dir=tmp_path / name, scale="paper", device="cpu"
    )
    assert r.meta["scale"] == "paper"
    assert all(c.kind in ("empirical", "construction") for c in r.claims)
    assert all((c.n or 0) == 2 for c in r.claims if c.kind == "empirical")
