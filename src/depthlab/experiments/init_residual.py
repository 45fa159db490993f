"""Residual nets at initialization (lecture slide 18; Hanin & Rolnick 2018; THEORY.md §2).

``init-residual``: ``E[M_L]`` of residual nets with branch scales ``eta = 1``, ``1/sqrt(L)`` and
``b^l`` at L = 10, 50, 200 (width 64, K = 2000 nets per (schedule, L)) beside
``prod (1 + eta_l^2)``. Every claim's interval is a percentile bootstrap over nets. Regions: the
slope of measured on predicted ``log E[M_L]`` over the L in [0.95, 1.05] per schedule; for the
bounded schedules (``sum eta_l^2`` bounded) ``|log E[M_200] - log E[M_50]|`` at most 0.1
(quadrupling the depth moves the mean by under 10 %), where ``eta_l = l^(-1/2)`` (unbounded,
``E[M_L] = L + 1``) gives 1.37 and ``eta = 1`` gives 104. Time budget: default about 20 s,
``--quick`` about 2 s.

Measured at the default scale (seed 0, design commit 40de53b, 9.4 s CPU): every claim holds.
Log-slopes 0.996 [0.994, 0.999] (eta = 1), 1.000 [0.994, 1.007] (1/sqrt(L)), 1.000 [0.997,
1.004] (0.9^l); largest change of log E[M_L] from L = 50 to 200 for the bounded schedules 0.020
[0.004, 0.049]. Seed 1 gives the same verdicts.
"""

from __future__ import annotations

import math
from typing import Annotated

import numpy as np
import pandas as pd
import torch
from pydantic import Field, field_validator

from depthlab.config import ExperimentConfig
from depthlab.context import RunContext
from depthlab.core import Result
from depthlab.experiments._init_claims import residual_claims
from depthlab.experiments.base import register
from depthlab.signal import mlp_family, moments
from depthlab.theory import signal as th


class InitResidualConfig(ExperimentConfig):
    width: int = Field(64, ge=4, le=4096)
    blocks: list[Annotated[int, Field(ge=2, le=2000)]] = Field(
        default=[10, 50, 200],
        min_length=2,
        max_length=10,
        description="depths L (residual blocks) to compare, increasing",
    )
    geometric_b: float = Field(0.9, gt=0, lt=1, description="b in eta_l = b^l")
    n_inits: int = Field(2000, ge=50, le=1_000_000, description="nets per (schedule, L)")
    bounded_tolerance: float = Field(
        0.1,
        gt=0,
        le=10,
        description="region of |log E[M_L] - log E[M_L']| at the two largest L for bounded "
        "schedules",
    )

    # the bounded claim compares the two largest L: both beyond where 0.9^l has converged
    _quick_overrides = {"width": 32, "blocks": [10, 50, 100], "n_inits": 1000}
    _tiny_overrides = {"width": 16, "blocks": [10, 40, 60], "n_inits": 200}
    _paper_overrides = {"width": 256, "blocks": [10, 50, 200, 1000], "n_inits": 20_000}

    @field_validator("blocks")
    @classmethod
    def _increasing(cls, v: list[int]) -> list[int]:
        if sorted(set(v)) != v:
            raise ValueError(f"blocks must be strictly increasing, got {v}")
        return v


def schedules(length: int, b: float) -> list[tuple[str, str, list[float]]]:
    """(label, claim slug, branch scales eta_1..eta_L) of the three schedules at depth ``length``."""
    return [
        ("eta=1", "eta-one", [1.0] * length),
        ("eta=1/sqrt(L)", "eta-inv-sqrt-depth", [1.0 / math.sqrt(length)] * length),
        (f"eta={b:g}^l", "eta-geometric", [b**i for i in range(1, length + 1)]),
    ]


