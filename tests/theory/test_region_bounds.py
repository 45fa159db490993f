"""The region-count bounds: known values, their mutual order, and exact counts that reach them."""

import math

import pytest
import torch

from depthlab import regions
from depthlab.init import initialize
from depthlab.nets import mlp, sawtooth
from depthlab.theory import regions as bounds


def test_shallow_max_known_values():
    assert bounds.shallow_max(1, 5) == 6
    assert bounds.shallow_max(2, 3) == 7
    assert bounds.shallow_max(2, 10) == 1 + 10 + 45


def test_serra_for_one_layer_is_the_shallow_maximum():
    for n0 in (1, 2, 3):
        for n in (1, 2, 5, 17):
            assert bounds.serra_upper(n0, [n]) == bounds.shallow_max(n0, n)


def test_serra_on_a_line_is_prod_n_plus_one():
    for hidden in ([2, 2], [3, 5, 7], [10, 10, 10, 10]):
        assert bounds.serra_upper(1, hidden) == bounds.one_d_max(hidden)


def test_serra_small_case_by_hand():
    # n0 = 2, hidden [2, 2]: j1 in 0..2; state after j1 is min(2, 2 - j1)
    # j1=0 (C=1): state 2, j2 in 0..2 -> 1 + 2 + 1 = 4
    # j1=1 (C=2): state 1, j2 in 0..1 -> 2 * (1 + 2) = 6
    # j1=2 (C=1): state 0, j2 = 0 -> 1
    assert bounds.serra_upper(2, [2, 2]) == 11


def test_montufar_below_serra():
    for n0, hidden in [(1, [4, 4, 4]), (2, [4, 4, 4]), (2, [8, 8]), (3, [6, 9, 12])]:
        assert bounds.montufar_lower(n0, hidden) <= bounds.serra_upper(n0, hidden)
    assert bounds.montufar_lower(2, [4, 4, 4]) == 2**2 * 2**2 * bounds.shallow_max(2, 4)


def test_sawtooth_has_two_to_the_k_pieces():
    for k in range(1, 11):
        r = regions.count_1d(sawtooth(k), torch.tensor([0.0]), torch.tensor([1.0]))
        assert r.n_regions == 2**k
        assert r.n_regions <= bounds.one_d_max([2] * k)
        assert r.n_regions <= bounds.telgarsky_upper(2, k)
        # m^k(i / 2^k) = i mod 2 at the breakpoints
        assert torch.allclose(r.breakpoints, torch.arange(1, 2**k, dtype=torch.float64) / 2**k)


def test_shallow_net_in_general_position_reaches_the_maximum():
    g = torch.Generator().manual_seed(0)
    net = initialize(mlp([2, 12, 1]), "he_normal", g, sigma_b2=1.0)
    r = regions.count_2d(net, window=(-1e4, 1e4, -1e4, 1e4))
    assert r.n_regions == bounds.shallow_max(2, 12)


def test_bad_widths_are_named():
    with pytest.raises(ValueError, match="n0=3"):
        bounds.montufar_lower(3, [2, 4])
    with pytest.raises(ValueError, match="positive"):
        bounds.serra_upper(2, [])
    assert math.comb(5, 2) == 10
