"""Linear regions during training (Hanin & Rolnick 2019a, Sec. 6; lecture slide 25).

``regions-training``: the density of regions along fixed lines through data, measured while
Adam trains the net.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
import torch
from pydantic import Field

from depthlab import regions
from depthlab.config import ExperimentConfig
from depthlab.context import RunContext
from depthlab.core import Claim, Result, verdict_from
from depthlab.experiments._regions_common import (
    he_net,
    load_inputs,
    train_adam,
)
from depthlab.experiments.base import register


class TrainingConfig(ExperimentConfig):
    depth: int = Field(3, ge=1)
    width: int = Field(32, ge=1)
    epochs: int = Field(30, ge=1)
    every: int = Field(3, ge=1, description="epochs between measurements")
    n_segments: int = Field(40, ge=1)
    lr: float = Field(1e-3, gt=0)
    batch_size: int = Field(128, ge=1)
    bias_std: float = Field(0.1, ge=0)
    data: Literal["mnist1d", "gaussian"] = "mnist1d"

    _quick_overrides = {"epochs": 4, "every": 1, "n_segments": 10}


@register
class RegionsTraining:
    """Regions per unit length along fixed lines through data, measured during Adam training."""

    name = "regions-training"
    title = "The density of regions along data lines during training"
    section = "regions"
    order = 40
    Config = TrainingConfig

    def run(self, config: TrainingConfig, ctx: RunContext) -> Result:
        x, y, xt, yt = (t.to(ctx.device) for t in load_inputs(config.data, ctx.seed))
        net = he_net(x.shape[1], config.width, config.depth, 10, ctx.generator(1), config.bias_std)
        net = net.to(ctx.device)
        opt = torch.optim.Adam(net.parameters(), lr=config.lr)
        a, b = regions.segments_through(x, config.n_segments, ctx.generator(2))
        g = ctx.generator(3)
        rows = []

        def measure(epoch: int) -> None:
            res = regions.count_1d(net, a, b, batch=True)
            dens = res.density.cpu().numpy()
            with torch.no_grad():
                acc = float((net(xt).argmax(1) == yt).double().mean())
            rows.append(
                {
                    "epoch": epoch,
                    "density": float(dens.mean()),
                    "density_q25": float(np.quantile(dens, 0.25)),
                    "density_q75": float(np.quantile(dens, 0.75)),
                    "n_regions_mean": float(res.n_regions.double().mean()),
                    "test_acc": acc,
                }
            )

        measure(0)
        for epoch in ctx.progress.track(range(1, config.epochs + 1), "epochs"):
            train_adam(net, (x, y, xt, yt), 1, config.lr, config.batch_size, g, opt)
            if epoch % config.every == 0 or epoch == config.epochs:
                measure(epoch)
        df = pd.DataFrame(rows)
        ratio = float(df["density"].iloc[-1] / df["density"].iloc[0])
        claims = [
            Claim(
                id="hanin-rolnick-2019a.training-density-same-order",
                statement="During training the number of regions along lines through data stays of the same order as at initialization.",
                source="Hanin & Rolnick 2019a, Sec. 6 (Fig. 4); lecture slide 25",
                predicted="final / initial density between 0.5 and 2",
                measured=f"{df['density'].iloc[0]:.3g} -> {df['density'].iloc[-1]:.3g} per unit length (ratio {ratio:.2f}); "
                f"test accuracy {df['test_acc'].iloc[0]:.2f} -> {df['test_acc'].iloc[-1]:.2f}",
                tolerance="ratio of final to initial mean density in [0.5, 2]",
                verdict=verdict_from(0.5 <= ratio <= 2.0),
            )
        ]
        from depthlab.plots.regions import plot_training_density

        figures = plot_training_density(df, ctx.out_dir)
        return Result(
            self.name,
            config.model_dump(),
            claims,
            {"density": df},
            figures,
            {"density_ratio": ratio},
        )


__all__ = ["RegionsTraining", "TrainingConfig"]