@register
class InitResidual:
    """Residual nets: ``E[M_L] = M_0 prod (1 + eta_l^2)``; bounded in L iff ``sum eta_l^2`` is.

    Branch ``x -> eta_l W2 relu(W1 x)`` with ``Var W1 = 2/n`` and ``Var W2 = 1/n`` so that
    ``E||branch(x)||^2 = ||x||^2`` exactly. Time budget: default about 20 s, ``--quick`` about 2 s.
    """

    name = "init-residual"
    title = "Residual nets: the mean grows like prod(1 + eta_l^2); scaled branches keep it bounded"
    section = "init"
    order = 40
    Config = InitResidualConfig

    def run(self, config: InitResidualConfig, ctx: RunContext) -> Result:
        rows, finals = [], []
        per_net: dict[str, list[np.ndarray]] = {}
        preds: dict[str, list[float]] = {}
        labels: dict[str, str] = {}
        jobs = [(L, s) for L in config.blocks for s in schedules(L, config.geometric_b)]
        for L, (label, slug, etas) in ctx.progress.track(jobs, "depths x schedules"):
            r = moments(
                mlp_family([config.width] * (L + 1), etas=etas),
                config.n_inits,
                jacobian=False,
                generator=ctx.generator("init-residual", slug, L, device=ctx.device),
                dtype=torch.float64,  # eta = 1 reaches 2^L: beyond float32 at L > 127
                device=ctx.device,
            )
            pred = th.residual_mean_ratio(etas)
            ratio = r.ratio.double().cpu().numpy()
            mean, se = ratio.mean(0), ratio.std(0, ddof=1) / math.sqrt(ratio.shape[0])
            per_net.setdefault(slug, []).append(ratio[:, -1])
            preds.setdefault(slug, []).append(pred[-1])
            labels[slug] = label
            finals.append(
                {
                    "schedule": label,
                    "slug": slug,
                    "blocks": L,
                    "mean_m": float(mean[-1]),
                    "mean_m_se": float(se[-1]),
                    "predicted": pred[-1],
                    "sum_eta2": float(sum(e * e for e in etas)),
                }
            )
            if L != max(config.blocks):
                continue
            for b in range(L + 1):
                rows.append(
                    {
                        "schedule": label,
                        "block": b,
                        "eta": etas[b - 1] if b else float("nan"),
                        "mean_m": float(mean[b]),
                        "mean_m_se": float(se[b]),
                        "predicted": pred[b],
                        "sum_eta": float(sum(etas[:b])),
                        "sum_eta2": float(sum(e * e for e in etas[:b])),
                    }
                )
        units = {s: np.stack(v, 1) for s, v in per_net.items()}
        claims = residual_claims(
            units,
            {s: np.array(v) for s, v in preds.items()},
            labels,
            config,
            lambda *k: ctx.rng("init-residual", "bootstrap", *k),
        )
        return Result(
            self.name,
            config.model_dump(),
            claims,
            {"residual_mean": pd.DataFrame(rows), "residual_depths": pd.DataFrame(finals)},
            {},
            {"blocks": float(max(config.blocks)), "width": float(config.width)},
        )

    def figures(self, result: Result, fig_dir) -> dict[str, str]:
        from depthlab.plots.common import new_figure, save_figure
        from depthlab.plots.signal import plot_init_residual

        figures = plot_init_residual(result.tables["residual_mean"], fig_dir.parent)
        deep = result.tables["residual_depths"]
        fig, axes = new_figure()
        ax = axes[0, 0]
        for i, (label, g) in enumerate(deep.groupby("schedule", sort=False)):
            c = f"C{i}"
            ax.errorbar(
                g["blocks"], g["mean_m"], yerr=2 * g["mean_m_se"], fmt="o", color=c, label=label
            )
            ax.plot(g["blocks"], g["predicted"], "-", color=c, lw=1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("depth L (residual blocks)")
        ax.set_ylabel("E[M_L] / M_0  (±2 SE; lines: Π(1 + η²))")
        ax.set_title("bounded in L iff Σ η² is bounded")
        ax.legend(fontsize=7)
        figures["residual_bounded"] = save_figure(fig, fig_dir.parent, "residual_bounded")
        return figures
