"""The closed forms of THEORY.md §2, checked against hand values and exact integrals."""

import math

import numpy as np
import pytest
from scipy import stats

from depthlab.theory import signal as th


def test_he_mean_is_depth_independent():
    assert th.mean_ratio([50, 20, 7, 100]) == pytest.approx([1, 1, 1, 1])


def test_lecun_mean_halves_per_layer():
    widths = [30, 30, 30, 30]
    got = th.mean_ratio(widths, [1 / 30] * 3)
    assert got == pytest.approx([1, 0.5, 0.25, 0.125])
    assert th.mean_slope("lecun_normal") == pytest.approx(math.log(0.5))


def test_second_moment_for_width_ten_is_one_and_a_half_per_layer():
    got = th.second_moment_ratio([10, 10, 10, 10])
    assert got == pytest.approx([1.0, 1.5, 2.25, 3.375])


def test_beta_and_exponential_bound():
    hidden = [10, 4, 50]
    b = th.beta(hidden)
    assert b == pytest.approx(0.1 + 0.25 + 0.02)
    assert th.second_moment_ratio([10, *hidden])[-1] <= math.exp(5 * b)


def test_truncated_factor_matches_scipy():
    want = stats.truncnorm(-2, 2).var()
    assert th.truncated_variance_factor(2.0) == pytest.approx(want, rel=1e-12)
    assert want == pytest.approx(0.7737, abs=1e-4)
    assert th.TRUNC2_STD == pytest.approx(0.87962566, abs=1e-8)
    assert th.mean_slope("trunc_normal_naive") == pytest.approx(math.log(0.77372), abs=1e-4)
    with pytest.raises(ValueError, match="positive"):
        th.truncated_variance_factor(0)


def test_relu_square_variance_is_five_quarters_sigma4():
    # the constant 5 in (1 + 5/n): Var relu(z)^2 = E z^4 / 2 - (E z^2 / 2)^2 = (3/2 - 1/4) s^4
    z = np.linspace(-12, 12, 200_001)
    pdf = stats.norm.pdf(z)
    r2 = np.maximum(z, 0) ** 2
    m1, m2 = np.trapezoid(r2 * pdf, z), np.trapezoid(r2**2 * pdf, z)
    assert m2 - m1**2 == pytest.approx(1.25, rel=1e-6)


def test_jacobian_closed_forms():
    widths = [8, 10, 10, 10]
    assert th.jacobian_second_moment(widths) == pytest.approx([2 / 8] * 3)
    assert th.jacobian_kurtosis(widths) == pytest.approx([3, 4.5, 6.75])


def test_residual_mean_product():
    assert th.residual_mean_ratio([1, 1, 1]) == pytest.approx([1, 2, 4, 8])
    L = 16
    assert th.residual_mean_ratio([1 / math.sqrt(L)] * L)[-1] == pytest.approx((1 + 1 / L) ** L)


def test_bad_widths_are_rejected():
    with pytest.raises(ValueError, match="widths"):
        th.mean_ratio([10])
    with pytest.raises(ValueError, match="variances"):
        th.mean_ratio([10, 10], [1.0, 2.0])
