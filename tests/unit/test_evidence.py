"""The decision rule, the claim kinds, keyed random streams and the interval helpers."""

import math

import numpy as np
import pytest

from depthlab import evidence as ev
from depthlab.context import RunContext, check_seed, derive_seed
from depthlab.core import Change, Claim, Region, Result, decide


def test_decide_inside_outside_straddle_and_missing():
    r = Region(0.9, 1.1)
    assert decide((0.95, 1.05), r) == "holds"
    assert decide((1.2, 1.3), r) == "fails"
    assert decide((0.5, 0.8), r) == "fails"
    assert decide((1.0, 1.2), r) == "inconclusive"
    assert decide(None, r) == "inconclusive"
    assert decide((float("nan"), 1.0), r) == "inconclusive"
    assert decide((0.5, 2.0), Region.at_least(0.1)) == "holds"
    assert decide((-0.5, -0.1), Region.at_least(0.0)) == "fails"
    assert decide((-0.5, 0.1), Region.at_most(0.0)) == "inconclusive"


def test_region_validates_and_describes():
    with pytest.raises(ValueError, match="lo <= hi"):
        Region(2.0, 1.0)
    with pytest.raises(ValueError, match="nan"):
        Region(float("nan"), 1.0)
    assert Region.around(-2.0, 0.25) == Region(-2.25, -1.75)
    assert Region.at_least(0.75).describe() == ">= 0.75"


def _est(lo, hi):
    return ev.Estimate((lo + hi) / 2, lo, hi, 5, "t", "seeds", "s", (1.0, 2.0, 3.0, 4.0, 5.0))


def test_empirical_claim_cannot_carry_a_verdict_the_rule_rejects():
    with pytest.raises(ValueError, match="differs from the decision rule"):
        Claim(
            "x-2020.a",
            "s",
            "src",
            1.0,
            1.0,
            "t",
            "holds",
            kind="empirical",
            interval=(2.0, 3.0),
            region=Region(0.0, 1.0),
        )
    with pytest.raises(ValueError, match="needs a tolerance region"):
        Claim("x-2020.a", "s", "src", 1.0, 1.0, "t", "inconclusive", kind="empirical")
    with pytest.raises(ValueError, match="holds or fails"):
        Claim("x-2020.a", "s", "src", 1.0, 1.0, "t", "inconclusive", kind="construction")


def test_claim_round_trips_through_json_dict():
    c = ev.empirical(
        "x-2020.a",
        "s",
        "src",
        _est(0.9, 1.0),
        Region(0.5, None),
        predicted=1.0,
        tolerance=">= 0.5",
        history=[Change("2026-12-01", "tol", 0.4, 0.5, "why")],
    )
    d = c.to_dict()
    assert d["region"] == {"lo": 0.5, "hi": None} and d["interval"] == [0.9, 1.0]
    back = Claim.from_dict(d)
    assert back == c and back.verdict == "holds" and back.history[0].new == 0.5
    legacy = Claim.from_dict(
        {
            "id": "a",
            "statement": "s",
            "source": "x",
            "predicted": 1,
            "measured": 1,
            "tolerance": "t",
            "verdict": "fails",
        }
    )
    assert legacy.kind is None and legacy.region is None


def test_result_repr_counts_constructions_apart():
    res = Result(
        "e",
        {},
        claims=[
            ev.construction(
                "x-2020.c", "s", "src", True, predicted=1, measured=1, tolerance="exact"
            ),
            ev.empirical(
                "x-2020.e",
                "s",
                "src",
                _est(3.0, 4.0),
                Region(0.0, 1.0),
                predicted=0.5,
                tolerance="[0,1]",
            ),
        ],
    )
    assert "0 hold, 1 fail, 0 inconclusive; 1 constructions checked" in repr(res)
    frame = res.claims_frame()
    assert list(frame["interval_lo"].fillna(-1)) == [-1, 3.0]


