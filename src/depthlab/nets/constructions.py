"""Exact constructions with hand-set weights.

Telgarsky's sawtooth: the tent map ``m(x) = relu(2 relu(x) - 4 relu(x - 1/2))`` maps [0, 1] onto
[0, 1]; composed k times it has exactly ``2^k`` affine pieces on [0, 1] and
``m^k(i / 2^k) = i mod 2``. A ReLU net with one hidden layer has at most ``m + 1`` pieces on the
line, so it needs at least ``2^k - 1`` units to match what k layers of 2 units do.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def sawtooth(k: int) -> nn.Sequential:
    """The k-fold tent map as a ReLU MLP ``1 -> 2 -> 2 ... -> 1`` with k hidden layers of 2 units.

    Layer j computes ``(relu(y), relu(y - 1/2))`` of the previous tent value ``y``; the next
    layer's weights ``(2, -4)`` recombine them into ``m(y)``. The final Linear outputs ``m^k(x)``.
    """
    if k < 1:
        raise ValueError(f"sawtooth needs k >= 1 layers, got {k}")
    layers: list[nn.Module] = []
    first = nn.Linear(1, 2)
    with torch.no_grad():
        first.weight.copy_(torch.tensor([[1.0], [1.0]]))
        first.bias.copy_(torch.tensor([0.0, -0.5]))
    layers += [first, nn.ReLU()]
    for _ in range(k - 1):
        mid = nn.Linear(2, 2)
        with torch.no_grad():
            # y = 2 a - 4 b (the tent value); next pair is (y, y - 1/2).
            mid.weight.copy_(torch.tensor([[2.0, -4.0], [2.0, -4.0]]))
            mid.bias.copy_(torch.tensor([0.0, -0.5]))
        layers += [mid, nn.ReLU()]
    last = nn.Linear(2, 1)
    with torch.no_grad():
        last.weight.copy_(torch.tensor([[2.0, -4.0]]))
        last.bias.zero_()
    layers.append(last)
    return nn.Sequential(*layers)


def sawtooth_fn(x: torch.Tensor, k: int) -> torch.Tensor:
    """The k-fold tent map evaluated directly: the target the constructions compute."""
    y = x.clamp(0.0, 1.0)
    for _ in range(k):
        y = 1.0 - (2.0 * y - 1.0).abs()
    return y


def montufar_lines(n_lines: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n_lines`` lines of the unit square in general position, every crossing inside it.

    Line ``k`` is ``{u : a_k . (u - c) = d_k}`` with ``c = (1/2, 1/2)``, normal angle
    ``a_k = pi (k + 1/2) / n`` (no two parallel; adjacent normals ``pi / n`` apart) and offset
    ``d_k = 0.2 sin(pi / n) (frac(0.618 k) - 1/2)`` (distinct and irrational-looking, so no three
    meet). Two lines cross within ``(|d_i| + |d_j|) / sin(pi / n) <= 0.2`` of ``c``, so all
    ``C(n, 2)`` crossings, and hence all ``1 + n + C(n, 2)`` regions, lie in the square.
    Returns ``(weight (n, 2), bias (n,))`` of the units ``relu(a_k . u - a_k . c - d_k)``.
    """
    if n_lines < 1:
        raise ValueError(f"need n_lines >= 1, got {n_lines}")
    k = torch.arange(n_lines, dtype=torch.float64)
    ang = torch.pi * (k + 0.5) / n_lines
    w = torch.stack([torch.cos(ang), torch.sin(ang)], 1)
    frac = torch.remainder(0.6180339887498949 * k + 0.1, 1.0)
    d = 0.2 * math.sin(math.pi / n_lines) * (frac - 0.5) if n_lines > 1 else frac * 0.0
    b = -(w @ torch.tensor([0.5, 0.5], dtype=torch.float64)) - d
    return w, b


def montufar(p: int, folds: int, n_last: int) -> nn.Sequential:
    """Montúfar, Pascanu, Cho & Bengio (2014)'s deep ReLU net on ``n_0 = 2`` inputs.

    ``folds`` hidden layers of ``2 p`` units each fold the unit square ``p`` times along each
    coordinate: per coordinate ``x`` the units ``relu(p x + 1)`` and ``relu(p x - j)``,
    ``j = 1..p-1``, recombine (next layer's weights ``1, -2, 2, -2, ...``, bias ``-1``) into the
    zigzag ``f(x)`` that maps each of ``[j/p, (j+1)/p]`` onto ``[0, 1]`` (the first unit's kink
    ``x = -1/p`` lies outside). After ``folds`` layers the square is cut into ``p^(2 folds)`` cells,
    each mapped affinely onto ``[0, 1]^2``. A last hidden layer of ``n_last`` units cuts every
    cell by an arrangement of ``n_last`` lines in general position inside the square
    (:func:`montufar_lines`), so the net has exactly
    ``p^(2 folds) (1 + n_last + C(n_last, 2))`` activation regions in ``[0, 1]^2``
    (:func:`depthlab.theory.regions.montufar_construction_count`) with
    ``N = 2 p folds + n_last`` hidden units. The output is the sum of the last layer (float64).
    """
    if p < 1 or folds < 0 or n_last < 1:
        raise ValueError(f"need p >= 1, folds >= 0, n_last >= 1; got {p}, {folds}, {n_last}")
    dt = torch.float64
    # fold layer on input (x, y): units [x-group (p units), y-group (p units)]
    shift = torch.tensor([1.0] + [-float(j) for j in range(1, p)], dtype=dt)
    # zigzag recombination of one group: f = (r_0 - 1) - 2 r_1 + 2 r_2 - ...
    comb = torch.tensor([1.0] + [2.0 * (-1) ** j for j in range(1, p)], dtype=dt)
    layers: list[nn.Module] = []
    # the affine map feeding layer l: (prev features) -> pre-activations of 2p fold units
    prev_w = torch.eye(2, dtype=dt)  # first layer reads (x, y) directly
    prev_b = torch.zeros(2, dtype=dt)
    n_in = 2
    for _ in range(folds):
        lin = nn.Linear(n_in, 2 * p, dtype=dt)
        w = torch.zeros(2 * p, 2, dtype=dt)
        w[:p, 0] = p
        w[p:, 1] = p
        with torch.no_grad():
            lin.weight.copy_(w @ prev_w)
            lin.bias.copy_(w @ prev_b + torch.cat([shift, shift]))
        layers += [lin, nn.ReLU()]
        # the folded coordinates as an affine map of this layer's outputs
        prev_w = torch.zeros(2, 2 * p, dtype=dt)
        prev_w[0, :p] = comb
        prev_w[1, p:] = comb
        prev_b = torch.tensor([-1.0, -1.0], dtype=dt)
        n_in = 2 * p
    lw, lb = montufar_lines(n_last)
    last = nn.Linear(n_in, n_last, dtype=dt)
    with torch.no_grad():
        last.weight.copy_(lw @ prev_w)
        last.bias.copy_(lw @ prev_b + lb)
    out = nn.Linear(n_last, 1, dtype=dt)
    with torch.no_grad():
        out.weight.fill_(1.0)
        out.bias.zero_()
    layers += [last, nn.ReLU(), out]
    return nn.Sequential(*layers)
