"""Trainable depth at initialization: Schoenholz et al. (2017) on MNIST-1D (lecture slide 24).

``init-trainable-depth``: random tanh nets train only to a depth of about ``6 xi_c``, the
correlation depth scale of mean-field theory (:mod:`depthlab.theory.meanfield`). The design, the
CPU and GPU scales and the measured numbers are in :class:`InitTrainableDepth`'s docstring.
"""

from __future__ import annotations

import math
from typing import Annotated

import numpy as np
import pandas as pd
from pydantic import Field, field_validator

from depthlab.config import ExperimentConfig
from depthlab.context import RunContext
from depthlab.core import Claim, Region, Result
from depthlab.data import mnist1d
from depthlab.evidence import empirical, fraction
from depthlab.experiments._init_training import fit_surviving
from depthlab.experiments.base import register
from depthlab.init import initialize
from depthlab.nets import mlp
from depthlab.train import TrainConfig

SCHOENHOLZ = "Schoenholz et al. 2017 (Deep information propagation), Fig. 5; lecture slide 24"


class TrainableDepthConfig(ExperimentConfig):
    sigma_w2s: list[Annotated[float, Field(gt=0, le=100)]] = Field(
        default=[0.5, 1.76, 9.0],
        min_length=2,
        max_length=20,
        description="weight variances sigma_w^2 (1.76 is critical for tanh at sigma_b^2 = 0.05)",
    )
    sigma_b2: float = Field(0.05, ge=0, le=10, description="bias variance")
    depths: list[Annotated[int, Field(ge=1, le=1024)]] = Field(
        default=[4, 16], min_length=2, max_length=12, description="hidden layers"
    )
    width: int = Field(32, ge=4, le=8192)
    seeds: int = Field(3, ge=2, le=100)
    band: float = Field(
        1.5,
        gt=1,
        le=10,
        description="nets with 6 xi_c / band < depth < band * 6 xi_c are near the boundary and "
        "left out of the claim",
    )
    target_acc: float = Field(
        0.2, gt=0.1, lt=1, description="'trains': this accuracy on the training examples"
    )
    max_epochs: int = Field(8, ge=1, le=10_000)
    lr: float = Field(0.01, gt=0, le=10)
    batch_size: int = Field(64, ge=1, le=65_536)
    n_train: int = Field(1024, ge=100, le=1_000_000)
    min_agreement: float = Field(0.8, gt=0, lt=1, description="region: agreement at least this")

    _quick_overrides = {"depths": [4, 12], "seeds": 2, "max_epochs": 4}
    _tiny_overrides = {"depths": [2, 4], "width": 8, "max_epochs": 1, "n_train": 128}
    _paper_overrides = {
        "sigma_w2s": [0.5, 1.0, 1.3, 1.76, 2.5, 4.0, 9.0],
        "depths": [6, 12, 24, 48, 96],
        "width": 256,
        "max_epochs": 30,
        "n_train": 4000,
    }

    @field_validator("depths", "sigma_w2s")
    @classmethod
    def _increasing(cls, v: list) -> list:
        if sorted(set(v)) != v:
            raise ValueError(f"must be strictly increasing, got {v}")
        return v