def test_t_interval_matches_the_textbook_value():
    lo, hi = ev.t_interval([1.0, 2.0, 3.0])
    # mean 2, sd 1, se 1/sqrt(3), t_{0.975,2} = 4.302652729911275
    assert math.isclose(hi - 2.0, 4.302652729911275 / math.sqrt(3), rel_tol=1e-9)
    assert math.isclose(lo + hi, 4.0, rel_tol=1e-12)
    assert ev.t_interval([1.0]) is None


def test_one_sample_is_inconclusive_never_holds():
    c = ev.empirical(
        "x-2020.a", "s", "src", ev.mean([1.0]), Region(0.0, 2.0), predicted=1.0, tolerance="[0,2]"
    )
    assert c.verdict == "inconclusive" and c.interval is None


def test_slope_is_over_units_and_catches_the_wrong_rate():
    rng = np.random.default_rng(0)
    w = np.array([16, 32, 64, 128, 256])
    good = np.array([w**-2.0 * np.exp(rng.normal(0, 0.05, w.size)) for _ in range(5)])
    bad = np.array([w**-1.5 * np.exp(rng.normal(0, 0.05, w.size)) for _ in range(5)])
    region = Region.around(-2.0, 0.25)
    est = ev.slope(w, good, log_x=True, log_y=True)
    assert est.n == 5 and est.lo < -2.0 < est.hi
    assert (
        ev.empirical("x-2020.r", "s", "s", est, region, predicted=-2, tolerance="").verdict
        == "holds"
    )
    est_bad = ev.slope(w, bad, log_x=True, log_y=True)
    assert (
        ev.empirical("x-2020.r", "s", "s", est_bad, region, predicted=-2, tolerance="").verdict
        == "fails"
    )


def test_difference_ratio_fraction_and_bootstrap():
    d = ev.difference([3.0, 3.1, 2.9], [1.0, 1.1, 0.9])
    assert d.lo > 1.5 and d.hi < 2.5 and d.method == "welch"
    p = ev.difference([3.0, 3.2, 2.9], [1.0, 1.1, 0.9], paired=True)
    assert p.samples == pytest.approx((2.0, 2.1, 2.0))
    r = ev.ratio([2.0, 2.2, 1.8], [1.0, 1.1, 0.9], paired=True)
    assert r.value == pytest.approx(2.0) and r.lo == pytest.approx(2.0) == r.hi
    f = ev.fraction(10, 10)
    assert f.hi == 1.0 and f.lo == pytest.approx(0.025**0.1, rel=1e-9)
    lo, hi = ev.bootstrap(np.arange(20.0), np.mean, seed=1)
    assert lo < 9.5 < hi
    assert ev.bootstrap([1.0], np.mean) is None


def test_trend_uses_the_whole_series_not_endpoints():
    # a non-monotone series whose endpoints rise (3.65 -> 4.32) but whose middle dominates
    ys = [[3.65, 10.42, 4.32], [3.7, 10.2, 4.1]]
    est = ev.trend([1, 2, 3], ys)
    assert est.n == 2 and est.interval is not None
    noisy = [[1.0, 5.0, 1.2], [1.0, 0.5, 1.1], [1.0, 3.0, 0.9]]
    c = ev.empirical(
        "x-2020.t",
        "s",
        "s",
        ev.trend([1, 2, 3], noisy),
        Region.at_least(0.0),
        predicted="grows",
        tolerance="slope > 0",
    )
    assert c.verdict != "holds"


def test_samples_must_be_finite():
    with pytest.raises(ValueError, match="finite"):
        ev.mean([1.0, float("inf")])


def test_keyed_streams_are_independent_and_stable():
    a = derive_seed(0, "fit", 512, 0)
    assert a == derive_seed(0, "fit", 512, 0)
    assert a != derive_seed(0, "search", 5, 12, 1)
    assert derive_seed(0, 1) != derive_seed(0, "1") != derive_seed(0, 1.0)
    assert 0 <= derive_seed(2**63 - 1, 3) <= 2**63 - 1
    ctx = RunContext(seed=100_000_000_000_000)
    x = torch_randn(ctx.generator("a", 1))
    assert x == torch_randn(ctx.generator("a", 1)) and x != torch_randn(ctx.generator("a", 2))
    assert ctx.rng("a").random() != ctx.rng("b").random()


