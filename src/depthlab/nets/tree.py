"""A tree-structured network that mirrors a binary-tree compositional target.

For ``n = 2^L`` inputs, level ℓ has ``n / 2^{ℓ+1}`` nodes; each node is a small MLP
``2 -> m -> 1`` (its own weights) applied to the outputs of its two children, exactly the graph
of ``f = h_root(h_L(...), h_R(...))`` (Poggio et al. 2017). Every level's nodes are evaluated at
once with batched matrix products.

Parameters: ``(n − 1)(4m + 1)``. Hidden tanh layers: ``log2 n``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from depthlab.nets.activations import activation_fn


class TreeNet(nn.Module):
    """Binary-tree net: ``(B, n) -> (B, 1)``, one ``2 -> m -> 1`` MLP per internal node.

    Parameters
    ----------
    n_inputs : a power of two ≥ 2.
    node_width : hidden units m of every node.
    activation : the nodes' nonlinearity.
    generator : seeds the LeCun-normal weights (:meth:`reset_parameters`); None: global RNG.

    Attributes
    ----------
    w1, b1, w2, b2 : per level, ``(nodes, 2, m)``, ``(nodes, m)``, ``(nodes, m, 1)``, ``(nodes, 1)``.
    """

    def __init__(
        self,
        n_inputs: int,
        node_width: int,
        activation: str = "tanh",
        *,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if n_inputs < 2 or n_inputs & (n_inputs - 1):
            raise ValueError(f"n_inputs must be a power of two >= 2, got {n_inputs}")
        if node_width < 1:
            raise ValueError(f"node_width must be >= 1, got {node_width}")
        self.n_inputs, self.node_width, self.activation = n_inputs, node_width, activation
        self._act = activation_fn(activation)
        self.w1, self.b1 = nn.ParameterList(), nn.ParameterList()
        self.w2, self.b2 = nn.ParameterList(), nn.ParameterList()
        nodes = n_inputs // 2
        while nodes >= 1:
            self.w1.append(nn.Parameter(torch.empty(nodes, 2, node_width)))
            self.b1.append(nn.Parameter(torch.zeros(nodes, node_width)))
            self.w2.append(nn.Parameter(torch.empty(nodes, node_width, 1)))
            self.b2.append(nn.Parameter(torch.zeros(nodes, 1)))
            nodes //= 2
        self.reset_parameters(generator)

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator | None = None) -> TreeNet:
        """LeCun-normal weights (variance 1/fan_in per node), zero biases."""
        for w1, b1, w2, b2 in zip(self.w1, self.b1, self.w2, self.b2, strict=True):
            w1.normal_(0.0, math.sqrt(1 / 2), generator=generator)
            w2.normal_(0.0, math.sqrt(1 / self.node_width), generator=generator)
            b1.zero_()
            b2.zero_()
        return self

    @property
    def depth(self) -> int:
        return len(self.w1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x  # (B, n)
        for w1, b1, w2, b2 in zip(self.w1, self.b1, self.w2, self.b2, strict=True):
            pairs = h.reshape(h.shape[0], -1, 2, 1)  # (B, nodes, 2, 1)
            # Each node sees only its 2 children: broadcasting beats a batched matmul here.
            z = self._act(
                pairs[:, :, 0] * w1[:, 0] + pairs[:, :, 1] * w1[:, 1] + b1
            )  # (B, nodes, m)
            h = (z * w2[..., 0]).sum(dim=-1) + b2[:, 0]  # (B, nodes)
        return h  # (B, 1)

    def extra_repr(self) -> str:
        return (
            f"n_inputs={self.n_inputs}, node_width={self.node_width}, activation={self.activation}"
        )


def tree_net(
    n_inputs: int,
    node_width: int,
    activation: str = "tanh",
    *,
    generator: torch.Generator | None = None,
) -> TreeNet:
    """A :class:`TreeNet` with ``(n − 1)(4m + 1)`` parameters, seeded by ``generator``."""
    return TreeNet(n_inputs, node_width, activation, generator=generator)
