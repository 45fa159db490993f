"""Neuron counts for multiplying inputs (Rolnick & Tegmark 2018; Lin, Tegmark & Rolnick 2017).

Closed forms only, no training (THEORY.md §4):

- one hidden layer needs exactly ``prod_i (r_i + 1)`` neurons for the monomial
  ``x_1^{r_1} ⋯ x_n^{r_n}`` (so ``2^n`` for ``x_1 ⋯ x_n``): :func:`shallow_monomial_neurons`;
- a deep net needs at most ``sum_i (7 ceil(log2 r_i) + 4)``: :func:`deep_monomial_neurons`;
- a binary tree of 4-neuron gates gives the n-input product with ``4(n − 1)`` neurons in
  ``ceil(log2 n)`` hidden layers: :func:`tree_product_neurons`;
- with k hidden layers (Theorem 5.1), ``m_k ≤ sum_{i=1}^{k} (n / prod_{j≤i} b_j) 2^{b_i}``; with
  ``b_i = n^{1/k}`` this is ``O(n^{(k−1)/k} 2^{n^{1/k}})``: :func:`depth_k_bound`,
  :func:`depth_k_bound_real`.

References
----------
Rolnick & Tegmark 2018, "The power of deeper networks for expressing natural functions", ICLR,
Theorems 4.1-4.2 and 5.1. Lin, Tegmark & Rolnick 2017, J. Stat. Phys.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cache

import pandas as pd


def _exponents(r: Sequence[int]) -> list[int]:
    r = [int(v) for v in r]
    if not r or any(v < 0 for v in r):
        raise ValueError(f"exponents must be a non-empty list of integers >= 0, got {r}")
    return r


def shallow_monomial_neurons(r: Sequence[int]) -> int:
    """``prod_i (r_i + 1)``: the exact one-hidden-layer count for ``prod_i x_i^{r_i}``."""
    return math.prod(v + 1 for v in _exponents(r))


def shallow_product_neurons(n: int) -> int:
    """``2^n``: one hidden layer for ``x_1 ⋯ x_n``."""
    return shallow_monomial_neurons([1] * int(n))


def deep_monomial_neurons(r: Sequence[int]) -> int:
    """``sum_i (7 ceil(log2 r_i) + 4)`` over the variables present (``r_i >= 1``): a deep upper bound."""
    return sum(7 * math.ceil(math.log2(v)) + 4 for v in _exponents(r) if v >= 1)


def tree_product_neurons(n: int) -> tuple[int, int]:
    """``(4(n − 1), ceil(log2 n))``: neurons and hidden layers of the binary tree of gates."""
    n = int(n)
    if n < 2:
        raise ValueError(f"a product needs n >= 2 inputs, got {n}")
    return 4 * (n - 1), math.ceil(math.log2(n))


def depth_k_bound_real(n: int, k: int) -> float:
    """Theorem 5.1 with real ``b_i = n^{1/k}``: ``sum_{i=1}^{k} n^{1 − i/k} 2^{n^{1/k}}``."""
    if k < 1 or n < 1:
        raise ValueError(f"need n >= 1 and k >= 1, got n={n}, k={k}")
    b = n ** (1 / k)
    return sum(n ** (1 - i / k) * 2**b for i in range(1, k + 1))


def depth_k_bound_for(n: int, b: Sequence[int]) -> int:
    """Theorem 5.1's count for integer group sizes ``b`` (``prod b ≥ n``):
    ``sum_i ceil(n / prod_{j≤i} b_j) 2^{b_i}``.

    Layer i multiplies groups of ``b_i`` of the previous layer's values with ``2^{b_i}`` neurons
    per group (the shallow count); the ceiling covers a last, partial group.
    """
    b = [int(v) for v in b]
    if any(v < 1 for v in b) or math.prod(b) < n:
        raise ValueError(f"group sizes must be >= 1 with product >= n={n}, got {b}")
    total, groups = 0, int(n)
    for bi in b:
        groups = math.ceil(groups / bi)
        total += groups * 2**bi
    return total


def depth_k_bound(n: int, k: int) -> int:
    """Theorem 5.1's bound for ``x_1 ⋯ x_n`` with at most k hidden layers, minimised over integer
    group sizes ``b_1 .. b_k`` (exact small dynamic program). ``k = 1`` gives ``2^n``."""
    n, k = int(n), int(k)
    if n < 1 or k < 1:
        raise ValueError(f"need n >= 1 and k >= 1, got n={n}, k={k}")

    @cache
    def best(r: int, layers: int) -> float:
        # r values left to multiply, `layers` hidden layers left.
        if r == 1:
            return 0
        if layers == 0:
            return math.inf
        return min(
            math.ceil(r / b) * 2**b + best(math.ceil(r / b), layers - 1) for b in range(2, r + 1)
        )

    return int(best(n, k))


def bounds_table(ns: Sequence[int], ks: Sequence[int] = (1, 2, 3, 4)) -> pd.DataFrame:
    """Tidy table: n, k, the Theorem 5.1 bound (integer and real), ``2^n`` and the tree count."""
    rows = []
    for n in ns:
        tree_n, tree_l = tree_product_neurons(n)
        for k in ks:
            rows.append(
                {
                    "n": int(n),
                    "k": int(k),
                    "bound_thm51": depth_k_bound(n, k),
                    "bound_thm51_real": depth_k_bound_real(n, k),
                    "shallow_exact": shallow_product_neurons(n),
                    "tree_neurons": tree_n,
                    "tree_layers": tree_l,
                }
            )
    return pd.DataFrame(rows)
