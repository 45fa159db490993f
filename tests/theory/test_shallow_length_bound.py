"""The bound on the length of a curve's image under one hidden layer of tanh units (slide 17)."""

import math

import pytest
import torch

from depthlab.theory.meanfield import shallow_length_bound


def _polyline_length(w: torch.Tensor, b: torch.Tensor, segments: int = 20_000) -> float:
    """Length of tanh(W x(t) + b) for the unit circle x(t) in the first two coordinates."""
    t = torch.arange(segments + 1, dtype=torch.float64) / segments * (2 * math.pi)
    x = torch.stack([torch.cos(t), torch.sin(t)], 1)
    h = torch.tanh(x @ w.T + b)
    return float((h[1:] - h[:-1]).norm(dim=1).sum())


def test_bound_is_four_per_unit_on_a_circle():
    assert shallow_length_bound(1) == 4.0
    assert shallow_length_bound(64) == 256.0
    assert shallow_length_bound(10, arcs=3, output_range=1.0) == 30.0
    with pytest.raises(ValueError):
        shallow_length_bound(0)


def test_random_nets_stay_below_and_staggered_steep_units_approach_it():
    g = torch.Generator().manual_seed(0)
    for k in (1, 4, 16):
        for scale in (1.0, 10.0, 100.0):
            w = scale * torch.randn(k, 2, generator=g, dtype=torch.float64)
            b = torch.randn(k, generator=g, dtype=torch.float64)
            assert _polyline_length(w, b) <= shallow_length_bound(k) + 1e-9
    k = 8  # unit i points at angle pi i / k: its two switches sit at distinct points of the circle
    ang = torch.arange(k, dtype=torch.float64) * math.pi / k
    w = 1e4 * torch.stack([torch.cos(ang), torch.sin(ang)], 1)
    length = _polyline_length(w, torch.zeros(k, dtype=torch.float64))
    assert 0.99 * shallow_length_bound(k) <= length <= shallow_length_bound(k)
