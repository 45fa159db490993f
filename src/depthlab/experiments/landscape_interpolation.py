"""1-D loss landscapes: straight lines from initialization to a minimum; sharp and flat minima.

Goodfellow, Vinyals & Saxe (2015) evaluated the loss on the segment ``θ(α) = (1 − α) θ_0 + α θ*``
from the initial to the final weights and found it decreasing monotonically: no barrier in the
way. Keskar et al. (2017) found large-batch (LB) training to reach sharper minima that generalize
worse than small-batch (SB) ones, comparing nets at similar training accuracy; Li et al. (2018,
§5) showed 1-D pictures depend on weight scale and compared sharpness along filter-normalized
directions instead.

Here a 1-D CNN (``depthlab.nets.cnn1d``, no BatchNorm) is trained on MNIST-1D from one seeded
initialization twice: with Adam at a small batch, and at a large batch with the learning rate
scaled by √(batch ratio) after a linear warm-up. **Both are trained to the same training loss**
(the full training set's loss, checked after every epoch, at most ``target_loss``), so the LB net
is compared at a minimum rather than after fewer steps. We evaluate the train (and, for seed 0,
test) loss along ``θ_0 → θ_SB`` (α ∈ [−0.25, 1.25]) and, for seed 0, ``θ_SB → θ_LB`` (α ∈
[−0.5, 1.5]); and the sharpness of each minimum two ways: the mean rise of the train loss at
±``sharpness_step`` along ``sharpness_dirs`` filter-normalized random directions, and the Hessian's
largest eigenvalue λ_max (Lanczos over ``n_curvature`` training examples).

Design (issue 13 / 14, fixed before the first run at this design)
------------------------------------------------------------------
The independent unit is the **seed**: seed ``s`` draws its initialization (``("init", s)``), the
two runs' mini-batch orders (``("batches", regime, s)``) and its sharpness directions
(``("direction", regime, s, k)``); SB and LB of one seed share the initialization, so differences
are paired over seeds.

Default (CPU): 32 channels, 2000 training examples (test: all 1000), **5 seeds**; SB batch 32 at
Adam lr 1e-3; LB batch 500 at lr 1e-3 × √(500/32) = 3.95e-3 with a 5-epoch linear warm-up; both
SB until the training loss is ≤ 0.1 or 60 epochs, LB until it matches its SB partner's (see the
revised rule below; at most 600 epochs; a run that stops at the cap is flagged in the table and
the claims' notes); 4 directions at step 0.25; λ_max with 12 Lanczos steps
over 1000 examples; 31 points per path. About 2-3 min on one loaded core.

First result of this design (commit 3cfede8; ``OMP_NUM_THREADS=1 depthlab run
landscape-1d-interpolation``, seed 0, 2 shared cores at load ~15: 16 min wall, 82 s CPU): no SB run
reached the 0.1 target in 60 epochs (final 0.105-0.163: Adam's mini-batch noise at a constant lr
keeps it above), while every LB run did (0.092-0.099 after 96-120 epochs), so the two were not
compared at the same training loss. Verdicts then: monotone holds (0, [0, 0]); sharper
inconclusive (0.34, [-0.08, 0.77]); λ_max holds (23.0, [6.3, 39.8]); SB generalizes inconclusive
(-0.003, [-0.027, 0.020]); n = 5 seeds.

Revised stopping rule (recorded in the Keskar claims' history before its first run): each LB run
trains until its training loss is at most ``max(target_loss, final training loss of its SB
partner)``, so both nets of a seed end at the same training loss (the LB one at most as high).

Result of the revised rule (commit 956013e; same command, 7 min wall, 77 s CPU), n = 5 seeds, mean
final training loss SB 0.133, LB 0.129 (LB 89-102 epochs):

- ``monotone-init-to-final``: holds, 0, 95% [0, 0] (no rise on any seed's path);
- ``large-batch-sharper``: inconclusive, 0.20, 95% [-0.18, 0.58] (rise LB 1.22, SB 1.02);
- ``large-batch-larger-lambda-max``: holds, 23.3, 95% [12.9, 33.8] (λ_max LB 93.1, SB 69.8; LB
  larger in all 5 seeds);
- ``small-batch-generalizes``: inconclusive, -0.001, 95% [-0.029, 0.027] (test accuracy SB 0.751,
  LB 0.752): at this scale and a batch ratio of 16 there is no generalization gap to within 3
  points; ``--scale paper`` (10 seeds, LB a quarter of 4000 examples) decides.

``--scale paper`` (one GPU): all 4000 training examples, 64 channels, 10 seeds, LB batch 1000 (a
quarter of the data, as Keskar et al.'s 10 % of a larger set), target loss 0.02, 10 directions,
λ_max over 4000 examples with 20 steps. Not yet run (time not measured).

Claims (tolerances fixed before measuring):

1. ``goodfellow-2015.monotone-init-to-final``: per seed the largest rise between neighbouring
   points on α ∈ [0, 1] as a fraction of the total drop (1 when the loss does not drop); region
   ``<= 0.01`` (the earlier design's 1 %).
2. ``keskar-2017.large-batch-sharper``: paired difference LB − SB of the mean filter-normalized
   loss rise; region ``>= 0`` (the interval must lie above zero).
3. ``keskar-2017.large-batch-larger-lambda-max``: paired difference LB − SB of λ_max; region ``>= 0``.
4. ``keskar-2017.small-batch-generalizes``: paired difference SB − LB of test accuracy; region
   ``>= 0``.

``--quick`` (smoke test, not evidence): 8 channels, 1000 examples, 2 seeds, target loss 1.0.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from pydantic import Field, model_validator

from depthlab import evidence, landscape
from depthlab.config import ExperimentConfig
from depthlab.context import RunContext
from depthlab.core import Change, Claim, Region, Result
from depthlab.experiments.base import register
from depthlab.landscape import hessian
from depthlab.nets import cnn1d

SOURCE_G = "Goodfellow, Vinyals & Saxe 2015 (ICLR); Li et al. 2018 §5; lecture slide 26"
SOURCE_K = "Keskar et al. 2017 (ICLR); Li et al. 2018 §5, Fig. 3"
MONOTONE = Region.at_most(0.01)
POSITIVE = Region.at_least(0.0)
SAME_LOSS = (
    Change(
        "2026-12-02",
        "design",
        "SB and LB each trained until the training loss is <= 0.1 (LB 600, SB 60 epochs at most)",
        "LB trained until its training loss is <= max(0.1, its SB partner's final training loss)",
        "first run (3cfede8): no SB run reached 0.1 in 60 epochs (0.105-0.163), every LB run did "
        "(0.092-0.099), so the nets were not compared at the same training loss",
    ),
)


class InterpolationConfig(ExperimentConfig):
    channels: int = Field(32, ge=1, le=512, description="channels of the 1-D CNN")
    n_train: int | None = Field(2000, ge=64, le=4000, description="training examples (None: 4000)")
    seeds: int = Field(5, ge=1, le=64, description="independent (SB, LB) pairs")
    lr: float = Field(1e-3, gt=0, le=1, description="Adam learning rate of the small-batch run")
    small_batch: int = Field(32, ge=1, le=4000)
    large_batch: int = Field(500, ge=1, le=4000)
    warmup_epochs: int = Field(5, ge=0, le=1000, description="LB linear warm-up of the lr")
    target_loss: float = Field(0.1, gt=0, le=10, description="train both to this training loss")
    max_epochs_small: int = Field(60, ge=1, le=10_000)
    max_epochs_large: int = Field(600, ge=1, le=100_000)
    points: int = Field(31, ge=5, le=1001, description="grid points per path")
    sharpness_step: float = Field(0.25, gt=0, le=10, description="filter-normalized step")
    sharpness_dirs: int = Field(4, ge=1, le=64, description="random directions per minimum")
    n_curvature: int = Field(1000, ge=16, le=4000, description="examples for λ_max")
    lanczos_iters: int = Field(12, ge=2, le=200)

    _quick_overrides = {
        "channels": 8,
        "n_train": 1000,
        "seeds": 2,
        "target_loss": 1.0,
        "max_epochs_small": 5,
        "max_epochs_large": 30,
        "points": 11,
        "sharpness_dirs": 2,
        "n_curvature": 256,
        "lanczos_iters": 5,
    }
    _tiny_overrides = {
        "channels": 4,
        "n_train": 128,
        "max_epochs_small": 1,
        "max_epochs_large": 2,
        "warmup_epochs": 1,
        "points": 5,
        "sharpness_dirs": 1,
        "n_curvature": 64,
        "lanczos_iters": 3,
    }
    _paper_overrides = {
        "channels": 64,
        "n_train": None,
        "seeds": 10,
        "large_batch": 1000,
        "target_loss": 0.02,
        "max_epochs_small": 200,
        "max_epochs_large": 5000,
        "sharpness_dirs": 10,
        "n_curvature": 4000,
        "lanczos_iters": 20,
    }

    @model_validator(mode="after")
    def _batches_ordered(self) -> InterpolationConfig:
        if self.large_batch <= self.small_batch:
            raise ValueError(
                f"large_batch ({self.large_batch}) must exceed small_batch ({self.small_batch})"
            )
        return self


def train_to_loss(
    net, data, *, batch: int, lr: float, warmup: int, target: float, max_epochs: int, generator
) -> dict:
    """Adam with a linear warm-up (``warmup`` epochs) until the full training loss is <= target."""
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    x, y = data.x_train, data.y_train
    n = len(x)
    steps_per_epoch = math.ceil(n / batch)
    step, loss, epochs = 0, float("inf"), 0
    for _ in range(max_epochs):
        epochs += 1
        net.train()
        for idx in torch.randperm(n, generator=generator).split(batch):
            step += 1
            scale = min(1.0, step / (warmup * steps_per_epoch)) if warmup else 1.0
            for group in opt.param_groups:
                group["lr"] = lr * scale
            opt.zero_grad()
            F.cross_entropy(net(x[idx]), y[idx]).backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            loss = float(F.cross_entropy(net(x), y))
        if loss <= target:
            break
    with torch.no_grad():
        train_acc = float((net(x).argmax(1) == y).double().mean())
        test_acc = float((net(data.x_test).argmax(1) == data.y_test).double().mean())
    return {
        "epochs": epochs,
        "steps": step,
        "train_loss": loss,
        "train_acc": train_acc,
        "test_acc": test_acc,
        "reached": loss <= target,
    }


def _worst_rise(path: pd.DataFrame) -> float:
    """Largest rise between neighbours on α ∈ [0, 1] over the total drop (1 if no drop)."""
    g = path.sort_values("alpha")
    loss = g[(g.alpha >= -1e-9) & (g.alpha <= 1 + 1e-9)]["loss"].to_numpy()
    drop = float(loss[0] - loss[-1])
    if not drop > 0:
        return 1.0
    return max(float(np.max(np.diff(loss), initial=0.0)), 0.0) / drop


def interpolation_claims(runs: pd.DataFrame, mono: pd.DataFrame) -> list[Claim]:
    """The claims from the per-(seed, regime) table (``seed, regime, rise, lambda_max, test_acc,
    train_loss, reached``) and the per-seed monotonicity table (``seed, worst_rise``)."""
    wide = runs.pivot_table(
        index="seed", columns="regime", values=["rise", "lambda_max", "test_acc"]
    )
    wide = wide.dropna()
    unit = f"Unit: seed ({len(wide)} (SB, LB) pairs from one initialization each)."
    stopped = runs[~runs.reached.astype(bool)]
    cap = (
        f" {len(stopped)} run(s) stopped at the epoch cap before the target loss: "
        + ", ".join(f"seed {r.seed} {r.regime} ({r.train_loss:.3f})" for r in stopped.itertuples())
        if len(stopped)
        else " Every run reached the target training loss."
    )
    losses = runs.groupby("regime")["train_loss"].mean()
    same = f" Mean final training loss SB {losses.get('SB', np.nan):.3f}, LB {losses.get('LB', np.nan):.3f}."

    def diff(col: str, a: str, b: str, stat: str) -> evidence.Estimate:
        return evidence.difference(
            wide[(col, a)].to_numpy(), wide[(col, b)].to_numpy(), paired=True, statistic=stat
        )

    sharp = diff("rise", "LB", "SB", "mean filter-normalized loss rise, LB - SB")
    lam = diff("lambda_max", "LB", "SB", "Hessian λ_max, LB - SB")
    gen = diff("test_acc", "SB", "LB", "test accuracy, SB - LB")
    mono_est = evidence.mean(
        mono["worst_rise"].to_numpy(), statistic="largest neighbour rise / total drop on [0, 1]"
    )
    means = wide.mean()
    return [
        evidence.empirical(
            "goodfellow-2015.monotone-init-to-final",
            "The training loss falls monotonically along the straight line from initialization "
            "to the trained weights.",
            SOURCE_G,
            mono_est,
            MONOTONE,
            predicted="monotone decrease on α ∈ [0, 1] (0)",
            tolerance="95% interval over seeds of the largest rise between neighbouring points, "
            "as a fraction of the total drop, inside [0, 0.01]",
            note=f"Unit: seed (the SB run of each seed, {len(mono)} seeds).",
        ),
        evidence.empirical(
            "keskar-2017.large-batch-sharper",
            "The large-batch minimum is sharper than the small-batch one along filter-normalized "
            "directions, at the same training loss.",
            SOURCE_K,
            sharp,
            POSITIVE,
            predicted="LB - SB > 0",
            tolerance="95% interval over seeds of the paired difference LB - SB of the mean loss "
            "rise at ± step along filter-normalized random directions inside [0, inf)",
            measured=f"rise LB {means[('rise', 'LB')]:.4f}, SB {means[('rise', 'SB')]:.4f}",
            note=unit + same + cap,
            history=SAME_LOSS,
        ),
        evidence.empirical(
            "keskar-2017.large-batch-larger-lambda-max",
            "The large-batch minimum has a larger top Hessian eigenvalue than the small-batch one, "
            "at the same training loss.",
            SOURCE_K,
            lam,
            POSITIVE,
            predicted="LB - SB > 0",
            tolerance="95% interval over seeds of the paired difference LB - SB of λ_max inside [0, inf)",
            measured=f"λ_max LB {means[('lambda_max', 'LB')]:.3g}, SB {means[('lambda_max', 'SB')]:.3g}",
            note=unit + same + cap,
            history=SAME_LOSS,
        ),
        evidence.empirical(
            "keskar-2017.small-batch-generalizes",
            "Small-batch training reaches higher test accuracy than large-batch training at the "
            "same training loss.",
            SOURCE_K,
            gen,
            POSITIVE,
            predicted="SB - LB > 0",
            tolerance="95% interval over seeds of the paired difference SB - LB of test accuracy "
            "inside [0, inf)",
            measured=f"test accuracy SB {means[('test_acc', 'SB')]:.3f}, LB {means[('test_acc', 'LB')]:.3f}",
            note=unit + same + cap,
            history=SAME_LOSS,
        ),
    ]


def _key_seed(ctx: RunContext, *key) -> int:
    """An integer seed for APIs that take one (directions, Lanczos), drawn from a keyed stream."""
    return int(ctx.rng(*key).integers(0, 2**31 - 1))


@register
class LandscapeInterpolation:
    name = "landscape-1d-interpolation"
    title = "Straight lines through the loss landscape; sharp and flat minima"
    section = "landscape"
    order = 20
    Config = InterpolationConfig

    def run(self, config: InterpolationConfig, ctx: RunContext) -> Result:
        from depthlab.data import mnist1d

        data = mnist1d()
        if config.n_train is not None:
            data = data.subset(config.n_train, None)
        data = data.to(ctx.device, ctx.dtype)
        train, test = (data.x_train, data.y_train), (data.x_test, data.y_test)
        curv = (data.x_train[: config.n_curvature], data.y_train[: config.n_curvature])
        ce = F.cross_entropy
        lb_lr = config.lr * math.sqrt(config.large_batch / config.small_batch)
        regimes = {
            "SB": (config.small_batch, config.lr, 0, config.max_epochs_small),
            "LB": (config.large_batch, lb_lr, config.warmup_epochs, config.max_epochs_large),
        }
        run_rows, mono_rows, frames = [], [], []
        for seed in ctx.progress.track(range(config.seeds), "SB / LB pairs"):
            init = cnn1d(config.channels, generator=ctx.generator("init", seed))
            init = init.to(ctx.device, ctx.dtype).eval()
            nets, target = {}, config.target_loss
            for tag, (bs, lr, warm, cap) in regimes.items():
                net = copy.deepcopy(init)
                info = {"target_loss": target}
                info |= train_to_loss(
                    net,
                    data,
                    batch=bs,
                    lr=lr,
                    warmup=warm,
                    target=target,
                    max_epochs=cap,
                    generator=ctx.generator("batches", tag, seed),
                )
                nets[tag] = net.eval()
                if tag == "SB":  # LB trains to the same training loss as its SB partner
                    target = max(config.target_loss, info["train_loss"])
                rises = []
                for k in range(config.sharpness_dirs):
                    d = landscape.random_direction(
                        net, seed=_key_seed(ctx, "direction", tag, seed, k)
                    )
                    h = config.sharpness_step
                    s = landscape.surface(net, ce, train, d, landscape.Grid((-h, 0.0, h)))
                    rises.append(float((s.loss[0] + s.loss[2]) / 2 - s.loss[1]))
                spec = hessian.eigenvalues(
                    net,
                    ce,
                    curv,
                    iters=config.lanczos_iters,
                    seed=_key_seed(ctx, "lanczos", tag, seed),
                )
                run_rows.append(
                    {
                        "seed": seed,
                        "regime": tag,
                        "batch": bs,
                        "lr": lr,
                        **info,
                        "rise": float(np.mean(rises)),
                        "lambda_max": spec.lambda_max,
                    }
                )
            paths = [("init → SB", init, nets["SB"], -0.25, 1.25)]
            if seed == 0:
                paths.append(("SB → LB", nets["SB"], nets["LB"], -0.5, 1.5))
            for label, a, b, lo, hi in paths:
                d = landscape.target_direction(a, b)
                grid = landscape.Grid.line(lo, hi, config.points)
                splits = (("train", train), ("test", test)) if seed == 0 else (("train", train),)
                for split, xy in splits:
                    s = landscape.surface(a, ce, xy, d, grid).to_frame()
                    s = s.drop(columns="beta").assign(path=label, split=split, seed=seed)
                    frames.append(s)
                    if label.startswith("init") and split == "train":
                        mono_rows.append({"seed": seed, "worst_rise": _worst_rise(s)})
        runs = pd.DataFrame(run_rows)
        mono = pd.DataFrame(mono_rows)
        claims = interpolation_claims(runs, mono)
        by = runs.groupby("regime")[["test_acc", "rise", "lambda_max", "train_loss"]].mean()
        metrics = {
            f"{col}_{tag.lower()}": float(by.loc[tag, col]) for tag in ("SB", "LB") for col in by
        }
        tables = {
            "runs": runs,
            "monotone": mono,
            "paths": pd.DataFrame(pd.concat(frames, ignore_index=True)),
        }
        return Result(self.name, config.model_dump(), claims, tables, {}, metrics)

    def figures(self, result: Result, fig_dir) -> dict[str, str]:
        """Seed 0's two paths (train and test), at the run's resolution."""
        from depthlab.plots.landscape import plot_curves_1d

        paths = result.tables["paths"]
        paths = paths[paths.seed == 0]
        figures: dict[str, str] = {}
        for label, slug in (("init → SB", "init_to_sb"), ("SB → LB", "sb_to_lb")):
            g = paths[paths.path == label]
            if g["alpha"].nunique() >= 5:
                figures |= plot_curves_1d(
                    g, fig_dir.parent, f"interpolation_{slug}", by="split", xlabel=f"α ({label})"
                )
        return figures
