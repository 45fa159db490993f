"""Exact constructions with hand-set weights.

Telgarsky's sawtooth: the tent map ``m(x) = relu(2 relu(x) - 4 relu(x - 1/2))`` maps [0, 1] onto
[0, 1]; composed k times it has exactly ``2^k`` affine pieces on [0, 1] and
``m^k(i / 2^k) = i mod 2``. A ReLU net with one hidden layer has at most ``m + 1`` pieces on the
line, so it needs at least ``2^k - 1`` units to match what k layers of 2 units do.
"""

from __future__ import annotations

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
