"""Exact multiplication and squaring networks (Lin, Tegmark & Rolnick 2017; Rolnick & Tegmark 2018).

For a smooth activation with ``sigma''(a) != 0`` at an expansion point ``a``,
``sigma(a + t) + sigma(a - t) = 2 sigma(a) + sigma''(a) t^2 + O(t^4)``. Taking ``t = lambda(u ± v)``:

    uv ≈ [σ(a+λ(u+v)) + σ(a−λ(u+v)) − σ(a+λ(u−v)) − σ(a−λ(u−v))] / (4 λ² σ''(a))    (4 neurons)
    x² ≈ [σ(a+λx) + σ(a−λx) − 2σ(a)] / (λ² σ''(a))                                    (3 neurons)

with error ``O(λ²)`` (relative error ``O(λ²(u² + v²))``), exact as ``λ -> 0``. Softplus
(``σ''(0) = 1/4``), SiLU (``1/2``) and GELU (``2 φ(0) ≈ 0.798``) use ``a = 0`` and need no biases,
as in the theorems. tanh and the logistic function have ``σ''(0) = 0``; they expand about the
shifted point ``a`` that maximises ``|σ''|`` (a hidden bias ``a``), see :func:`expansion_point`.

A binary tree of multiplication gates computes ``x_1 ⋯ x_n`` with ``4(n − 1)`` neurons in
``ceil(log2 n)`` hidden layers (:func:`product_tree`).

References
----------
Lin, Tegmark & Rolnick 2017, "Why does deep and cheap learning work so well?", J. Stat. Phys.
Rolnick & Tegmark 2018, "The power of deeper networks for expressing natural functions", ICLR.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from depthlab.nets.activations import activation_fn, activation_module

SMOOTH_ACTIVATIONS: tuple[str, ...] = ("softplus", "silu", "gelu", "tanh", "erf")


def second_derivative(activation: str, a: float = 0.0) -> float:
    """``σ''(a)`` of a named activation, by autograd in float64."""
    fn = activation_fn(activation)
    with torch.enable_grad():  # works under a caller's no_grad too
        x = torch.tensor(float(a), dtype=torch.float64, requires_grad=True)
        (g,) = torch.autograd.grad(fn(x), x, create_graph=True)
        (h,) = torch.autograd.grad(g, x)
    return float(h)


def expansion_point(activation: str) -> float:
    """The point ``a`` the gates expand about: 0 when ``σ''(0) != 0``, else ``argmax |σ''|``.

    For tanh, ``σ''(x) = −2 tanh(x) sech²(x)`` peaks in magnitude at ``x = artanh(1/√3) ≈ 0.658``.
    """
    if activation not in SMOOTH_ACTIVATIONS:
        raise ValueError(
            f"multiplication gates need a smooth activation with a nonzero second derivative; "
            f"got {activation!r}; allowed: {', '.join(SMOOTH_ACTIVATIONS)}"
        )
    if abs(second_derivative(activation, 0.0)) > 1e-8:
        return 0.0
    if activation == "tanh":
        return math.atanh(1 / math.sqrt(3))
    grid = [0.005 * i for i in range(1, 601)]  # (0, 3]
    return max(grid, key=lambda t: abs(second_derivative(activation, t)))


def _check_lambda(lam: float) -> float:
    lam = float(lam)
    if not lam > 0:
        raise ValueError(f"the scale lambda must be > 0, got {lam}")
    return lam


def multiplication_gate(
    activation: str = "softplus", lam: float = 0.01, dtype: torch.dtype = torch.float64
) -> nn.Sequential:
    """The 4-neuron gate ``(u, v) -> ≈ uv``: ``Linear(2, 4) -> σ -> Linear(4, 1)``.

    Hidden pre-activations ``a ± λ(u + v)`` and ``a ± λ(u − v)``; readout
    ``(1, 1, −1, −1) / (4 λ² σ''(a))``. Hidden biases are zero unless ``a != 0`` (tanh);
    the readout has no bias.
    """
    lam = _check_lambda(lam)
    a = expansion_point(activation)
    s2 = second_derivative(activation, a)
    hidden = nn.Linear(2, 4, bias=a != 0.0)
    out = nn.Linear(4, 1, bias=False)
    with torch.no_grad():
        hidden.weight.copy_(
            lam * torch.tensor([[1.0, 1.0], [-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0]])
        )
        if hidden.bias is not None:
            hidden.bias.fill_(a)
        out.weight.copy_(torch.tensor([[1.0, 1.0, -1.0, -1.0]]) / (4 * lam**2 * s2))
    return nn.Sequential(hidden, activation_module(activation), out).to(dtype)


def squaring_gate(
    activation: str = "softplus", lam: float = 0.01, dtype: torch.dtype = torch.float64
) -> nn.Sequential:
    """The 3-neuron gate ``x -> ≈ x²``: ``Linear(1, 3) -> σ -> Linear(3, 1)``.

    Hidden pre-activations ``a + λx``, ``a − λx`` and ``a`` (the third neuron has input weight 0
    and carries ``σ(a)``); readout ``(1, 1, −2) / (λ² σ''(a))``.
    """
    lam = _check_lambda(lam)
    a = expansion_point(activation)
    s2 = second_derivative(activation, a)
    hidden = nn.Linear(1, 3, bias=a != 0.0)
    out = nn.Linear(3, 1, bias=False)
    with torch.no_grad():
        hidden.weight.copy_(lam * torch.tensor([[1.0], [-1.0], [0.0]]))
        if hidden.bias is not None:
            hidden.bias.fill_(a)
        out.weight.copy_(torch.tensor([[1.0, 1.0, -2.0]]) / (lam**2 * s2))
    return nn.Sequential(hidden, activation_module(activation), out).to(dtype)


class ProductTree(nn.Module):
    """A binary tree of 4-neuron multiplication gates: ``(B, n) -> (B, 1) ≈ prod_i x_i``.

    Level j pairs up the current values and multiplies each pair with one gate (4 neurons); an
    odd value out is carried to the next level unchanged by a linear shortcut (no neurons).
    There are ``n − 1`` gates, so ``4(n − 1)`` hidden neurons, in ``ceil(log2 n)`` hidden layers.
    For ``n`` a power of two there are no shortcuts and the net is a plain MLP (the readout of
    one level and the input weights of the next compose into one linear map).

    Attributes
    ----------
    levels : per level, ``nn.Sequential(Linear(2g, 4g), σ, Linear(4g, g))`` for its g gates.
    n_neurons : hidden neurons, ``4(n − 1)``.
    n_layers : hidden layers, ``ceil(log2 n)``.
    """

    def __init__(self, n_inputs: int, activation: str = "softplus", lam: float = 0.01) -> None:
        super().__init__()
        if n_inputs < 2:
            raise ValueError(f"a product tree needs n_inputs >= 2, got {n_inputs}")
        lam = _check_lambda(lam)
        gate = multiplication_gate(activation, lam, dtype=torch.float64)
        w1, w2 = gate[0].weight, gate[2].weight  # (4, 2), (1, 4)
        b1 = gate[0].bias
        self.n_inputs, self.activation, self.lam = n_inputs, activation, lam
        self.levels = nn.ModuleList()
        self.carry: list[bool] = []
        m = n_inputs
        while m > 1:
            g = m // 2
            hidden = nn.Linear(2 * g, 4 * g, bias=b1 is not None)
            out = nn.Linear(4 * g, g, bias=False)
            with torch.no_grad():
                hidden.weight.zero_()
                out.weight.zero_()
                for i in range(g):
                    hidden.weight[4 * i : 4 * i + 4, 2 * i : 2 * i + 2] = w1
                    out.weight[i, 4 * i : 4 * i + 4] = w2[0]
                if b1 is not None:
                    hidden.bias.copy_(b1.repeat(g))
            self.levels.append(nn.Sequential(hidden, activation_module(activation), out))
            self.carry.append(m % 2 == 1)
            m = g + m % 2
        self.to(torch.float64)

    @property
    def n_neurons(self) -> int:
        return sum(level[0].out_features for level in self.levels)

    @property
    def n_layers(self) -> int:
        return len(self.levels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x  # (B, m)
        for level, carry in zip(self.levels, self.carry, strict=True):
            g = level[0].in_features // 2
            prod = level(h[:, : 2 * g])  # (B, g)
            h = torch.cat([prod, h[:, 2 * g :]], dim=1) if carry else prod
        return h  # (B, 1)

    def extra_repr(self) -> str:
        return (
            f"n_inputs={self.n_inputs}, activation={self.activation}, lam={self.lam:g}, "
            f"neurons={self.n_neurons}, layers={self.n_layers}"
        )


def product_tree(
    n_inputs: int,
    activation: str = "softplus",
    lam: float = 0.01,
    dtype: torch.dtype = torch.float64,
) -> ProductTree:
    """``x_1 ⋯ x_n`` with ``4(n − 1)`` neurons in ``ceil(log2 n)`` layers; see :class:`ProductTree`.

    Errors compound up the tree: keep ``λ · max|partial product|`` small.
    """
    return ProductTree(n_inputs, activation, lam).to(dtype)
