"""The region claims are decided by the shared rule and can fail: each is fed data that must fail."""

import math

import numpy as np
import pandas as pd
import pytest

from depthlab.config import ConfigError
from depthlab.experiments.regions_2d import Regions2DConfig, regions_2d_claims
from depthlab.experiments.regions_density import (
    DensityConfig,
    density_claims,
    distance_claim,
)
from depthlab.experiments.regions_training import training_claim
from depthlab.theory import regions as bounds

NS = [64, 128, 256, 512]
DEPTHS = [1, 2, 4, 8]


def _segments(power: float, c_of_depth, seeds: int = 5, noise: float = 0.03) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for d in DEPTHS:
        for n in NS:
            for s in range(seeds):
                for seg in range(3):
                    dens = c_of_depth(d) * n**power * math.exp(rng.normal(0, noise))
                    rows.append({"depth": d, "N": n, "seed": s, "segment": seg, "density": dens})
    return pd.DataFrame(rows)


def _by_id(claims):
    return {c.id: c for c in claims}


def test_density_claims_hold_on_linear_depth_free_data():
    c = _by_id(density_claims(_segments(1.0, lambda d: 0.25))[0])
    lin = c["hanin-rolnick-2019a.thm1.density-linear-in-n"]
    assert lin.verdict == "holds" and lin.kind == "empirical" and lin.n == 5
    assert lin.estimate == pytest.approx(1.0, abs=0.05)
    assert c["hanin-rolnick-2019a.thm1.density-depth-independent"].verdict == "holds"


def test_density_linear_fails_on_square_root_growth():
    c = _by_id(density_claims(_segments(0.5, lambda d: 0.25))[0])
    lin = c["hanin-rolnick-2019a.thm1.density-linear-in-n"]
    assert lin.verdict == "fails" and lin.interval[1] < 0.75


def test_density_linear_fails_when_one_depth_departs():
    # depth 8 grows like N^1.5, the others like N: decided at the least favourable depth
    df = _segments(1.0, lambda d: 0.25)
    deep = df["depth"] == 8
    df.loc[deep, "density"] *= np.sqrt(df.loc[deep, "N"])
    lin = _by_id(density_claims(df)[0])["hanin-rolnick-2019a.thm1.density-linear-in-n"]
    assert lin.verdict == "fails" and "depth 8" in lin.statistic


def test_density_depth_independence_fails_when_depth_drives_it():
    c = _by_id(density_claims(_segments(1.0, lambda d: 0.05 * 2**d))[0])
    spread = c["hanin-rolnick-2019a.thm1.density-depth-independent"]
    assert spread.verdict == "fails" and spread.estimate == pytest.approx(2**7, rel=0.1)


