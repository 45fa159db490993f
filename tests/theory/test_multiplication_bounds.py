import math

import pytest

from depthlab.theory.multiplication import (
    bounds_table,
    deep_monomial_neurons,
    depth_k_bound,
    depth_k_bound_for,
    depth_k_bound_real,
    shallow_monomial_neurons,
    shallow_product_neurons,
    tree_product_neurons,
)


def test_product_of_three_needs_eight_shallow_neurons():
    assert shallow_product_neurons(3) == 8
    assert shallow_monomial_neurons([1, 1, 1]) == 8


def test_shallow_monomial_count_is_prod_r_plus_one():
    assert shallow_monomial_neurons([2]) == 3  # x^2: the 3-neuron squaring gate
    assert shallow_monomial_neurons([2, 1, 3]) == 3 * 2 * 4
    assert shallow_product_neurons(10) == 1024


def test_tree_product_of_three_is_eight_neurons_in_two_layers():
    assert tree_product_neurons(3) == (8, 2)
    assert tree_product_neurons(2) == (4, 1)
    assert tree_product_neurons(16) == (60, 4)


def test_deep_monomial_bound_by_hand():
    # r = (1, 2, 4): (7*0 + 4) + (7*1 + 4) + (7*2 + 4) = 4 + 11 + 18
    assert deep_monomial_neurons([1, 2, 4]) == 33
    assert deep_monomial_neurons([0, 8]) == 7 * 3 + 4


def test_theorem_5_1_by_hand():
    # n = 4, b = (2, 2): 2 groups * 2^2 + 1 group * 2^2 = 12 (= the tree's 4(n-1)).
    assert depth_k_bound_for(4, [2, 2]) == 12
    # n = 9, b = (3, 3): 3 * 8 + 1 * 8 = 32.
    assert depth_k_bound_for(9, [3, 3]) == 32
    assert depth_k_bound(9, 2) <= 32
    # k = 1 is the shallow count; real b_i = n^{1/k} gives sum_i n^{1-i/k} 2^{n^{1/k}}.
    assert depth_k_bound(7, 1) == 128
    assert depth_k_bound_real(16, 2) == pytest.approx((4 + 1) * 2**4)
    assert depth_k_bound_real(8, 3) == pytest.approx((4 + 2 + 1) * 2**2)


def test_deeper_bounds_never_grow_and_fall_far_below_two_to_the_n():
    t = bounds_table([4, 8, 12, 20])
    for n, grp in t.groupby("n"):
        b = grp.sort_values("k")["bound_thm51"].tolist()
        assert b == sorted(b, reverse=True)
        assert b[0] == 2**n
    assert t[(t.n == 20) & (t.k == 2)]["bound_thm51"].item() < 2**20 / 1000
    assert math.isclose(depth_k_bound_real(20, 1), 2**20)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="n >= 2"):
        tree_product_neurons(1)
    with pytest.raises(ValueError, match="product >= n"):
        depth_k_bound_for(9, [2, 2])
