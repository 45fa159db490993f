"""Bounds on the number of linear regions of ReLU networks (THEORY.md section 3).

Widths are written ``n_0`` (input) and ``hidden = [n_1, ..., n_L]`` (hidden layers only; the
output layer is affine and adds no regions). All counts are exact Python integers.

- :func:`shallow_max`: one hidden layer of ``N`` units in general position cuts R^{n_0} into at most
  ``sum_{j=0}^{n_0} C(N, j)`` regions (Zaslavsky; the hyperplane-arrangement bound).
- :func:`montufar_lower`: Montúfar, Pascanu, Cho & Bengio (2014), "On the number of linear regions
  of deep neural networks": a construction reaching
  ``(prod_{i=1}^{L-1} floor(n_i / n_0)^{n_0}) * sum_{j=0}^{n_0} C(n_L, j)`` for ``n_i >= n_0``.
- :func:`serra_upper`: Serra, Tjandraatmadja & Ramalingam (2018), "Bounding and counting linear
  regions of deep neural networks", Thm 1:
  ``sum_{(j_1..j_L) in J} prod_l C(n_l, j_l)``,
  ``J = {0 <= j_l <= min(n_0, n_1 - j_1, ..., n_{l-1} - j_{l-1}, n_l)}``.
- :func:`one_d_max`: on a line (``n_0 = 1``) the maximum is ``prod_l (n_l + 1)``.
- :func:`telgarsky_upper`: a ReLU net on R with ``l`` layers of at most ``m`` units has at most
  ``(2m)^l`` pieces (Telgarsky 2016).
- :func:`montufar_construction_count`, :func:`montufar_construction_units`: the exact region count
  and neuron count of Montúfar et al.'s folding construction
  (:func:`depthlab.nets.constructions.montufar`) on the unit cube, and
  :func:`montufar_shallow_gap`: its count over the most one hidden layer of the same neurons has.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def _check(n0: int, hidden: Sequence[int]) -> list[int]:
    if n0 < 1:
        raise ValueError(f"input dimension n0 must be >= 1, got {n0}")
    h = [int(n) for n in hidden]
    if not h or any(n < 1 for n in h):
        raise ValueError(f"hidden widths must be a non-empty list of positive ints, got {hidden}")
    return h


def shallow_max(n0: int, n_units: int) -> int:
    """``sum_{j=0}^{n0} C(N, j)``: most regions of one hidden layer of ``N`` ReLUs on R^{n0}."""
    _check(n0, [n_units])
    return sum(math.comb(n_units, j) for j in range(n0 + 1))


def montufar_lower(n0: int, hidden: Sequence[int]) -> int:
    """Montúfar et al. (2014) lower bound on the maximal number of regions (needs n_i >= n0)."""
    h = _check(n0, hidden)
    if any(n < n0 for n in h):
        raise ValueError(f"Montúfar's construction needs every width >= n0={n0}; got {h}")
    prod = 1
    for n in h[:-1]:
        prod *= (n // n0) ** n0
    return prod * shallow_max(n0, h[-1])


def serra_upper(n0: int, hidden: Sequence[int]) -> int:
    """Serra et al. (2018) upper bound, evaluated exactly by dynamic programming.

    The state is the running ``min(n_0, n_1 - j_1, ..., n_{l-1} - j_{l-1})``; each layer
    multiplies by ``C(n_l, j_l)`` for ``0 <= j_l <= min(state, n_l)``.
    """
    h = _check(n0, hidden)
    states: dict[int, int] = {n0: 1}
    for n in h:
        nxt: dict[int, int] = {}
        for d, w in states.items():
            for j in range(min(d, n) + 1):
                d2 = min(d, n - j)
                nxt[d2] = nxt.get(d2, 0) + w * math.comb(n, j)
        states = nxt
    return sum(states.values())


def one_d_max(hidden: Sequence[int]) -> int:
    """``prod_l (n_l + 1)``: most pieces of a ReLU net on a line."""
    return math.prod(n + 1 for n in _check(1, hidden))


def telgarsky_upper(width: int, depth: int) -> int:
    """``(2 m)^l``: Telgarsky's bound on the pieces of ``l`` layers of ``<= m`` ReLUs on R."""
    if width < 1 or depth < 1:
        raise ValueError(f"width and depth must be >= 1, got {width}, {depth}")
    return (2 * width) ** depth


def montufar_construction_count(p: int, folds: int, n_last: int, n0: int = 2) -> int:
    """``p^(n0 folds) * sum_{j<=n0} C(n_last, j)``: regions of Montúfar et al.'s construction.

    ``folds`` layers of ``n0 p`` units fold ``[0, 1]^{n0}`` ``p`` times along each coordinate
    (``p^{n0}`` cells per layer, each mapped onto the cube); a last layer of ``n_last`` units in
    general position cuts each cell into ``shallow_max(n0, n_last)`` regions. Equals
    :func:`montufar_lower` for widths ``[n0 p] * folds + [n_last]``.
    """
    if p < 1 or folds < 0:
        raise ValueError(f"need p >= 1 and folds >= 0, got p={p}, folds={folds}")
    return p ** (n0 * folds) * shallow_max(n0, n_last)


def montufar_construction_units(p: int, folds: int, n_last: int, n0: int = 2) -> int:
    """``n0 p folds + n_last``: hidden neurons of the construction."""
    if p < 1 or folds < 0 or n_last < 1:
        raise ValueError(f"need p >= 1, folds >= 0, n_last >= 1; got {p}, {folds}, {n_last}")
    return n0 * p * folds + n_last


def montufar_shallow_gap(p: int, folds: int, n_last: int, n0: int = 2) -> float:
    """Construction count over ``shallow_max(n0, N)`` for the same ``N`` neurons in one layer.

    Grows like ``p^(n0 folds) / folds^n0``: exponentially in depth."""
    n = montufar_construction_units(p, folds, n_last, n0)
    return montufar_construction_count(p, folds, n_last, n0) / shallow_max(n0, n)
