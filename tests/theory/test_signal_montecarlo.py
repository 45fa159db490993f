"""Monte Carlo (depthlab.signal.moments) against the closed forms of THEORY.md §2, in float64.

Tolerance, fixed before measuring: the Monte Carlo estimate must lie within 4 standard errors of
the closed form (a false alarm about once in 16,000 comparisons).
"""

import math

import torch

from depthlab.signal import moments
from depthlab.theory import signal as th

Z = 4.0


def within(est, se, want):
    est, se = torch.as_tensor(est).double(), torch.as_tensor(se).double()
    want = torch.as_tensor(want, dtype=torch.float64)
    return bool(((est - want).abs() <= Z * se + 1e-12).all())


def test_he_second_moment_width_ten_is_prod_one_plus_five_over_n():
    r = moments([10, 10, 10, 10], n_inits=40_000, seed=1, jacobian=False)
    assert r.engine == "gaussian" and r.m.dtype == torch.float64
    assert within(r.second, r.second_se, th.second_moment_ratio([10] * 4))
    # the Monte Carlo values recorded in THEORY.md (1.500, 2.234, 3.348) agree with ours too
    assert within(r.second[1:], r.second_se[1:], [1.500, 2.234, 3.348])
    assert within(r.mean, r.mean_se, [1, 1, 1, 1])


def test_weights_engine_second_moment_matches_closed_form():
    r = moments([10, 10, 10, 10], n_inits=20_000, seed=2, jacobian=False, engine="weights")
    assert within(r.second, r.second_se, th.second_moment_ratio([10] * 4))


def test_mean_drift_per_scheme():
    widths = [30, 25, 25, 25, 25]
    for scheme in ("lecun_normal", "trunc_normal_naive", "trunc_normal_corrected", "he_uniform"):
        r = moments(widths, n_inits=2_000, scheme=scheme, seed=3, jacobian=False)
        gains = [th.scheme_gain(scheme, n) * 2 / n for n in widths[:-1]]
        want = th.mean_ratio(widths, gains)
        assert within(r.mean, r.mean_se, want), (scheme, r.mean, want)
        if scheme == "trunc_normal_naive":  # the lecture's warning: 0.7737 per layer
            assert within(r.mean[-1], r.mean_se[-1], 0.7737**4)


def test_hourglass_second_moment_and_beta():
    widths = [20, 30, 6, 30, 20]
    r = moments(widths, n_inits=40_000, seed=5, jacobian=False)
    assert within(r.second, r.second_se, th.second_moment_ratio(widths))
    assert math.isclose(r.beta, 1 / 30 + 1 / 6 + 1 / 30 + 1 / 20)


def test_jacobian_entry_moments():
    widths = [8, 10, 10, 10]
    r = moments(widths, n_inits=40_000, seed=6, jac_inputs=2)
    se2 = r.jac2.std(0) / math.sqrt(r.n_inits)
    se4 = r.jac4.std(0) / math.sqrt(r.n_inits)
    e2 = torch.tensor(th.jacobian_second_moment(widths), dtype=torch.float64)
    kurt = torch.tensor(th.jacobian_kurtosis(widths), dtype=torch.float64)
    assert within(r.jac_second, se2, e2)  # 2 / n_0 at every depth
    assert within(r.jac_fourth, se4, kurt * e2**2)


def test_residual_mean_is_prod_one_plus_eta_squared():
    for etas in ([1.0, 1.0, 1.0], [0.5] * 4):
        r = moments([16] * (len(etas) + 1), n_inits=20_000, etas=etas, seed=7, jacobian=False)
        assert within(r.mean, r.mean_se, th.residual_mean_ratio(etas))


def test_any_model_path_matches_theory_for_an_mlp():
    from depthlab.nets import mlp

    x = torch.ones(1, 10, dtype=torch.float64)
    r = moments(lambda: mlp([10, 10, 10, 10]).double(), n_inits=800, x=x, seed=8)
    assert r.engine == "module-loop"
    assert r.layer_names == ("in:0", "in:2", "in:4", "output")
    # inputs of layers 1..3 are x_0, x_1, x_2 (mean 1); the output is a pre-activation (mean 2)
    assert within(r.mean, r.mean_se, [1, 1, 1, 2])
    se2 = r.jac2.std(0) / math.sqrt(r.n_inits)
    assert within(r.jac_second, se2, [2 / 10])