@register
class InitTrainableDepth:
    """Schoenholz et al. (2017): tanh nets train only to a depth of about ``6 xi_c``.

    Design (fixed before the run): tanh MLPs of constant width on MNIST-1D, ``sigma_b^2 = 0.05``,
    a grid of ``sigma_w^2`` around the critical 1.76 (ordered 0.5, critical 1.76, chaotic 9.0) x
    depths; ``xi_c`` from mean-field theory (:func:`depthlab.theory.meanfield.depth_scale`); each
    net trained briefly with SGD (momentum 0.9) and called *trained* if it reaches 20 % accuracy
    (twice chance) on its training examples within the budget (trainability, not generalization). Nets whose depth lies within a factor ``band`` =
    1.5 of ``6 xi_c`` are left out (the boundary is "about" 6 xi_c); for the others the prediction
    is "trains iff depth < 6 xi_c". The claim: the fraction of those nets whose outcome agrees,
    with its exact (Clopper-Pearson) interval over nets, is at least 0.8. All sigma_w^2 and seeds
    of one depth train together in one :func:`~depthlab.train_batched.fit_batched` call.

    **Scale.** Mean-field depth scales need width >> depth, and a critical tanh net of width 32
    and depth 80 did not reach 20 % in 160 SGD steps in a CPU pilot, so the CPU default is a small
    check (depths 4 and 16, width 32, 3 seeds, 18 nets of which 3 predicted untrainable, 128 steps)
    that can decide only if nearly every net agrees; the test of the statement is the GPU scale
    (``--scale paper``: 7 sigma_w^2 from 0.5 to 9, depths 6 to 96, width 256, 30 epochs over 4000
    examples).

    Time budget: default about 10 s, ``--quick`` about 4 s on 2 CPU cores.

    Measured at the default scale (seed 0, design commit df8c127, 8.6 s CPU): 15 of 18 nets
    agree, 0.833 [0.586, 0.964]: **inconclusive**. Every depth-4 net and every critical net
    trained, the three ordered (sigma_w^2 = 0.5) depth-16 nets did not, as predicted; the three
    chaotic (sigma_w^2 = 9) depth-16 nets, predicted trainable (16 < 6 xi_c / 1.5 = 17.9), did not
    reach 20 % in 128 steps. Decided only at ``--scale paper``.
    """

    name = "init-trainable-depth"
    title = "Nets train only to a depth of about 6 xi_c (Schoenholz et al. 2017)"
    section = "init"
    order = 35
    Config = TrainableDepthConfig

    def run(self, config: TrainableDepthConfig, ctx: RunContext) -> Result:
        from dataclasses import replace

        from depthlab.theory.meanfield import depth_scale

        data = mnist1d().subset(config.n_train, 100).to(ctx.device, ctx.dtype)
        # trainability is judged on the training examples (fit's "test" split is set to them),
        # not generalization: a chaotic net may fit the data and still generalize poorly
        data = replace(data, x_test=data.x_train, y_test=data.y_train)
        tc = TrainConfig(
            optimizer="sgd",
            lr=config.lr,
            momentum=0.9,
            epochs=config.max_epochs,
            batch_size=config.batch_size,
            target_metric=config.target_acc,
        )
        n_in = int(data.x_train.shape[1])
        xi = {s: depth_scale("tanh", s, config.sigma_b2, "c") for s in config.sigma_w2s}
        rows = []
        for depth in ctx.progress.track(config.depths, "depths"):
            models, meta = [], []
            for s2 in config.sigma_w2s:
                for seed in range(config.seeds):
                    net = mlp([n_in, *[config.width] * depth, 10], activation="tanh")
                    initialize(
                        net,
                        "custom",
                        ctx.generator("init-trainable-depth", "init", s2, depth, seed),
                        sigma_b2=config.sigma_b2,
                        sigma_w2=s2,
                    )
                    models.append(net.to(device=ctx.device, dtype=ctx.dtype))
                    meta.append((s2, seed))

            def orders(idx: list[int], depth: int = depth, meta: list = meta) -> list:
                return [
                    ctx.generator("init-trainable-depth", "order", depth, meta[i][1]) for i in idx
                ]

            fitted = fit_surviving(models, orders, data, tc)
            for (s2, seed), reached, final, diverged in zip(meta, *fitted, strict=True):
                limit = 6 * xi[s2]
                near = limit / config.band < depth < limit * config.band
                rows.append(
                    {
                        "sigma_w2": s2,
                        "depth": depth,
                        "seed": seed,
                        "xi_c": xi[s2],
                        "six_xi_c": limit,
                        "predicted_trains": bool(depth < limit),
                        "near_boundary": bool(near),
                        "trained": reached is not None,
                        "diverged": diverged,
                        "last_train_acc": float(final.get("test_acc", math.nan)),
                    }
                )
        df = pd.DataFrame(rows)
        claims = [trainable_depth_claim(df, config)]
        metrics = {"agreement": float((df["trained"] == df["predicted_trains"]).mean())}
        return Result(self.name, config.model_dump(), claims, {"nets": df}, {}, metrics)

    def figures(self, result: Result, fig_dir) -> dict[str, str]:
        from depthlab.plots.common import new_figure, save_figure

        df = result.tables["nets"]
        g = df.groupby(["sigma_w2", "depth"], as_index=False)["trained"].mean()
        fig, axes = new_figure()
        ax = axes[0, 0]
        sc = ax.scatter(
            g["sigma_w2"], g["depth"], c=g["trained"], cmap="viridis", vmin=0, vmax=1, s=120
        )
        fig.colorbar(sc, ax=ax, label="fraction of seeds reaching the target")
        from depthlab.theory.meanfield import depth_scale

        # the theory's boundary on a fine grid (theory only; nothing of the run is recomputed)
        sb2 = float(result.config.get("sigma_b2", 0.05))
        grid = np.geomspace(df["sigma_w2"].min() / 1.3, df["sigma_w2"].max() * 1.3, 80)
        six_xi = np.array([6 * depth_scale("tanh", float(s2), sb2, "c") for s2 in grid])
        ax.plot(grid, np.minimum(six_xi, 1e6), "k--", lw=1, label="6 xi_c")
        ax.legend(fontsize=8, loc="upper left")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylim(df["depth"].min() / 1.5, 4 * df["depth"].max())
        ax.set_xlabel("sigma_w^2 (tanh, sigma_b^2 = 0.05)")
        ax.set_ylabel("depth")
        ax.set_title("trains (20% train acc.) vs the 6 xi_c boundary")
        return {"trainable_depth": save_figure(fig, fig_dir.parent, "trainable_depth")}


