"""What a ResNet fixes: the degradation of deep plain nets (lecture slide 16).

He et al. (2016, Fig. 1 and §4.1) observed that a deeper *plain* net (no shortcuts) reaches a
higher **training** error than a shallower one, although the deeper net could copy the shallower
one and set its extra layers to the identity. That is an optimisation failure, not overfitting.
Adding identity shortcuts (``x + F(x)``) removes it: deeper residual nets train at least as well
as shallower ones.

Here 1-D ResNets (``depthlab.nets.resnet1d``: conv stem, ``blocks`` basic blocks of two
conv-BN-ReLU layers, pooling, classifier) train on MNIST-1D with and without shortcuts, at
several depths, from He-normal init (seeded), with SGD + momentum and a cosine schedule. We also
record, at initialization, the gradient norm of the stem's weights relative to the classifier's:
the signal that plain deep nets pass back less well.

Claims (tolerances fixed before measuring):

1. plain nets degrade: the deepest plain net's final training loss is at least 10% above the best
   plain net's;
2. residual nets do not: the deepest residual net's final training loss is at most 10% above the
   best residual net's;
3. at the deepest depth the residual net's training loss is below the plain net's.

Time budget: default about 30 s on 2 CPU cores (measured 29 s); ``--quick`` about 6 s (tiny: expect the quick
verdicts to be noisy).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field

from depthlab.config import ExperimentConfig
from depthlab.context import RunContext
from depthlab.core import Claim, Result, verdict_from
from depthlab.experiments.base import register
from depthlab.init import initialize
from depthlab.nets import count_params, resnet1d
from depthlab.train import TrainConfig, evaluate, fit


class DegradationConfig(ExperimentConfig):
    blocks: list[int] = Field(
        default=[1, 4, 8, 16], description="basic blocks per net (2 convs each)"
    )
    channels: int = Field(12, ge=1)
    epochs: int = Field(8, ge=1)
    lr: float = Field(0.05, gt=0)
    batch_size: int = Field(128, ge=1)
    n_train: int = Field(2000, ge=10)
    n_test: int = Field(1000, ge=10)
    seeds: int = Field(1, ge=1, description="seeds per (depth, skip); the median loss is used")

    _quick_overrides = {"blocks": [1, 6], "channels": 8, "epochs": 2, "n_train": 512, "n_test": 256}
    _tiny_overrides = {"blocks": [1, 2], "channels": 4, "epochs": 1, "n_train": 128, "n_test": 64}


def _grad_ratio(net, x, y) -> float:
    """||dL/dW_stem|| / ||dL/dW_classifier|| at the current weights (grads on a copy)."""
    import copy

    probe = copy.deepcopy(net).train()
    loss = F.cross_entropy(probe(x), y)
    stem, head = probe.stem[0].weight, probe.fc.weight
    g_stem, g_head = torch.autograd.grad(loss, [stem, head])
    return float(g_stem.norm() / g_head.norm().clamp_min(1e-30))


@register
class ResNetDegradation:
    name = "resnet-degradation"
    title = "Deep plain nets train worse than shallow ones; shortcuts fix it"
    section = "resnets"
    order = 10
    Config = DegradationConfig

    def run(self, config: DegradationConfig, ctx: RunContext) -> Result:
        import pandas as pd

        from depthlab.data import mnist1d

        data = mnist1d().subset(config.n_train, config.n_test).to(ctx.device, ctx.dtype)
        train_cfg = TrainConfig(
            optimizer="sgd",
            lr=config.lr,
            momentum=0.9,
            epochs=config.epochs,
            batch_size=config.batch_size,
            schedule="cosine",
        )
        jobs = [
            (b, skip, s)
            for b in config.blocks
            for skip in (True, False)
            for s in range(config.seeds)
        ]
        rows = []
        for i, (blocks, skip, s) in enumerate(ctx.progress.track(jobs, "resnet-degradation")):
            net = resnet1d(blocks=blocks, channels=config.channels, skip=skip).to(
                ctx.device, ctx.dtype
            )
            initialize(net, "he_normal", generator=ctx.generator(10_000 + 100 * blocks + s))
            ratio = _grad_ratio(net, data.x_train[:256], data.y_train[:256])
            tr = fit(net, data, train_cfg, generator=ctx.generator(20_000 + i))
            final_train = evaluate(net, data.x_train, data.y_train)
            rows.append(
                {
                    "blocks": blocks,
                    "conv_layers": 2 * blocks + 1,
                    "skip": skip,
                    "seed": s,
                    "params": count_params(net),
                    "train_loss": final_train["loss"],
                    "train_acc": final_train["acc"],
                    "test_acc": tr.final["test_acc"],
                    "grad_ratio_init": ratio,
                }
            )
        table = pd.DataFrame(rows)
        med = table.groupby(["skip", "blocks"])["train_loss"].median()
        plain, res = med.loc[False], med.loc[True]
        deepest = max(config.blocks)
        claims = [
            Claim(
                id="he-2016.plain-degrades",
                statement="Without shortcuts, the deepest net reaches a higher training loss than a shallower one (degradation).",
                source="He et al. 2016, Fig. 1 and §4.1; lecture slide 16",
                predicted="deepest plain train loss > best plain train loss",
                measured=f"deepest {plain.loc[deepest]:.4g} vs best {plain.min():.4g} (at {plain.idxmin()} blocks)",
                tolerance="holds if the deepest plain net's loss is ≥ 1.1 × the best plain net's",
                verdict=verdict_from(bool(plain.loc[deepest] >= 1.1 * plain.min())),
            ),
            Claim(
                id="he-2016.residual-no-degradation",
                statement="With identity shortcuts, the deepest net trains as well as the shallower ones.",
                source="He et al. 2016, §4.1; lecture slide 16",
                predicted="deepest residual train loss ≈ best residual train loss",
                measured=f"deepest {res.loc[deepest]:.4g} vs best {res.min():.4g} (at {res.idxmin()} blocks)",
                tolerance="holds if the deepest residual net's loss is ≤ 1.1 × the best residual net's",
                verdict=verdict_from(bool(res.loc[deepest] <= 1.1 * res.min())),
            ),
            Claim(
                id="he-2016.shortcuts-win-at-depth",
                statement="At the greatest depth, the net with shortcuts reaches a lower training loss than the plain net.",
                source="He et al. 2016, Table 2 and Fig. 4; lecture slide 16",
                predicted="residual < plain at the deepest depth",
                measured=f"residual {res.loc[deepest]:.4g} vs plain {plain.loc[deepest]:.4g} at {deepest} blocks",
                tolerance="holds if strictly lower",
                verdict=verdict_from(bool(res.loc[deepest] < plain.loc[deepest])),
            ),
        ]
        figures = {}
        if ctx.out_dir is not None:
            from depthlab.plots.resnets import plot_degradation

            figures = plot_degradation(table, ctx.out_dir)
        metrics = {
            "train_loss_deepest_plain": float(plain.loc[deepest]),
            "train_loss_deepest_residual": float(res.loc[deepest]),
        }
        return Result(self.name, config.model_dump(), claims, {"nets": table}, figures, metrics)
