"""The claims of the curvature experiments, fed data for which they must hold and must fail.

Each claim is built from synthetic tables shaped like the experiment's own, so a claim that
cannot fail shows here. Ids, kinds and regions are pinned: a change shows in review.
"""

import math

import numpy as np
import pandas as pd
import pytest

from depthlab.experiments._curvature_common import light_mean_field
from depthlab.experiments.curvature_length import CurveLengthDepth, LengthDepthConfig
from depthlab.experiments.curvature_phase import PhaseDiagram, PhaseDiagramConfig
from depthlab.experiments.curvature_relu import (
    ReluHeConfig,
    ReluHeLength,
    TransitionsConfig,
    TransitionsVsLength,
)
from depthlab.experiments.curvature_width import CurveLengthWidth, LengthWidthConfig
from depthlab.theory import meanfield as mf

NETS = 5


def _by_id(claims):
    return {c.id: c for c in claims}


# ------------------------------------------------------------------ curve-length-depth

CHI = {1.3: 0.940, 2.5: 1.585, 4.0: 2.367}


def _depth_tables(ratio_scale: float, noise: float = 0.003, curv_scale: float = 1.0, seed=0):
    """Per-net lengths growing by ratio_scale * sqrt(chi_1) per layer; curvature at the recursion
    times curv_scale, with a per-net multiplicative wobble."""
    rng = np.random.default_rng(seed)
    cfg = LengthDepthConfig(seeds=NETS, depth=10)
    rows, curv = [], []
    for sw, chi in CHI.items():
        r = ratio_scale * math.sqrt(chi)
        pred_k = mf.curvature_recursion(cfg.depth + 1, chi, 0.1, 1.0)
        for s in range(NETS):
            lr = math.log(r) + noise * rng.standard_normal()
            for layer in range(1, cfg.depth + 2):
                rows.append(
                    {"sigma_w": sw, "seed": s, "layer": layer, "length": math.exp(lr * layer)}
                )
                curv.append(
                    {
                        "sigma_w": sw,
                        "seed": s,
                        "layer": layer,
                        "kbar": pred_k[layer - 1]
                        * curv_scale
                        * math.exp(0.01 * rng.standard_normal()),
                        "kbar_predicted": pred_k[layer - 1],
                    }
                )
    theory = pd.DataFrame({"sigma_w": list(CHI), "chi_1": list(CHI.values())})
    return pd.DataFrame(rows), pd.DataFrame(curv), theory, cfg


def test_poole_ratio_holds_at_sqrt_chi1_and_fails_five_percent_off():
    lengths, curv, theory, cfg = _depth_tables(1.0)
    c = _by_id(CurveLengthDepth.claims(lengths, curv, theory, cfg)[0])
    ratio = c["poole-2016.length-ratio-sqrt-chi1"]
    assert ratio.kind == "empirical" and ratio.n == NETS and ratio.unit == "nets"
    assert ratio.verdict == "holds", ratio
    assert (ratio.region.lo, ratio.region.hi) == (None, 0.03)
    assert c["poole-2016.curvature-recursion"].verdict == "holds"
    assert (
        c["poole-2016.curvature-recursion"].region.lo,
        c["poole-2016.curvature-recursion"].region.hi,
    ) == (None, 0.2)
    assert "poole-2016.exponential-growth-iff-chaotic" not in c  # merged into the ratio claim
    off = _by_id(CurveLengthDepth.claims(*_depth_tables(1.06))[0])
    assert off["poole-2016.length-ratio-sqrt-chi1"].verdict == "fails"
    assert off["poole-2016.length-ratio-sqrt-chi1"].estimate == pytest.approx(0.06, abs=0.01)


def test_curvature_recursion_fails_when_curvature_is_forty_percent_off():
    c = _by_id(CurveLengthDepth.claims(*_depth_tables(1.0, curv_scale=1.4))[0])
    assert c["poole-2016.curvature-recursion"].verdict == "fails"


# ------------------------------------------------------------------ curve-length-width


