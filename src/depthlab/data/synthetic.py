"""Synthetic regression targets, generated from a seed.

- 1-D functions on an interval: a fixed sum of sinusoids, and Telgarsky's sawtooth;
- products of n inputs drawn from U[low, high] (Rolnick & Tegmark 2018), plainly or by importance
  sampling (:func:`product_is_data`, scored with :func:`weighted_mse`);
- binary-tree compositional functions of n = 2^m inputs (Poggio et al. 2017).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from depthlab.data.base import Dataset
from depthlab.nets.constructions import sawtooth_fn


def sinusoid_target(x: torch.Tensor) -> torch.Tensor:
    """The fixed 1-D target: ``sin(2πx) + 0.5 sin(6πx) + 0.25 sin(14πx)`` on [0, 1]."""
    return (
        torch.sin(2 * math.pi * x)
        + 0.5 * torch.sin(6 * math.pi * x)
        + 0.25 * torch.sin(14 * math.pi * x)
    )


def function_1d(
    fn: Callable[[torch.Tensor], torch.Tensor],
    name: str,
    n_train: int = 1024,
    n_test: int = 4096,
    interval: tuple[float, float] = (0.0, 1.0),
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
) -> Dataset:
    """Train on uniform random points, test on a dense even grid of the interval."""
    lo, hi = interval
    g = torch.Generator().manual_seed(seed)
    x_tr = lo + (hi - lo) * torch.rand(n_train, 1, generator=g, dtype=dtype)
    x_te = torch.linspace(lo, hi, n_test, dtype=dtype).unsqueeze(1)
    return Dataset(
        x_tr,
        fn(x_tr),
        x_te,
        fn(x_te),
        "regression",
        {"name": name, "seed": seed, "interval": list(interval)},
    )


def sinusoid(n_train: int = 1024, n_test: int = 4096, seed: int = 0) -> Dataset:
    return function_1d(sinusoid_target, "sinusoid", n_train, n_test, seed=seed)


def sawtooth_data(k: int, n_train: int = 2048, n_test: int = 8192, seed: int = 0) -> Dataset:
    """The k-fold tent map on [0, 1] (``2^k`` affine pieces)."""
    return function_1d(lambda x: sawtooth_fn(x, k), f"sawtooth-{k}", n_train, n_test, seed=seed)


def product(
    n_inputs: int,
    n_train: int = 4096,
    n_test: int = 2048,
    low: float = 0.0,
    high: float = 2.0,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> Dataset:
    """``y = prod_i x_i`` with ``x ~ U[low, high]^n`` (Rolnick & Tegmark's experiment uses U[0, 2])."""
    g = torch.Generator().manual_seed(seed)
    x = low + (high - low) * torch.rand(n_train + n_test, n_inputs, generator=g, dtype=dtype)
    y = x.prod(dim=1, keepdim=True)
    return Dataset(
        x[:n_train],
        y[:n_train],
        x[n_train:],
        y[n_train:],
        "regression",
        {
            "name": f"product-{n_inputs}",
            "seed": seed,
            "n_inputs": n_inputs,
            "low": low,
            "high": high,
        },
    )


def product_is_data(
    n: int,
    n_train: int,
    n_test: int,
    seed: int,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> Dataset:
    """Points for learning ``y = x_1 ⋯ x_n``, ``x ~ U[0, 2]^n``, by importance sampling.

    Half of each split is drawn from ``U[0, 2]^n`` and half from ``t(x) ∝ y² p(x)``
    (``x_i = 2 u^{1/3}``); a point's weight is ``p/q = 1 / (½ + ½ y²/E[y²])`` with
    ``E[y²] = (4/3)^n``. Inputs are shifted to ``[-1, 1]``; targets are ``(N, 2)``:
    ``y' = (y − 1) / s`` with ``s² = E_q[(y − 1)²]`` (exact), and the weight times
    ``s² / Var(y)``, so that ``mean(weight · (f' − y')²)`` estimates the relative MSE
    ``E_p[(f − y)²] / Var(y)`` of ``f = 1 + s f'`` without bias (see :func:`weighted_mse`).
    """
    g = torch.Generator().manual_seed(seed)
    total = n_train + n_test
    u = torch.rand(total, n, generator=g, dtype=torch.float64)
    tilted = torch.arange(total) % 2 == 1  # alternate: half of each split from each part
    x = torch.where(tilted.unsqueeze(1), 2 * u ** (1 / 3), 2 * u)
    y = x.prod(dim=1)
    m2 = (4 / 3) ** n  # E_p[y^2]
    var_p = m2 - 1
    # E_t[y] = E_p[y^3]/E_p[y^2] = 1.5^n, E_t[y^2] = E_p[y^4]/E_p[y^2] = 2.4^n
    s2 = 0.5 * var_p + 0.5 * (2.4**n - 2 * 1.5**n + 1)
    w = 1 / (0.5 + 0.5 * y**2 / m2)
    tgt = torch.stack([(y - 1) / math.sqrt(s2), w * s2 / var_p], dim=1)
    x = x - 1
    return Dataset(
        x[:n_train],
        tgt[:n_train],
        x[n_train:],
        tgt[n_train:],
        "regression",
        {"name": f"product-{n}-is", "seed": seed, "n_inputs": n, "y_scale": math.sqrt(s2)},
    ).to(device, dtype)


def weighted_mse(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``mean(target[:, 1] · (out[:, 0] − target[:, 0])²)``: the relative MSE estimate."""
    return (target[:, 1] * (out[:, 0] - target[:, 0]) ** 2).mean()


class TreeFunction:
    """A binary-tree compositional function of ``n = 2^m`` inputs.

    Every internal node applies its own smooth bivariate function
    ``h(a, b) = tanh(w_a a + w_b b + w_ab a b + c)`` with seeded coefficients, so
    ``f = h_root(h_L(...), h_R(...))`` (Poggio et al. 2017's compositional targets).
    """

    def __init__(self, n_inputs: int, seed: int = 0) -> None:
        if n_inputs < 2 or n_inputs & (n_inputs - 1):
            raise ValueError(f"n_inputs must be a power of two >= 2, got {n_inputs}")
        self.n_inputs = n_inputs
        g = torch.Generator().manual_seed(seed)
        self.levels: list[torch.Tensor] = []  # per level: (nodes, 4) coefficients
        nodes = n_inputs // 2
        while nodes >= 1:
            coef = torch.randn(nodes, 4, generator=g, dtype=torch.float64)
            coef[:, :2] = coef[:, :2].sign() * (0.7 + 0.6 * coef[:, :2].abs().clamp(max=1.5))
            self.levels.append(coef)
            nodes //= 2

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        h = x.to(torch.float64)  # (B, n)
        for coef in self.levels:
            a, b = h[:, 0::2], h[:, 1::2]  # (B, nodes)
            h = torch.tanh(coef[:, 0] * a + coef[:, 1] * b + coef[:, 2] * a * b + 0.5 * coef[:, 3])
        return h.to(x.dtype)  # (B, 1)


def tree_compositional(
    n_inputs: int,
    n_train: int = 4096,
    n_test: int = 2048,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> Dataset:
    """Inputs ``U[-1, 1]^n`` and targets from a seeded :class:`TreeFunction`."""
    f = TreeFunction(n_inputs, seed)
    g = torch.Generator().manual_seed(seed + 1)
    x = 2 * torch.rand(n_train + n_test, n_inputs, generator=g, dtype=dtype) - 1
    y = f(x)
    return Dataset(
        x[:n_train],
        y[:n_train],
        x[n_train:],
        y[n_train:],
        "regression",
        {"name": f"tree-{n_inputs}", "seed": seed, "n_inputs": n_inputs},
    )