def _distances(power: float, seeds: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    ns = [192, 384, 768, 1920]
    rows = [
        {
            "depth": d,
            "N": n,
            "seed": s,
            "mean_distance": 5.0 * n**power * math.exp(rng.normal(0, 0.03)),
        }
        for d in DEPTHS
        for n in ns
        for s in range(seeds)
    ]
    return pd.DataFrame(rows)


def test_distance_claim_holds_on_one_over_n_and_fails_on_the_wrong_rate():
    good = distance_claim(_distances(-1.0))[0]
    assert good.verdict == "holds" and good.n == 5 and good.region.lo == -1.2
    bad = distance_claim(_distances(-0.6))[0]
    assert bad.verdict == "fails" and bad.interval[0] > -0.8


def test_distance_claim_with_one_seed_is_inconclusive():
    assert distance_claim(_distances(-1.0, seeds=1))[0].verdict == "inconclusive"


def _montufar_table(p=3, last=6, folds=(0, 1, 2, 3, 4)):
    rows = []
    for f in folds:
        n = bounds.montufar_construction_units(p, f, last)
        count = bounds.montufar_construction_count(p, f, last)
        rows.append(
            {
                "folds": f,
                "hidden_layers": f + 1,
                "N": n,
                "n_regions": count,
                "formula": count,
                "shallow_max_same_N": bounds.shallow_max(2, n),
                "gap": count / bounds.shallow_max(2, n),
            }
        )
    return pd.DataFrame(rows)


def _per_area(power: float):
    rng = np.random.default_rng(2)
    rows = [
        {"depth": d, "N": n, "seed": s, "per_area": 0.01 * n**power * math.exp(rng.normal(0, 0.05))}
        for d in (1, 2, 4)
        for n in (24, 48, 96, 192)
        for s in range(5)
    ]
    return pd.DataFrame(rows)


def _random(counts, construction=144342):
    return pd.DataFrame(
        {
            "seed": range(len(counts)),
            "hidden": "6-6-6-6-6",
            "N": 30,
            "n_regions": counts,
            "n_regions_wide": [3 * c for c in counts],
            "construction": construction,
        }
    )


CFG = Regions2DConfig()


def test_regions_2d_claims_hold_on_the_expected_data():
    claims, _ = regions_2d_claims(
        _per_area(2.0), _montufar_table(), _random([80, 32, 79, 42, 37, 77, 137, 159, 92, 61]), CFG
    )
    c = _by_id(claims)
    assert [x.kind for x in claims] == ["empirical", "construction", "construction", "empirical"]
    assert all(x.verdict == "holds" for x in claims), [(x.id, x.verdict) for x in claims]
    far = c["hanin-rolnick-2019b.deep-far-below-max"]
    assert far.n == 10 and far.estimate < -3


def test_per_area_fails_on_linear_growth():
    claims, _ = regions_2d_claims(_per_area(1.0), _montufar_table(), _random([50] * 3 + [60]), CFG)
    assert _by_id(claims)["hanin-rolnick-2019b.regions-per-area-n-squared"].verdict == "fails"


def test_deep_far_below_max_fails_when_random_nets_come_close():
    # random nets reaching a third of the construction's count in the same window
    claims, _ = regions_2d_claims(
        _per_area(2.0), _montufar_table(), _random([48000, 50000, 47000, 52000]), CFG
    )
    far = _by_id(claims)["hanin-rolnick-2019b.deep-far-below-max"]
    assert far.verdict == "fails" and far.interval[0] > -1


def test_montufar_constructions_fail_on_a_wrong_count_or_no_gap():
    wrong = _montufar_table()
    wrong.loc[2, "n_regions"] = 1781
    c = _by_id(regions_2d_claims(_per_area(2.0), wrong, _random([80, 90]), CFG)[0])
    assert c["montufar-2014.construction-count-exact"].verdict == "fails"
    flat = _montufar_table()
    flat["n_regions"] = flat["shallow_max_same_N"]  # no better than one hidden layer
    flat["gap"] = 1.0
    c = _by_id(regions_2d_claims(_per_area(2.0), flat, _random([80, 90]), CFG)[0])
    assert c["montufar-2014.deep-exceeds-shallow-max"].verdict == "fails"


def _training(ratio: float, seeds: int = 5):
    rng = np.random.default_rng(3)
    rows = []
    for s in range(seeds):
        d0 = 1.5 * math.exp(rng.normal(0, 0.1))
        for e, d in (
            (0, d0),
            (15, d0 * math.sqrt(ratio)),
            (30, d0 * ratio * math.exp(rng.normal(0, 0.05))),
        ):
            rows.append({"seed": s, "epoch": e, "density": d, "test_acc": 0.1 + e / 50})
    return pd.DataFrame(rows)


def test_training_claim_holds_near_one_and_fails_on_a_threefold_change():
    assert training_claim(_training(1.1)).verdict == "holds"
    bad = training_claim(_training(3.0))
    assert bad.verdict == "fails" and bad.estimate == pytest.approx(3.0, rel=0.1)


@pytest.mark.parametrize("value", [math.inf, math.nan, -0.1, 0.0, 1e9])
def test_bias_std_garbage_is_refused(value):
    with pytest.raises(ConfigError, match="bias_std"):
        DensityConfig.build({"bias_std": value}, quick=True)


def test_montufar_folds_must_fit_max_regions_and_increase():
    with pytest.raises(ConfigError, match="max_regions"):
        Regions2DConfig.build({"montufar_folds": [0, 9]})
    with pytest.raises(ConfigError, match="increasing"):
        Regions2DConfig.build({"montufar_folds": [2, 1]})


@pytest.mark.parametrize(
    "name", ["regions-density", "regions-distance", "regions-2d", "regions-training"]
)
def test_paper_scale_configs_validate(name):
    from depthlab.experiments import get_experiment

    cfg = get_experiment(name).Config.paper()
    seeds = getattr(cfg, "seeds", None) or getattr(cfg, "sweep_seeds", None)
    assert seeds >= 10


def test_one_depth_cannot_decide_depth_independence():
    df = _segments(1.0, lambda d: 0.25)
    c = _by_id(density_claims(df[df["depth"] == 2])[0])
    assert c["hanin-rolnick-2019a.thm1.density-depth-independent"].verdict == "inconclusive"


# Every region claim's id, kind and tolerance region, pinned: a change shows in review.
PINNED = {
    "hanin-rolnick-2019a.thm1.density-linear-in-n": ("empirical", 0.75, 1.25),
    "hanin-rolnick-2019a.thm1.density-depth-independent": ("empirical", None, 2.0),
    "hanin-rolnick-2019a.thm3.distance-one-over-n": ("empirical", -1.2, -0.8),
    "hanin-rolnick-2019b.regions-per-area-n-squared": ("empirical", 1.5, 2.5),
    "montufar-2014.construction-count-exact": ("construction", None, None),
    "montufar-2014.deep-exceeds-shallow-max": ("construction", None, None),
    "hanin-rolnick-2019b.deep-far-below-max": ("empirical", None, -1.0),
    "hanin-rolnick-2019a.training-density-same-order": ("empirical", 0.5, 2.0),
}


def test_region_claims_ids_kinds_and_regions_are_pinned():
    claims = (
        density_claims(_segments(1.0, lambda d: 0.25))[0]
        + [distance_claim(_distances(-1.0))[0]]
        + regions_2d_claims(_per_area(2.0), _montufar_table(), _random([80, 90]), CFG)[0]
        + [training_claim(_training(1.0))]
    )
    got = {
        c.id: (c.kind, *((c.region.lo, c.region.hi) if c.region else (None, None))) for c in claims
    }
    assert got == PINNED
    assert all(c.history == () for c in claims)  # no tolerance changed after a result
