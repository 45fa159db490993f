"""Curve length in piecewise-linear nets (lecture slide 17; THEORY.md §1).

- ``relu-he-length``: He-initialised ReLU nets keep the expected length, while its variance grows
  with depth (Hanin, Jeong & Rolnick 2022).
- ``transitions-vs-length``: in hard-tanh nets the number of linear pieces along a curve grows in
  proportion to its length (Raghu et al. 2017), both measured exactly with :mod:`depthlab.pl`.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch
from pydantic import Field

from depthlab import trajectory as tj
from depthlab.config import ExperimentConfig
from depthlab.context import RunContext
from depthlab.core import Claim, Result, verdict_from
from depthlab.experiments._curvature_common import (
    fit_slope,
    light_mean_field,
    random_circle,
    stacked_mlp,
)
from depthlab.experiments.base import register


class ReluHeConfig(ExperimentConfig):
    width: int = Field(100, ge=4)
    depth: int = Field(20, ge=2)
    nets: int = Field(200, ge=10)
    n_points: int = Field(256, ge=16)
    tolerance: float = Field(
        0.15, gt=0, description="allowed |E[length ratio] - 1| at the last layer"
    )

    _quick_overrides = {"width": 40, "depth": 12, "nets": 150, "n_points": 256}


@register
class ReluHeLength:
    """Hanin, Jeong & Rolnick (2022). Budget: default ~60 s, quick ~5 s."""

    name = "relu-he-length"
    title = "He-initialised ReLU nets keep the expected length; only its spread grows with depth"
    section = "curvature"
    order = 40
    Config = ReluHeConfig

    def run(self, config: ReluHeConfig, ctx: RunContext) -> Result:
        n = config.width
        gen = ctx.generator(4)
        circle = random_circle(n, math.sqrt(n), gen)
        ws, bs = stacked_mlp(
            [n] * (config.depth + 1), config.nets, 2.0, 0.0, gen, ctx.dtype, ctx.device
        )
        lens, _ = tj.mlp_lengths(ws, bs, torch.relu, circle, n=config.n_points)
        # relative to h^1: the first layer maps the raw input (not a ReLU output) and so has
        # gain sqrt(2) under He init; from there on E[speed^2] is preserved exactly
        ratio = lens[:, 1:] / lens[:, 1:2]  # (K, L), layer l = h^l
        layers = np.arange(1, ratio.shape[1] + 1)
        table = pd.DataFrame(
            {
                "net": np.repeat(np.arange(config.nets), len(layers)),
                "layer": np.tile(layers, config.nets),
                "length_ratio": ratio.ravel(),
            }
        )
        summary = (
            table.groupby("layer")["length_ratio"]
            .agg(mean="mean", std="std", var_log=lambda x: float(np.var(np.log(x))))
            .reset_index()
        )
        # the chaotic tanh contrast, same width and depth: sigma_w = 2.5
        m = light_mean_field(2.5**2, 0.09)
        last = summary.iloc[-1]
        mean_ok = abs(last["mean"] - 1) <= config.tolerance
        v = summary[summary.layer >= 2]
        var_slope = fit_slope(v.layer, v.var_log)
        var_ok = var_slope > 0 and v.var_log.iloc[-1] >= 3 * v.var_log.iloc[0]
        se = last["std"] / math.sqrt(config.nets)
        claims = [
            Claim(
                id="hanin-jeong-rolnick-2022.he-mean-length-flat",
                statement="For He-initialised ReLU nets the expected length of a curve does not grow with depth.",
                source="Hanin, Jeong & Rolnick 2022; THEORY.md §1 (counterpoint)",
                predicted="E[L_l / L_1] ≈ 1 at every depth",
                measured=f"{last['mean']:.3f} ± {se:.3f} (s.e.) at depth {config.depth}; a chaotic tanh net (sigma_w=2.5) would give {m.length_ratio**config.depth:.3g}",
                tolerance=f"|E[L_{config.depth} / L_1] - 1| <= {config.tolerance}",
                verdict=verdict_from(bool(mean_ok)),
                note=(
                    f"{config.nets} nets of width {n}, zero biases. Under He init E[speed^2] is "
                    "preserved exactly from layer 1 on, so E[length] can only shrink (Jensen) as "
                    "the spread grows; Hanin, Jeong & Rolnick report such a slight shrinkage."
                ),
            ),
            Claim(
                id="hanin-jeong-rolnick-2022.he-variance-grows",
                statement="The spread of the length across initialisations grows with depth.",
                source="Hanin, Jeong & Rolnick 2022; Hanin & Rolnick 2018 (beta = sum 1/n_j)",
                predicted="Var(log length ratio) increasing with depth",
                measured=f"Var(log L_l/L_1) {v.var_log.iloc[0]:.4f} at layer 2 -> {v.var_log.iloc[-1]:.4f} at layer {config.depth}; slope {var_slope:.2e}/layer",
                tolerance="positive slope and last-layer variance >= 3x layer 2's",
                verdict=verdict_from(bool(var_ok)),
            ),
        ]
        from depthlab.plots.curvature import plot_relu_he

        figures = plot_relu_he(table, summary, ctx.out_dir)
        return Result(
            self.name,
            config.model_dump(),
            claims,
            {"ratios": table, "summary": summary},
            figures,
            {"mean_ratio_last": float(last["mean"]), "var_log_last": float(last["var_log"])},
        )


# =========================================================================== hard-tanh transitions


class TransitionsConfig(ExperimentConfig):
    width: int = Field(32, ge=2)
    depth: int = Field(8, ge=2)
    input_dim: int = Field(8, ge=2)
    sigma_w2: list[float] = Field(default=[2.0, 4.0, 8.0, 16.0])
    sigma_b2: float = Field(0.1, ge=0)
    seeds: int = Field(3, ge=1)
    slope_range: tuple[float, float] = (0.75, 1.25)

    _quick_overrides = {"width": 16, "depth": 6, "sigma_w2": [2.0, 4.0, 8.0, 16.0], "seeds": 2}


@register
class TransitionsVsLength:
    """Raghu et al. (2017), hard-tanh. Budget: default ~60 s, quick ~6 s."""

    name = "transitions-vs-length"
    title = "Hard-tanh nets: linear pieces along a curve grow in proportion to its length"
    section = "curvature"
    order = 50
    Config = TransitionsConfig

    def run(self, config: TransitionsConfig, ctx: RunContext) -> Result:
        from depthlab.init import initialize
        from depthlab.nets import mlp

        gen = ctx.generator(5)
        rows = []
        pts = torch.randn(3, config.input_dim, generator=gen, dtype=torch.float64)
        curve = tj.closed_curve(pts)  # closed polyline through three random points
        jobs = [(sw2, s) for sw2 in config.sigma_w2 for s in range(config.seeds)]
        for sw2, s in ctx.progress.track(jobs, "hard-tanh nets"):
            net = mlp(
                [config.input_dim] + [config.width] * config.depth + [1], activation="hardtanh"
            )
            initialize(net, "custom", gen, sigma_b2=config.sigma_b2, sigma_w2=sw2)
            # the Linear layers h^1 .. h^{d+1} (the last one is the output)
            names = [str(2 * i) for i in range(config.depth + 1)]
            res = tj.length(net.to(torch.float64), curve, layers=names, method="exact")
            pieces = res.pieces[0]
            for li in range(1, config.depth + 1):
                # Raghu et al.: transitions of the hard-tanh units fed by h^li (the kinks they add
                # between h^li and h^{li+1}) against the length of h^li
                rows.append(
                    {
                        "sigma_w2": sw2,
                        "seed": s,
                        "layer": li,
                        "name": res.layers[li],
                        "length": res.lengths[0, li],
                        "pieces": int(pieces[li]),
                        "transitions": int(pieces[li + 1] - pieces[li]),
                    }
                )
        table = pd.DataFrame(rows)
        use = table[(table.layer >= 1) & (table.transitions >= 1)]
        slope = (
            fit_slope(np.log(use.length), np.log(use.transitions))
            if len(use) >= 3
            else float("nan")
        )
        corr = (
            float(np.corrcoef(np.log(use.length), np.log(use.transitions))[0, 1])
            if len(use) >= 3
            else float("nan")
        )
        lo, hi = config.slope_range
        ok = None if not math.isfinite(slope) else bool(lo <= slope <= hi)
        claims = [
            Claim(
                id="raghu-2017.transitions-proportional-to-length",
                statement="The number of sign transitions of a layer's units along a curve grows in proportion to the length of the curve they see.",
                source="Raghu et al. 2017, Theorem 1 and Fig. 2; THEORY.md §1",
                predicted="log-log slope 1",
                measured=f"slope {slope:.3f} (correlation {corr:.3f}) over {len(use)} (net, layer) pairs",
                tolerance=f"log-log slope of transitions against exact length in [{lo}, {hi}]",
                verdict=verdict_from(ok),
                note="both counted exactly by the piecewise-linear engine (depthlab.pl)",
            )
        ]
        from depthlab.plots.curvature import plot_transitions

        figures = plot_transitions(table, ctx.out_dir)
        return Result(
            self.name,
            config.model_dump(),
            claims,
            {"transitions": table},
            figures,
            {"loglog_slope": slope, "log_correlation": corr},
        )


__all__ = ["ReluHeConfig", "ReluHeLength", "TransitionsConfig", "TransitionsVsLength"]