def torch_randn(g):
    import torch

    return float(torch.randn((), generator=g))


@pytest.mark.parametrize("bad", [-1, 2**63, True, 1.5, "3", None])
def test_bad_seeds_are_refused(bad):
    with pytest.raises(ValueError, match="seed must be"):
        check_seed(bad)


def _brute_hodges_lehmann(x, level=0.95):
    """Walsh averages by double loop; the signed-rank null by enumerating all 2**n sign vectors."""
    import itertools

    n = len(x)
    walsh = sorted((x[i] + x[j]) / 2 for i in range(n) for j in range(i, n))
    null = [
        sum(r for r, s in zip(range(1, n + 1), signs, strict=True) if s)
        for signs in itertools.product((0, 1), repeat=n)
    ]
    c = max(
        (t + 1 for t in range(len(walsh)) if sum(v <= t for v in null) / 2**n <= (1 - level) / 2),
        default=0,
    )
    m = len(walsh)
    mid = (walsh[(m - 1) // 2] + walsh[m // 2]) / 2
    return mid, (walsh[c - 1], walsh[m - c]) if c else None


def test_hodges_lehmann_matches_the_brute_force_walsh_computation_in_float64():
    rng = np.random.default_rng(3)
    for n in (6, 7, 8, 10, 12):
        x = rng.standard_cauchy(n).astype(np.float64)
        est = ev.hodges_lehmann(x)
        mid, iv = _brute_hodges_lehmann(x.tolist())
        assert est.value == mid and est.interval == iv and est.n == n
        assert isinstance(est.value, float) and est.samples == tuple(x.tolist())
    # at n = 8 the interval is [W_(4), W_(33)]: P(T <= 3) = 5/256 <= 0.025 < P(T <= 4) = 7/256
    assert ev._signed_rank_null_cdf(8)[3:5] == [5 / 256, 7 / 256]


def test_hodges_lehmann_reproduces_hollander_and_wolfe():
    # Hollander & Wolfe, Nonparametric Statistical Methods, Examples 3.1-3.3 (Hamilton depression
    # scale, n = 9): theta-hat = -0.46, the 96.1 % interval (-0.786, -0.010)
    x = [1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30]
    y = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29]
    est = ev.hodges_lehmann([b - a for a, b in zip(x, y, strict=True)], unit="patients")
    assert est.value == pytest.approx(-0.46, abs=1e-12)
    assert est.interval == pytest.approx((-0.786, -0.010), abs=1e-12)
    assert est.n == 9 and est.unit == "patients"
    assert 1 - 2 * ev._signed_rank_null_cdf(9)[5] == pytest.approx(0.961, abs=5e-4)


def test_hodges_lehmann_on_logs_is_a_ratio_and_small_n_has_no_interval():
    r = [0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 0.55, 0.65]
    est = ev.hodges_lehmann(r, log=True)
    on_logs = ev.hodges_lehmann(np.log(r))
    assert est.value == pytest.approx(math.exp(on_logs.value), rel=1e-15)
    assert est.interval == pytest.approx(tuple(math.exp(v) for v in on_logs.interval), rel=1e-15)
    assert est.samples == pytest.approx(tuple(np.log(r))) and "on logs" in est.method
    # one wild unit moves the estimate little, but it is 8 of the 36 Walsh averages
    wild = ev.hodges_lehmann([*r[:7], 100.0], log=True)
    assert wild.value < 0.8 and wild.interval[1] > 2.0
    assert ev.hodges_lehmann([1.0, 2.0, 3.0, 4.0, 5.0]).interval is None  # P(T = 0) = 1/32
    with pytest.raises(ValueError, match="positive"):
        ev.hodges_lehmann([1.0, -1.0], log=True)