def _width_table(worst_power: float, deep_ratio_scale: float = 1.0, seed=0):
    """Worst-case shallow lengths 4k^p (restart wobble), deep lengths growing by
    deep_ratio_scale * sqrt(chi_1) per layer, random shallow lengths ~ sqrt(k)."""
    rng = np.random.default_rng(seed)
    cfg = LengthWidthConfig(restarts=NETS, seeds=NETS, deep_width=8, deep_depth=24, fit_from=4)
    m = light_mean_field(cfg.sigma_w**2, cfg.sigma_b**2)
    r = deep_ratio_scale * math.sqrt(m.chi_1)
    rows = []
    for k in cfg.worst_widths:
        for s in range(NETS):
            rows.append(
                {
                    "kind": "shallow-worst",
                    "neurons": k,
                    "depth": 1,
                    "seed": s,
                    "length": 3.8 * k**worst_power * math.exp(0.02 * rng.standard_normal()),
                }
            )
    for k in cfg.widths:
        rows += [
            {"kind": "shallow", "neurons": k, "depth": 1, "seed": s, "length": 0.3 * k**0.5}
            for s in range(NETS)
        ]
    for s in range(NETS):
        lr = math.log(r) + 0.005 * rng.standard_normal()
        for d in range(1, cfg.deep_depth + 1):
            rows.append(
                {
                    "kind": "deep",
                    "neurons": d * 8,
                    "depth": d,
                    "seed": s,
                    "length": 0.5 * math.exp(lr * d),
                }
            )
    return pd.DataFrame(rows), cfg


def test_shallow_worst_case_holds_when_linear_and_fails_when_super_or_sub_linear():
    table, cfg = _width_table(1.0)
    c = _by_id(CurveLengthWidth.claims(table, cfg))
    lin = c["lecture-s17.shallow-length-at-most-linear"]
    assert lin.kind == "empirical" and lin.unit == "restarts" and lin.n == NETS
    assert lin.verdict == "holds" and lin.estimate == pytest.approx(1.0, abs=0.02)
    assert (lin.region.lo, lin.region.hi) == (0.9, 1.1)
    for power in (1.3, 0.5):  # faster than linear; random weights' sqrt(k)
        bad = _by_id(CurveLengthWidth.claims(_width_table(power)[0], cfg))
        assert bad["lecture-s17.shallow-length-at-most-linear"].verdict == "fails", power


def test_deep_ratio_is_tested_against_sqrt_chi1():
    table, cfg = _width_table(1.0)
    c = _by_id(CurveLengthWidth.claims(table, cfg))
    deep = c["lecture-s17.deep-length-exponential"]
    pred = light_mean_field(cfg.sigma_w**2, cfg.sigma_b**2)
    assert deep.verdict == "holds" and deep.n == NETS
    assert deep.region.lo == pytest.approx(math.sqrt(pred.chi_1) * 0.95)
    assert deep.region.hi == pytest.approx(math.sqrt(pred.chi_1) * 1.05)
    assert c["lecture-s17.deep-beats-shallow-worst-case"].verdict == "holds"
    slow = _by_id(CurveLengthWidth.claims(_width_table(1.0, deep_ratio_scale=0.9)[0], cfg))
    assert slow["lecture-s17.deep-length-exponential"].verdict == "fails"
    flat = _by_id(CurveLengthWidth.claims(_width_table(1.0, deep_ratio_scale=0.6)[0], cfg))
    assert flat["lecture-s17.deep-beats-shallow-worst-case"].verdict == "fails"


# ------------------------------------------------------------------ phase-diagram


def _grid(flip: int):
    chi = np.linspace(0.5, 2.0, 200)
    chi = chi[np.abs(chi - 1) >= 0.1]
    growth = np.where(chi > 1, 1.2, 0.8)
    growth[:flip] = 1 / growth[:flip]
    return pd.DataFrame(
        {
            "sigma_w2": np.arange(len(chi), dtype=float),
            "sigma_b2": 0.05,
            "chi_1": chi,
            "length_growth": growth,
            "corr_growth": np.where(chi > 1, 1.1, 0.9),
        }
    )


