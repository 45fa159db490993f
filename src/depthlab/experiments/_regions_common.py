"""Shared pieces of the linear-region experiments (Hanin & Rolnick 2019a, 2019b; lecture slide 25).

What matters at initialization is the total number of neurons N, not the depth. The experiments:
:mod:`~depthlab.experiments.regions_density` (``regions-density``, ``regions-distance``),
:mod:`~depthlab.experiments.regions_2d` (``regions-2d``) and
:mod:`~depthlab.experiments.regions_training` (``regions-training``). All counts are exact
(``depthlab.regions``, float64). Nets: He-normal weights, Gaussian biases with std ``bias_std``
(:func:`he_net`); widths ``round(N / depth)`` so that depths compare at (nearly) equal N.

Time budgets: each ``--quick`` about 10 s; each default about a minute on one CPU core. Every claim
is decided by :func:`depthlab.core.decide` over seeds (or nets), see each module's design notes.
"""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
import pandas as pd
import torch
from pydantic import Field

from depthlab import evidence
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


# Bounded building blocks of the region configs (issue 13, item 5): every value finite, sizes
# positive, and an upper bound that keeps one run finite on one GPU.
Depth = Annotated[int, Field(ge=1, le=64)]
Units = Annotated[int, Field(ge=1, le=8192)]
MAX_LIST = 32  # entries of a sweep list

BIAS_STD = Field(
    0.1,
    gt=0,
    le=10,
    description="std of the Gaussian biases (> 0: zero biases put every kink through the origin)",
)


class SweepConfig(ExperimentConfig):
    """The (depth, N, seed) sweep that ``regions-density`` and ``regions-distance`` share."""

    depths: list[Depth] = Field(
        default=[1, 2, 3, 4, 6, 8], min_length=1, max_length=MAX_LIST, description="hidden layers"
    )
    total_units: list[Units] = Field(
        default=[48, 96, 192, 384],
        min_length=2,
        max_length=MAX_LIST,
        description="total hidden units N (at least two, for a slope)",
    )
    seeds: int = Field(5, ge=1, le=1000, description="independent nets per (depth, N)")
    bias_std: float = BIAS_STD
    data: Literal["mnist1d", "gaussian"] = Field(
        "mnist1d", description="where lines/points come from"
    )


def loglog_slopes(df: pd.DataFrame, y: str) -> pd.DataFrame:
    """Per (depth, seed): the log-log slope of ``y`` on ``N`` (rows ``depth, N, seed, y``).

    Each (depth, seed) series is one independent set of nets (its own draw per N), so its slope is
    one sample over the independent unit ``seed`` at that depth.
    """
    rows = [
        {"depth": int(d), "seed": int(s), "slope": fit_loglog(g["N"], g[y])}
        for (d, s), g in df.groupby(["depth", "seed"])
    ]
    return pd.DataFrame(rows, columns=["depth", "seed", "slope"])


def worst_depth_slope(
    slopes: pd.DataFrame, target: float, statistic: str
) -> tuple[evidence.Estimate, int, pd.DataFrame]:
    """The slope, with a t interval over seeds, at the depth whose mean slope lies farthest from
    ``target``; and the per-depth estimates (``depth, slope, lo, hi, n``).

    A claim "for every depth" is decided at its least favourable depth: if the interval there lies
    inside the tolerance region, so do (in mean) all others; a depth that departs decides it.
    """
    per = []
    ests = {}
    for d, g in slopes.groupby("depth"):
        vals = g["slope"].to_numpy(dtype=float)
        vals = vals[np.isfinite(vals)]
        if vals.size == 0:
            continue
        e = evidence.mean(vals, unit="seeds", statistic=statistic)
        ests[int(d)] = e
        per.append({"depth": int(d), "slope": e.value, "lo": e.lo, "hi": e.hi, "n": e.n})
    if not ests:
        raise ValueError("no depth gave a finite slope")
    worst = max(ests, key=lambda d: abs(ests[d].value - target))
    e = ests[worst]
    est = evidence.Estimate(
        e.value, e.lo, e.hi, e.n, "t over seeds, least favourable depth", "seeds",
        f"{statistic} at depth {worst} (farthest from {target:g})", e.samples,
    )  # fmt: skip
    return est, worst, pd.DataFrame(per)


def describe_depths(per: pd.DataFrame) -> str:
    """``depth 1: 1.01 [0.98, 1.04]; ...`` for a claim's measured text."""
    parts = []
    for r in per.itertuples():
        iv = "" if r.lo is None or not np.isfinite(r.lo) else f" [{r.lo:.2f}, {r.hi:.2f}]"
        parts.append(f"depth {r.depth}: {r.slope:.2f}{iv}")
    return "; ".join(parts)


__all__ = [
    "BIAS_STD",
    "MAX_LIST",
    "Depth",
    "SweepConfig",
    "Units",
    "describe_depths",
    "fit_loglog",
    "he_net",
    "load_inputs",
    "loglog_slopes",
    "train_adam",
    "worst_depth_slope",
]
