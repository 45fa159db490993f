"""Fully connected networks: plain MLPs with any width profile, and residual MLPs."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from depthlab.nets.activations import activation_module
from depthlab.nets.seeded import keep_global_rng, reset_parameters


def _check_widths(widths: Sequence[int]) -> list[int]:
    widths = [int(w) for w in widths]
    if len(widths) < 2:
        raise ValueError(f"widths needs at least an input and an output size, got {widths}")
    bad = [w for w in widths if w < 1]
    if bad:
        raise ValueError(f"every width must be a positive integer, got {widths}")
    return widths


class MLP(nn.Sequential):
    """``Linear -> act -> ... -> Linear``; ``widths = [n_0, n_1, ..., n_L]``.

    The hidden layers are ``n_1 .. n_{L-1}``; the last Linear has no activation.
    Layers are plain ``nn.Linear`` and activation modules in one ``nn.Sequential``,
    so every probe (hooks, tracing, functional calls) sees them directly. With ``generator``
    the parameters are drawn from it (PyTorch's default distributions, see
    :mod:`depthlab.nets.seeded`), else from the global RNG as PyTorch does.
    """

    def __init__(
        self,
        widths: Sequence[int],
        activation: str = "relu",
        bias: bool = True,
        *,
        generator: torch.Generator | None = None,
    ) -> None:
        with keep_global_rng(generator):  # PyTorch's layers draw from it
            widths = _check_widths(widths)
            layers: list[nn.Module] = []
            for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
                layers.append(nn.Linear(a, b, bias=bias))
                if i < len(widths) - 2:
                    layers.append(activation_module(activation))
            super().__init__(*layers)
            self.widths = widths
            self.activation = activation
        reset_parameters(self, generator)

    @property
    def hidden_widths(self) -> list[int]:
        return self.widths[1:-1]

    def extra_repr(self) -> str:
        return f"widths={'-'.join(map(str, self.widths))}, activation={self.activation}"


def mlp(
    widths: Sequence[int],
    activation: str = "relu",
    bias: bool = True,
    *,
    generator: torch.Generator | None = None,
) -> MLP:
    """An MLP with the given width profile, e.g. ``mlp([784, 64, 64, 10])``.

    ``generator`` seeds the parameters (PyTorch's default init drawn from it).
    """
    return MLP(widths, activation=activation, bias=bias, generator=generator)


def parse_widths(spec: str) -> list[int]:
    """``"784-64-64-10"`` or ``"784-64x3-10"`` -> ``[784, 64, 64, 64, 10]``."""
    out: list[int] = []
    for part in spec.replace(",", "-").split("-"):
        part = part.strip()
        if not part:
            continue
        if "x" in part:
            w, n = part.split("x", 1)
            out += [int(w)] * int(n)
        else:
            out.append(int(part))
    return _check_widths(out)


class ResidualBlock(nn.Module):
    """``x + eta * W2 act(W1 act(x))``-style branch: ``x -> x + eta * branch(x)``.

    The branch is ``Linear -> act -> Linear`` (``branch_depth`` Linear layers with activations
    between and in front), so ``E||branch(x)||^2 ≈ ||x||^2`` under He init, as in Hanin & Rolnick.
    """

    def __init__(
        self,
        width: int,
        eta: float,
        activation: str = "relu",
        branch_depth: int = 2,
        *,
        generator: torch.Generator | None = None,
    ) -> None:
        with keep_global_rng(generator):  # PyTorch's layers draw from it
            super().__init__()
            layers: list[nn.Module] = []
            for _ in range(branch_depth):
                layers += [activation_module(activation), nn.Linear(width, width)]
            self.branch = nn.Sequential(*layers)
            self.eta = float(eta)
        reset_parameters(self, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.eta * self.branch(x)

    def extra_repr(self) -> str:
        return f"eta={self.eta:g}"


class ResidualMLP(nn.Module):
    """``in -> Linear(width) -> L residual blocks (scales eta_l) -> act -> Linear(out)``.

    Parameters
    ----------
    in_features, width, out_features : sizes.
    etas : per-block branch scales eta_l; its length is the number of blocks L.
    generator : seeds the parameters (PyTorch's default init drawn from it); None: global RNG.
    """

    def __init__(
        self,
        in_features: int,
        width: int,
        out_features: int,
        etas: Sequence[float],
        activation: str = "relu",
        branch_depth: int = 1,
        *,
        generator: torch.Generator | None = None,
    ) -> None:
        with keep_global_rng(generator):  # PyTorch's layers draw from it
            super().__init__()
            self.stem = nn.Linear(in_features, width)
            self.blocks = nn.Sequential(
                *[ResidualBlock(width, e, activation, branch_depth) for e in etas]
            )
            self.act = activation_module(activation)
            self.head = nn.Linear(width, out_features)
            self.etas = [float(e) for e in etas]
        reset_parameters(self, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.act(self.blocks(self.stem(x))))


def residual_mlp(
    in_features: int,
    width: int,
    out_features: int,
    depth: int,
    eta: float | Sequence[float] = 1.0,
    activation: str = "relu",
    branch_depth: int = 1,
    *,
    generator: torch.Generator | None = None,
) -> ResidualMLP:
    """A residual MLP with ``depth`` blocks and branch scale ``eta`` (a number or one per block).

    ``generator`` seeds the parameters (PyTorch's default init drawn from it).
    """
    etas = [float(eta)] * depth if isinstance(eta, (int, float)) else list(eta)
    if len(etas) != depth:
        raise ValueError(f"eta has {len(etas)} entries but depth is {depth}")
    return ResidualMLP(
        in_features, width, out_features, etas, activation, branch_depth, generator=generator
    )
