"""A family of fully connected nets given by a width profile: what ``moments`` runs batched.

:func:`mlp_family` is the documented way to hand :func:`depthlab.signal.moments` a net given by its
widths: ``moments(mlp_family([10, 10, 10, 10]), 20_000)``. The family is a zero-argument factory
(calling it builds one such net, to inspect or train), and ``moments`` recognizes it and runs all
``K`` initializations at once with the batched engines instead of a loop over modules.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from depthlab.init import initialize
from depthlab.nets.activations import ACTIVATIONS, activation_module

__all__ = ["MLPFamily", "mlp_family"]


class _Residual(nn.Module):
    """``x_l = x_{l-1} + eta_l W2 act(W1 x_{l-1})`` for every block (no biases)."""

    def __init__(self, width: int, etas: Sequence[float], activation: str) -> None:
        super().__init__()
        self.etas = tuple(float(e) for e in etas)
        self.first = nn.ModuleList(
            nn.utils.skip_init(nn.Linear, width, width, bias=False) for _ in self.etas
        )
        self.second = nn.ModuleList(
            nn.utils.skip_init(nn.Linear, width, width, bias=False) for _ in self.etas
        )
        self.act = activation_module(activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for eta, w1, w2 in zip(self.etas, self.first, self.second, strict=True):
            x = x + eta * w2(self.act(w1(x)))
        return x


@dataclass(frozen=True)
class MLPFamily:
    """Fully connected nets ``x_j = act(W^(j) x_{j-1})`` (zero biases) with widths ``n_0..n_d``.

    With ``etas``, residual nets ``x_l = x_{l-1} + eta_l W2 act(W1 x_{l-1})`` of constant width,
    whose second weight ``W2`` has half the scheme's variance (so ``E||branch(x)||^2 = ||x||^2``
    under He), as in Hanin & Rolnick (2018). Build one with :func:`mlp_family`.
    """

    widths: tuple[int, ...]
    activation: str = "relu"
    etas: tuple[float, ...] | None = None

    def __call__(
        self, *, scheme: str = "he_normal", generator: torch.Generator | None = None
    ) -> nn.Module:
        """One net of the family (float32), its weights drawn by ``scheme`` from ``generator``.

        The default generator is seeded with 0, so the same call builds the same net; the global
        random state is never used.
        """
        gen = generator if generator is not None else torch.Generator().manual_seed(0)
        if self.etas is None:
            layers: list[nn.Module] = []
            for a, b in zip(self.widths[:-1], self.widths[1:], strict=True):
                layers += [
                    nn.utils.skip_init(nn.Linear, a, b, bias=False),
                    activation_module(self.activation),
                ]
            return initialize(nn.Sequential(*layers), scheme, gen)
        net = initialize(_Residual(self.widths[0], self.etas, self.activation), scheme, gen)
        with torch.no_grad():
            for w2 in net.second:
                w2.weight.mul_(math.sqrt(0.5))
        return net


def mlp_family(
    widths: Sequence[int], *, activation: str = "relu", etas: Sequence[float] | None = None
) -> MLPFamily:
    """The fully connected (or residual) nets with width profile ``widths = [n_0, ..., n_d]``.

    Pass it to :func:`depthlab.signal.moments` to run every initialization at once:

    >>> from depthlab.signal import mlp_family, moments
    >>> r = moments(mlp_family([10, 10, 10, 10]), 20_000, seed=0)
    >>> r.second  # close to [1, 1.5, 2.25, 3.375] = prod (1 + 5/10)  # doctest: +SKIP

    Parameters
    ----------
    widths : ``[n_0, n_1, ..., n_d]`` with ``d >= 1``; every layer is followed by ``activation``.
    activation : from :data:`depthlab.nets.ACTIVATIONS`.
    etas : branch scales ``eta_1..eta_L`` for a residual net ``x_l = x_{l-1} + eta_l W2 act(W1
        x_{l-1})`` (W2 has half the scheme's variance); needs a constant profile with
        ``len(widths) == len(etas) + 1``.
    """
    ws = tuple(int(n) for n in widths)
    if len(ws) < 2 or min(ws) < 1:
        raise ValueError(f"widths must be [n_0, n_1, ..., n_d] with d >= 1, got {list(ws)}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; allowed: {', '.join(ACTIVATIONS)}")
    if etas is None:
        return MLPFamily(ws, activation)
    es = tuple(float(e) for e in etas)
    if len(es) != len(ws) - 1 or len(set(ws)) != 1:
        raise ValueError(
            f"a residual net needs a constant width profile with len(etas) + 1 entries; "
            f"got widths {list(ws)} and {len(es)} etas"
        )
    return MLPFamily(ws, activation, es)