def test_phase_boundary_holds_with_full_agreement_and_fails_with_many_disagreements():
    cfg = PhaseDiagramConfig()
    c = _by_id(PhaseDiagram.claims(_grid(0), 1.761, cfg))
    assert c["poole-2016.phase-boundary-length"].kind == "empirical"
    assert c["poole-2016.phase-boundary-length"].n == len(_grid(0))
    # every one of ~170 agrees: the exact interval's lower end is above 0.95
    assert c["poole-2016.phase-boundary-length"].verdict == "holds"
    assert c["schoenholz-2017.critical-sigma-w2"].kind == "construction"
    assert c["schoenholz-2017.critical-sigma-w2"].verdict == "holds"
    bad = _by_id(PhaseDiagram.claims(_grid(30), 1.70, cfg))
    assert bad["poole-2016.phase-boundary-length"].verdict == "fails"
    assert bad["schoenholz-2017.phase-boundary-correlation"].verdict == "holds"
    assert bad["schoenholz-2017.critical-sigma-w2"].verdict == "fails"


# ------------------------------------------------------------------ relu-he-length


def _ratios(mean_last: float, var_growth: float, seed=0):
    rng = np.random.default_rng(seed)
    layers = np.arange(1, 21)
    sd = np.sqrt(var_growth * (layers - 1))
    logs = sd * rng.standard_normal((200, 1)) + np.log(mean_last) * (layers - 1) / 19
    return np.exp(logs)


def test_he_mean_flat_holds_near_one_and_fails_at_eighty_percent():
    cfg = ReluHeConfig()
    c = _by_id(ReluHeLength.claims(_ratios(1.0, 0.005), cfg))
    flat = c["hanin-jeong-rolnick-2022.he-mean-length-flat"]
    assert flat.kind == "empirical" and flat.n == 200 and flat.verdict == "holds"
    assert (flat.region.lo, flat.region.hi) == pytest.approx((0.85, 1.15))
    assert c["hanin-jeong-rolnick-2022.he-variance-grows"].verdict == "holds"
    low = _by_id(ReluHeLength.claims(_ratios(0.7, 0.001), cfg))
    assert low["hanin-jeong-rolnick-2022.he-mean-length-flat"].verdict == "fails"


def test_he_variance_grows_fails_when_the_spread_shrinks():
    rng = np.random.default_rng(1)
    layers = np.arange(1, 21)
    sd = 0.3 * np.exp(-0.2 * (layers - 2)).clip(max=1.0)
    sd[0] = 0.0
    ratio = np.exp(sd * rng.standard_normal((200, 20)))
    c = _by_id(ReluHeLength.claims(ratio, ReluHeConfig()))
    assert c["hanin-jeong-rolnick-2022.he-variance-grows"].verdict == "fails"


# ------------------------------------------------------------------ transitions-vs-length


def _transitions(power: float, seed=0):
    rng = np.random.default_rng(seed)
    cfg = TransitionsConfig()
    rows = []
    for sw2 in cfg.sigma_w2:
        for s in range(cfg.seeds):
            for layer in range(1, cfg.depth + 1):
                length = 5.0 * (1 + sw2) ** (0.3 * layer) * math.exp(0.1 * rng.standard_normal())
                t = max(1, round(0.8 * length**power * math.exp(0.05 * rng.standard_normal())))
                rows.append(
                    {"sigma_w2": sw2, "seed": s, "layer": layer, "length": length, "transitions": t}
                )
    return pd.DataFrame(rows), cfg


def test_transitions_hold_when_proportional_and_fail_when_square_root():
    table, cfg = _transitions(1.0)
    c = TransitionsVsLength.claims(table, cfg)[0]
    assert c.id == "raghu-2017.transitions-proportional-to-length"
    assert c.kind == "empirical" and c.n == len(cfg.sigma_w2) * cfg.seeds
    assert c.verdict == "holds" and c.estimate == pytest.approx(1.0, abs=0.05)
    assert (c.region.lo, c.region.hi) == (0.75, 1.25)
    bad = TransitionsVsLength.claims(_transitions(0.5)[0], cfg)[0]
    assert bad.verdict == "fails"
