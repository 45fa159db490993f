"""Shared pieces of the linear-region experiments (Hanin & Rolnick 2019a, 2019b; lecture slide 25).

What matters at initialization is the total number of neurons N, not the depth. The experiments:
:mod:`~depthlab.experiments.regions_density` (``regions-density``, ``regions-distance``),
:mod:`~depthlab.experiments.regions_2d` (``regions-2d``) and
:mod:`~depthlab.experiments.regions_training` (``regions-training``). All counts are exact
(``depthlab.regions``, float64). Nets: He-normal weights, Gaussian biases with std ``bias_std``
(:func:`he_net`); widths ``round(N / depth)`` so that depths compare at (nearly) equal N.

Time budgets on 2 shared CPU cores: each ``--quick`` about 10 s; each default under 2 min.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from pydantic import Field

from depthlab.config import ExperimentConfig
from depthlab.init import initialize
from depthlab.nets import mlp


def load_inputs(
    kind: str, seed: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x_train, y_train, x_test, y_test), 40-D: MNIST-1D or standard Gaussian stand-ins."""
    if kind == "mnist1d":
        from depthlab.data import mnist1d

        d = mnist1d(seed=42)
        return d.x_train, d.y_train, d.x_test, d.y_test
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(1200, 40, generator=g)
    y = (x[:, :10].argmax(1)).long()
    return x[:1000], y[:1000], x[1000:], y[1000:]


def he_net(n0: int, width: int, depth: int, out: int, g: torch.Generator, bias_std: float):
    """``n0 -> width x depth -> out`` ReLU MLP with He-normal weights and N(0, bias_std^2) biases."""
    return initialize(mlp([n0] + [width] * depth + [out]), "he_normal", g, sigma_b2=bias_std**2)


def train_adam(
    net, data, epochs: int, lr: float, batch: int, g: torch.Generator, opt=None
) -> float:
    """Minibatch Adam on cross-entropy (Hanin & Rolnick's setting); returns test accuracy."""
    x, y, xt, yt = data
    opt = opt if opt is not None else torch.optim.Adam(net.parameters(), lr=lr)
    for _ in range(epochs):
        net.train()
        perm = torch.randperm(x.shape[0], generator=g).to(x.device)
        for i in range(0, x.shape[0], batch):
            j = perm[i : i + batch]
            loss = torch.nn.functional.cross_entropy(net(x[j]), y[j])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        return float((net(xt).argmax(1) == yt).double().mean())


def fit_loglog(x, y) -> float:
    """Log-log least-squares slope over the positive pairs; NaN with fewer than two."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = (x > 0) & (y > 0)
    if ok.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)[0])


class SweepConfig(ExperimentConfig):
    """The (depth, N, seed) sweep that ``regions-density`` and ``regions-distance`` share."""

    depths: list[int] = Field(default=[1, 2, 3, 4, 6, 8], description="hidden layers")
    total_units: list[int] = Field(default=[48, 96, 192, 384], description="total hidden units N")
    seeds: int = Field(2, ge=1, description="independent nets per (depth, N)")
    bias_std: float = Field(0.1, ge=0, description="std of the Gaussian biases")
    data: Literal["mnist1d", "gaussian"] = Field(
        "mnist1d", description="where lines/points come from"
    )


__all__ = ["SweepConfig", "fit_loglog", "he_net", "load_inputs", "train_adam"]
