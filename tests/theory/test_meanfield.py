"""Mean-field theory against THEORY.md §1, closed forms, and independent quadrature."""

import math

import numpy as np
import pytest
import torch
from scipy import integrate

from depthlab.theory import meanfield as mf

SB2 = 0.3**2


@pytest.mark.parametrize(
    ("sigma_w", "q_star", "chi_1", "ratio"),
    [(1.3, 0.607, 0.940, 0.969), (2.5, 4.079, 1.585, 1.259), (4.0, 12.60, 2.367, 1.539)],
)
def test_tanh_table_of_theory_md(sigma_w, q_star, chi_1, ratio):
    q = mf.qstar(torch.tanh, sigma_w**2, SB2)
    c1 = mf.chi1(torch.tanh, sigma_w**2, SB2)
    assert round(q, 3 if q < 10 else 2) == q_star
    assert round(c1, 3) == chi_1
    assert round(math.sqrt(c1), 3) == ratio


def test_critical_sigma_w2_for_tanh_at_sigma_b2_005():
    assert abs(mf.critical_sigma_w2(torch.tanh, 0.05) - 1.761) < 5e-4
    assert abs(mf.chi1(torch.tanh, 1.761, 0.05) - 1.0) < 1e-3


def _quad(f):
    g = lambda z: f(z) * math.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    return integrate.quad(g, -40, 40, epsabs=1e-15, epsrel=1e-14, limit=500, points=[0.0])[0]


def _sech(x):
    e = math.exp(-abs(x))
    return 2 * e / (1 + e * e)


def test_default_rule_matches_scipy_adaptive_quadrature():
    for q in (0.3, 4.0, 12.6, 50.0, 1e4):
        s = math.sqrt(q)
        ref = _quad(lambda z, s=s: math.tanh(s * z) ** 2)
        got = mf.gaussian_expectation(lambda u: np.tanh(u) ** 2, q)
        assert abs(got - ref) < 1e-12, q
        ref1 = _quad(lambda z, s=s: _sech(s * z) ** 4)
        got1 = mf.chi1(torch.tanh, 1.0, 0.0, q=q)
        assert abs(got1 - ref1) < 1e-12, q


def test_default_rule_matches_a_much_higher_order_rule():
    fine = mf.Quadrature(h=0.05, order=20)
    for name in ("tanh", "relu", "hardtanh", "softplus", "gelu"):
        for q in (0.5, 3.0, 20.0):
            a = mf.q_map(q, name, 1.7, 0.1)
            b = mf.q_map(q, name, 1.7, 0.1, quad=fine)
            assert abs(a - b) <= 1e-11 * max(1.0, abs(b)), (name, q)
            a = mf.chi1(name, 1.7, 0.1, q=q)
            b = mf.chi1(name, 1.7, 0.1, q=q, quad=fine)
            assert abs(a - b) <= 1e-11 * max(1.0, abs(b)), (name, q)


def test_gauss_hermite_is_exact_for_polynomials_and_converges_slowly_for_large_q():
    z, w = mf.gauss_hermite(20)
    assert abs(w.sum() - 1) < 1e-14
    assert abs(np.dot(z**4, w) - 3) < 1e-12
    assert abs(np.dot(z**8, w) - 105) < 1e-9
    gh = mf.Quadrature(method="hermite", n=100)
    exact = mf.chi1(torch.tanh, 16.0, 0.0, q=12.604149497844)
    assert abs(mf.chi1(torch.tanh, 16.0, 0.0, q=12.604149497844, quad=gh) - exact) > 1e-2
    smooth = mf.chi1(torch.tanh, 1.0, 0.0, q=0.5)
    assert abs(mf.chi1(torch.tanh, 1.0, 0.0, q=0.5, quad=gh) - smooth) < 1e-12


def test_relu_closed_forms():
    q = 1.7
    assert abs(mf.q_map(q, "relu", 2.0, 0.1) - (q + 0.1)) < 1e-13
    assert abs(mf.chi1("relu", 1.5, 0.2) - 0.75) < 1e-13
    assert mf.chi2("relu", 1.5, 0.2) == 0.0
    assert abs(mf.qstar("relu", 1.5, 0.2) - 0.2 / (1 - 0.75)) < 1e-10
    assert mf.qstar("relu", 2.5, 0.1) == math.inf