def trainable_depth_claim(df: pd.DataFrame, config: TrainableDepthConfig) -> Claim:
    """The claim from the per-net table (one row per sigma_w^2 x depth x seed)."""
    decided = df[~df["near_boundary"]]
    agree = int((decided["trained"] == decided["predicted_trains"]).sum())
    n = int(len(decided))
    est = (
        fraction(agree, n, unit="nets", statistic="fraction of nets agreeing with depth < 6 xi_c")
        if n
        else None
    )
    note = (
        f"Design: tanh, sigma_b^2 = {config.sigma_b2}, sigma_w^2 {config.sigma_w2s}, depths "
        f"{config.depths}, width {config.width}, {config.seeds} seeds; SGD lr {config.lr}, "
        f"momentum 0.9, batch {config.batch_size}, {config.max_epochs} epochs over "
        f"{config.n_train} examples; trained = {config.target_acc:.0%} accuracy on the training "
        f"examples; nets within "
        f"a factor {config.band:g} of 6 xi_c left out ({int(df['near_boundary'].sum())} of "
        f"{len(df)}); {int((~decided['predicted_trains']).sum())} of the {n} decided nets are "
        "predicted untrainable. At the CPU default this is a small check (mean-field depth "
        "scales need width >> depth; a critical width-32 depth-80 tanh net did not train in a "
        "pilot); the statement is decided at --scale paper (width 256, depths 6-96)."
    )
    region = Region.at_least(config.min_agreement)
    tol = (
        f"exact 95% interval of the agreeing fraction at least {config.min_agreement:g} "
        "(boundary nets left out)"
    )
    if est is None:
        from depthlab.core import decide

        return Claim(
            id="schoenholz-2017.trainable-depth-6xi",
            statement="Random tanh nets train only to a depth of about 6 xi_c, the correlation "
            "depth scale of mean-field theory.",
            source=SCHOENHOLZ,
            predicted=f">= {config.min_agreement:g}",
            measured="no net away from the boundary",
            tolerance=tol,
            verdict=decide(None, region),
            note=note,
            kind="empirical",
            region=region,
        )
    return empirical(
        "schoenholz-2017.trainable-depth-6xi",
        "Random tanh nets train only to a depth of about 6 xi_c, the correlation depth scale of "
        "mean-field theory.",
        SCHOENHOLZ,
        est,
        region,
        predicted=f">= {config.min_agreement:g}",
        tolerance=tol,
        note=note,
    )
