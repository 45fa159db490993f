"""Linear regions during training (Hanin & Rolnick 2019a, Sec. 6; lecture slide 25).

``regions-training``: the density of regions along fixed lines through data, measured while
Adam trains the net.

Design (issue 13, fixed before the first run at this design)
------------------------------------------------------------
Default: a 40 -> 32 x 3 -> 10 ReLU net (He-normal, bias std 0.1), Adam lr 1e-3, batch 128, 30
epochs on MNIST-1D, density measured every 3 epochs along 40 fixed lines between training inputs;
**5 seeds** (each its own init, minibatch order and lines' nets: streams ``("net", seed)`` and
``("batches", seed)``; the lines are shared). A seed costs a few seconds on one core.

- ``hanin-rolnick-2019a.training-density-same-order``: per seed the ratio of final to initial mean
  density (paired: the same net before and after); geometric mean with a t interval on the logs
  over seeds; region [0.5, 2] ("of the same order", the earlier design's tolerance, from the
  paper's Fig. 4 where the density changes by well under a factor 2 during training).

Measured at the default scale (design commit fefe321; ``OMP_NUM_THREADS=1 depthlab run
regions-training``, 2 shared CPU cores at load ~13, seed 0; run 20.1 s): holds; ratio 0.96, 95%
[0.92, 1.00], n = 5 seeds (density 5.73 -> 5.50 per unit length, test accuracy 0.10 -> 0.47).

``--scale paper`` (one GPU): width 64, 50 epochs, 100 lines, 10 seeds.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
import torch
from pydantic import Field, model_validator

from depthlab import evidence, regions
from depthlab.config import ExperimentConfig
from depthlab.context import RunContext
from depthlab.core import Region, Result
from depthlab.experiments._regions_common import (
    BIAS_STD,
    he_net,
    load_inputs,
    train_adam,
)
from depthlab.experiments.base import register

SAME_ORDER = Region(0.5, 2.0)


class TrainingConfig(ExperimentConfig):
    depth: int = Field(3, ge=1, le=64)
    width: int = Field(32, ge=1, le=4096)
    epochs: int = Field(30, ge=1, le=1000)
    every: int = Field(3, ge=1, le=1000, description="epochs between measurements")
    n_segments: int = Field(40, ge=1, le=100_000)
    lr: float = Field(1e-3, gt=0, le=1.0)
    batch_size: int = Field(128, ge=1, le=100_000)
    bias_std: float = BIAS_STD
    seeds: int = Field(5, ge=1, le=1000, description="independently trained nets")
    data: Literal["mnist1d", "gaussian"] = "mnist1d"

    @model_validator(mode="after")
    def _every_fits(self) -> TrainingConfig:
        if self.every > self.epochs:
            raise ValueError(f"every={self.every} exceeds epochs={self.epochs}")
        return self

    _quick_overrides = {"epochs": 4, "every": 1, "n_segments": 10, "seeds": 2}
    _tiny_overrides = {"epochs": 2, "n_segments": 3, "width": 8, "data": "gaussian"}
    _paper_overrides = {"width": 64, "epochs": 50, "every": 5, "n_segments": 100, "seeds": 10}


def training_claim(density: pd.DataFrame):
    """The claim from the per-(seed, epoch) table: final over initial density, paired by seed."""
    first = density.sort_values("epoch").groupby("seed")["density"].first()
    last = density.sort_values("epoch").groupby("seed")["density"].last()
    est = evidence.ratio(
        last.to_numpy(), first.to_numpy(), paired=True, unit="seeds",
        statistic="final / initial mean density along the lines",
    )  # fmt: skip
    acc0 = density.sort_values("epoch").groupby("seed")["test_acc"].first().mean()
    acc1 = density.sort_values("epoch").groupby("seed")["test_acc"].last().mean()
    return evidence.empirical(
        "hanin-rolnick-2019a.training-density-same-order",
        "During training the number of regions along lines through data stays of the same order "
        "as at initialization.",
        "Hanin & Rolnick 2019a, Sec. 6 (Fig. 4); lecture slide 25",
        est,
        SAME_ORDER,
        predicted="final / initial density between 0.5 and 2",
        tolerance="95% interval over seeds of the (geometric mean) ratio of final to initial "
        "density inside [0.5, 2]",
        measured=f"ratio {est.value:.2f}; density {first.mean():.3g} -> {last.mean():.3g} per unit "
        f"length; test accuracy {acc0:.2f} -> {acc1:.2f} (means over {len(first)} seeds)",
        note="Unit: seed (its own init and minibatch order; the same lines for every seed). "
        "Paired ratio: each net against itself at initialization.",
    )


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
        a, b = regions.segments_through(x, config.n_segments, ctx.generator("segments"))
        rows = []
        for seed in ctx.progress.track(range(config.seeds), "seeds"):
            net = he_net(
                x.shape[1], config.width, config.depth, 10, ctx.generator("net", seed),
                config.bias_std,
            ).to(ctx.device)  # fmt: skip
            opt = torch.optim.Adam(net.parameters(), lr=config.lr)
            g = ctx.generator("batches", seed)

            def measure(epoch: int, net=net, seed=seed) -> None:
                res = regions.count_1d(net, a, b, batch=True)
                dens = res.density.cpu().numpy()
                with torch.no_grad():
                    acc = float((net(xt).argmax(1) == yt).double().mean())
                rows.append(
                    {
                        "seed": seed,
                        "epoch": epoch,
                        "density": float(dens.mean()),
                        "density_q25": float(np.quantile(dens, 0.25)),
                        "density_q75": float(np.quantile(dens, 0.75)),
                        "n_regions_mean": float(res.n_regions.double().mean()),
                        "test_acc": acc,
                    }
                )

            measure(0)
            for epoch in range(1, config.epochs + 1):
                train_adam(net, (x, y, xt, yt), 1, config.lr, config.batch_size, g, opt)
                if epoch % config.every == 0 or epoch == config.epochs:
                    measure(epoch)
        df = pd.DataFrame(rows)
        claim = training_claim(df)
        return Result(
            self.name,
            config.model_dump(),
            [claim],
            {"density": df},
            {},
            {"density_ratio": float(claim.estimate)},
        )

    def figures(self, result: Result, fig_dir) -> dict[str, str]:
        from depthlab.plots.regions import plot_training_density

        df = result.tables["density"]
        if df["epoch"].nunique() < 2:
            return {}
        mean = df.groupby("epoch", as_index=False)[
            ["density", "density_q25", "density_q75", "test_acc"]
        ].mean()
        return plot_training_density(mean, fig_dir.parent)


__all__ = ["RegionsTraining", "TrainingConfig", "training_claim"]
