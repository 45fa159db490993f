import math

import pytest
import torch
from torch import nn

from depthlab import init
from depthlab.init import SCHEMES, TRUNC2_VARIANCE, fans, initialize, scheme_variance


def test_truncated_variance_constant_matches_theory():
    assert TRUNC2_VARIANCE == pytest.approx(0.7737, abs=1e-4)
    assert init.TRUNC2_STD == pytest.approx(0.87962566, abs=1e-8)


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("shape", [(300, 200), (64, 16, 3, 3)])
def test_each_scheme_empirical_variance_matches_formula(scheme, shape):
    w = torch.empty(shape, dtype=torch.float64)
    g = torch.Generator().manual_seed(7)
    fan_in, fan_out = fans(w)
    # average over a few draws so the standard error is < 1.5%
    draws = []
    for _ in range(4):
        init.init_weight_(w, scheme, generator=g, sigma_w2=1.7)
        draws.append(w.var(unbiased=False).item() + w.mean().item() ** 2)
    measured = sum(draws) / len(draws)
    expected = scheme_variance(scheme, fan_in, fan_out, sigma_w2=1.7, rows=shape[0])
    assert measured == pytest.approx(expected, rel=0.03), scheme


def test_naive_truncation_is_not_rescaled_and_corrected_is():
    w = torch.empty(400, 400, dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    init.init_weight_(w, "trunc_normal_naive", g)
    s = math.sqrt(2 / 400)
    assert w.abs().max().item() <= 2 * s + 1e-12
    assert w.var().item() / (2 / 400) == pytest.approx(0.7737, abs=0.01)
    init.init_weight_(w, "trunc_normal_corrected", g)
    assert w.var().item() / (2 / 400) == pytest.approx(1.0, abs=0.01)
    assert w.abs().max().item() <= 2 * s / init.TRUNC2_STD + 1e-12


def test_torch_trunc_normal_cuts_at_absolute_two():
    # std 1.5: cut at ±2 (not ±3) shrinks the variance well below std^2.
    w = torch.empty(200_000, 1, dtype=torch.float64)
    torch.nn.init.trunc_normal_(w, std=1.5, a=-2, b=2, generator=torch.Generator().manual_seed(0))
    factor = init._trunc_var_factor(2 / 1.5)
    assert w.var().item() == pytest.approx(1.5**2 * factor, rel=0.02)
    assert factor < 0.6


def test_initialize_is_seeded_and_sets_bias():
    m1 = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 2))
    m2 = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 2))
    initialize(m1, "he_normal", torch.Generator().manual_seed(3), sigma_b2=0.0)
    initialize(m2, "he_normal", torch.Generator().manual_seed(3), sigma_b2=0.0)
    for a, b in zip(m1.parameters(), m2.parameters(), strict=True):
        assert torch.equal(a, b)
    assert torch.count_nonzero(m1[0].bias) == 0
    initialize(m1, "custom", torch.Generator().manual_seed(3), sigma_b2=0.5, sigma_w2=1.0)
    assert torch.count_nonzero(m1[0].bias) == 7


def test_unknown_scheme_names_allowed_ones():
    with pytest.raises(ValueError, match="allowed: he_normal"):
        initialize(nn.Linear(2, 2), "he_normall")


def test_conv_fan_in_counts_kernel():
    assert fans(torch.empty(16, 3, 3, 3)) == (27, 144)
