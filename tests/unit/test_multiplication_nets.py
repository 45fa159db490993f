import math

import numpy as np
import pytest
import torch

from depthlab.nets import multiplication_gate, product_tree, squaring_gate
from depthlab.nets.multiplication import expansion_point, second_derivative

ACTS = ["softplus", "silu", "gelu", "tanh"]
LAMS = [0.2, 0.1, 0.05, 0.025, 0.0125]


def _x(n, m=2000, seed=0):
    g = torch.Generator().manual_seed(seed)
    return 2 * torch.rand(m, n, generator=g, dtype=torch.float64)  # U[0, 2]^n


@pytest.fixture(autouse=True)
def _no_grad():
    with torch.no_grad():
        yield


def _slope(lams, errs):
    return float(np.polyfit(np.log(lams), np.log(errs), 1)[0])


def test_second_derivatives_at_zero_match_the_closed_forms():
    assert second_derivative("softplus") == pytest.approx(0.25, abs=1e-12)
    assert second_derivative("silu") == pytest.approx(0.5, abs=1e-12)
    assert second_derivative("gelu") == pytest.approx(2 / math.sqrt(2 * math.pi), abs=1e-12)
    assert second_derivative("tanh") == pytest.approx(0.0, abs=1e-12)
    # tanh expands about artanh(1/sqrt 3), where |tanh''| = 4/(3 sqrt 3) is largest.
    a = expansion_point("tanh")
    assert second_derivative("tanh", a) == pytest.approx(-4 / (3 * math.sqrt(3)), rel=1e-10)


@pytest.mark.parametrize("act", ACTS)
def test_multiplication_gate_error_falls_like_lambda_squared(act):
    x = _x(2)
    errs = [float((multiplication_gate(act, lam)(x)[:, 0] - x.prod(1)).abs().max()) for lam in LAMS]
    assert errs[-1] < 5e-3  # |uv| <= 4 here
    assert _slope(LAMS, errs) == pytest.approx(2.0, abs=0.15)


@pytest.mark.parametrize("act", ACTS)
def test_squaring_gate_error_falls_like_lambda_squared(act):
    x = _x(1)
    errs = [float((squaring_gate(act, lam)(x) - x**2).abs().max()) for lam in LAMS]
    assert errs[-1] < 1e-3
    assert _slope(LAMS, errs) == pytest.approx(2.0, abs=0.15)


def test_gates_have_four_and_three_neurons_and_no_biases_at_zero_expansion():
    g = multiplication_gate("softplus", 0.1)
    s = squaring_gate("silu", 0.1)
    assert g[0].out_features == 4 and s[0].out_features == 3
    assert g[0].bias is None and g[2].bias is None and s[0].bias is None
    assert multiplication_gate("tanh", 0.1)[0].bias is not None  # shifted expansion point


@pytest.mark.parametrize("n", [2, 3, 4, 5, 8])
def test_product_tree_has_4_n_minus_1_neurons_in_ceil_log2_n_layers(n):
    t = product_tree(n, "softplus", 1e-3)
    assert t.n_neurons == 4 * (n - 1)
    assert t.n_layers == math.ceil(math.log2(n))
    x = _x(n, 500)
    assert float((t(x)[:, 0] - x.prod(1)).abs().max()) < 1e-3 * 2**n


def test_product_tree_error_falls_like_lambda_squared():
    x = _x(4, 500)
    lams = [0.02, 0.01, 0.005, 0.0025]
    errs = [float((product_tree(4, "gelu", lam)(x)[:, 0] - x.prod(1)).abs().max()) for lam in lams]
    assert _slope(lams, errs) == pytest.approx(2.0, abs=0.2)


def test_relu_and_bad_lambda_are_rejected_with_the_allowed_values():
    with pytest.raises(ValueError, match="softplus"):
        multiplication_gate("relu", 0.1)
    with pytest.raises(ValueError, match="lambda"):
        squaring_gate("softplus", 0.0)