def test_erf_closed_forms():
    # E erf(sqrt(q) z)^2 = (2/pi) asin(2q / (1 + 2q));  E erf'(sqrt(q) z)^2 = (4/pi) / sqrt(1 + 4q)
    for q in (0.2, 1.0, 9.0):
        assert (
            abs(mf.q_map(q, torch.erf, 1.0, 0.0) - 2 / math.pi * math.asin(2 * q / (1 + 2 * q)))
            < 1e-13
        )
        assert abs(mf.chi1(torch.erf, 1.0, 0.0, q=q) - 4 / math.pi / math.sqrt(1 + 4 * q)) < 1e-13


def test_chi1_is_the_slope_of_the_c_map_at_one():
    sw2, sb2 = 2.5**2, SB2
    q = mf.qstar(torch.tanh, sw2, sb2)
    h = 1e-4
    slope = (
        mf.c_map(1.0, torch.tanh, sw2, sb2, q=q) - mf.c_map(1 - h, torch.tanh, sw2, sb2, q=q)
    ) / h
    assert abs(mf.c_map(1.0, torch.tanh, sw2, sb2, q=q) - 1.0) < 1e-10
    assert abs(slope - mf.chi1(torch.tanh, sw2, sb2)) < 1e-3


def test_q_slope_is_the_derivative_of_the_q_map():
    sw2, sb2 = 1.3**2, SB2
    q = mf.qstar(torch.tanh, sw2, sb2)
    h = 1e-5
    fd = (mf.q_map(q + h, torch.tanh, sw2, sb2) - mf.q_map(q - h, torch.tanh, sw2, sb2)) / (2 * h)
    assert abs(fd - mf.q_slope(torch.tanh, sw2, sb2)) < 1e-8
    assert abs(mf.depth_scale(torch.tanh, sw2, sb2, "q") + 1 / math.log(fd)) < 1e-5


def test_ordered_phase_depth_scale_is_minus_one_over_log_chi1():
    sw2, sb2 = 1.3**2, SB2
    assert mf.cstar(torch.tanh, sw2, sb2) == 1.0
    c1 = mf.chi1(torch.tanh, sw2, sb2)
    assert abs(mf.depth_scale(torch.tanh, sw2, sb2) + 1 / math.log(c1)) < 1e-9


def test_chaotic_phase_cstar_is_a_fixed_point_below_one():
    sw2, sb2 = 2.5**2, SB2
    c = mf.cstar(torch.tanh, sw2, sb2)
    assert 0 < c < 1
    assert abs(mf.c_map(c, torch.tanh, sw2, sb2) - c) < 1e-10
    assert 0 < mf.chi_c(torch.tanh, sw2, sb2) < 1
    # odd phi, no bias: c* = 0
    assert abs(mf.cstar(torch.tanh, 3.0, 0.0)) < 1e-9


def test_predicted_length_and_curvature_recursion():
    assert abs(mf.predicted_length(1, 100, 2.0, 1.5) - 2 * math.pi * math.sqrt(200)) < 1e-12
    assert (
        abs(
            mf.predicted_length(3, 100, 2.0, 1.5) / mf.predicted_length(2, 100, 2.0, 1.5)
            - math.sqrt(1.5)
        )
        < 1e-12
    )
    k = mf.curvature_recursion(200, 2.0, 0.5, 1.0)
    assert k[0] == 1.0
    assert abs(k[1] ** 2 - (3 * 0.5 / 4 + 1 / 2)) < 1e-12
    # chaotic fixed point: kbar*^2 = 3 chi_2 / (chi_1 (chi_1 - 1))
    assert abs(k[-1] ** 2 - 3 * 0.5 / (2.0 * 1.0)) < 1e-12


def test_vectorised_chi1_matches_pointwise():
    sw2 = np.array([[0.5], [2.0], [4.0]])
    sb2 = np.array([[0.01, 0.05, 0.3]])
    grid = mf.chi1(torch.tanh, sw2, sb2)
    assert grid.shape == (3, 3)
    assert abs(grid[1, 2] - mf.chi1(torch.tanh, 2.0, 0.3)) < 1e-12


def test_mean_field_summary_and_bad_input():
    m = mf.mean_field("tanh", 2.5**2, SB2)
    assert m.phase == "chaotic" and abs(m.length_ratio - 1.259) < 5e-4
    assert "chi_1=1.585" in repr(m)
    assert list(m.to_frame().columns)[:3] == ["activation", "sigma_w2", "sigma_b2"]
    with pytest.raises(ValueError, match="unknown activation"):
        mf.qstar("tanhh", 1.0, 0.0)
    with pytest.raises(ValueError, match="kind"):
        mf.depth_scale("tanh", 1.0, 0.1, kind="x")
