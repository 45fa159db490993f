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

Design (revised 2026-12-02, issue 14; fixed before the run; every claim's note repeats it):
nets of ``ref_blocks`` = 4 and 16 blocks (9 and 33 conv layers), 12 channels, with and without
shortcuts, **8 seeds** each; He-normal init from the stream ``("init", blocks, seed)`` (plain
and residual nets of one depth and seed start from the same draw) and mini-batch order from
``("order", seed)``, shared by every net of a seed (common random numbers, so the comparisons
are paired by seed); SGD lr 0.05, momentum 0.9, cosine schedule, batch 64, **12 epochs** over
2000 MNIST-1D examples (384 steps, 3x the previous 128: He et al. compare nets trained to
convergence, and after 128 steps the residual nets were still far from it, training accuracy
0.78-0.92); the test split is evaluated once, after training (it never steers training). The
statistic is the final training loss (evaluated on the whole training set after training).
Claims, each a 95 % interval over the 8 seeds of a ratio of training losses against a 10 %
margin (paired t on the per-seed log ratios for 1 and 3; for 2, see the confirmatory design
below):

1. plain nets degrade: loss(plain, 16) / loss(plain, 4) >= 1.1;
2. residual nets do not: loss(residual, 16) / loss(residual, 4) <= 1.1;
3. at the greatest depth shortcuts win: loss(plain, 16) / loss(residual, 16) >= 1.1.

Why 8 seeds and 12 epochs (power): in the 4-seed, 128-step run the per-seed log ratio of the
residual nets had a standard deviation of about 0.4 (deep residual losses 0.27-0.68
mid-training), so the 4-seed half-width was 3.18 x 0.4 / 2 = 0.64 in log units, wider than any
plausible effect; with 8 seeds it is 2.36 x 0.4 / 2.83 = 0.33 at the same spread, and training
nearer convergence is meant to shrink the spread itself. The margin (1.1) and depths are
unchanged.

Confirmatory design of claim 2 (issue 14, 2026-12-02; fixed before its run): on the exploratory
nets (design 9f44c4c) 7 of 8 seeds had the deep residual net below the shallow one, but seed 7
stalled (log ratio +1.71), which tripled the spread of the log ratios and put the paired t
interval past 1.1 (0.714 [0.327, 1.56]). The claim is about the typical seed, so its statistic is
now the Hodges-Lehmann estimate of the 8 per-seed log ratios (the median of their 36 Walsh
averages) with the distribution-free interval inverting Wilcoxon's signed-rank test
(``depthlab.evidence.hodges_lehmann``; exact null, at 8 seeds the 4th smallest and 4th largest
Walsh averages, coverage 96.1 %), back-transformed; region ``<= 1.1`` unchanged. Because the idea
came from seeing the exploratory nets, it is decided on **fresh draws**: every stream key is
salted with ``"confirm"`` (config ``draws="confirmatory"``, the default; ``draws="exploratory"``
reproduces the old nets). The fresh nets change the data of claims 1 and 3 too (their statistic
is unchanged). Known limit, stated before the run: the estimate is robust to one seed (breakdown
29 %), but one seed enters 8 of the 36 Walsh averages, so at 8 seeds a stall as large as seed 7's
still sets the upper endpoint, which grows by half of the stall's log ratio (on the exploratory
nets the new statistic gives 0.623 [0.347, 2.03], a *wider* upper end than the t interval's
1.56); it decides when no seed stalls that badly (the upper endpoint is then about (stalled + 3rd largest other log ratio) / 2,
which stays below log 1.1 for a stall up to about +0.5 when the others sit near -0.4).
Sizes (8 seeds, 12 epochs) and CPU (about 200 s) unchanged.

BatchNorm keeps these nets out of ``fit_batched``; they train one after another. The GPU scale
(``--scale paper``) uses 9 and 27 blocks (19 and 55 conv layers, He et al.'s 20 / 56), 16
channels, 8 seeds, 30 epochs over all 4000 examples.

Time budget: default about 200 s of CPU (one thread; the previous 4-seed, 4-epoch design took
35 s); ``--quick`` about 6 s (tiny: expect the quick verdicts to be noisy).

Confirmatory result at the default scale (seed 0, fresh ``draws="confirmatory"`` nets, design
commit 9949e0b, 166 s CPU (163 user + 3 sys), 3.3 min wall, one thread): all three claims
**hold**. ``residual-no-degradation`` 0.531 [0.452, 0.613] (Hodges-Lehmann, exact Wilcoxon
interval, n = 8 seeds): no seed stalled this time; every 33-layer residual net ends below its
9-layer twin (per-seed ratios 0.40-0.66; residual losses 0.041-0.056 at 4 blocks, 0.019-0.035 at
16, training accuracy >= 99.2 %), so the stated limit did not bite (the paired t on these nets,
not the decision, gives 0.526 [0.455, 0.607]). ``plain-degrades`` 15.3 [12.4, 18.8] (33-layer
plain nets at 0.72-1.22, shallow plain 0.042-0.097); ``shortcuts-win-at-depth`` 37.1 [27.9,
49.3]. Plain 33-layer stem/classifier gradient ratio at init 8.8-44 (0.05-0.23 with shortcuts).
One confirmatory run; one stall in 8 (the exploratory rate) would have left it inconclusive.

Exploratory result, measured at the default scale (seed 0, design commit 9f44c4c, 197 s CPU, one thread, 9.3 min
wall on the shared 2-core box): ``plain-degrades`` holds (14.3 [8.80, 23.1]; shallow nets of
either kind reach training losses 0.03-0.18, the 33-layer plain nets stay at 0.56-1.11),
``shortcuts-win-at-depth`` holds (23.9 [11.0, 52.0]), ``residual-no-degradation`` is still
**inconclusive** (0.714 [0.327, 1.56]). Residual losses at 4 / 16 blocks per seed 0-7: 0.041 /
0.037, 0.076 / 0.056, 0.070 / 0.032, 0.045 / 0.026, 0.060 / 0.016, 0.047 / 0.016, 0.048 /
0.037, 0.047 / 0.260: in 7 of 8 seeds the deep residual net ends lower, but seed 7's stalls
(92.8 % training accuracy), a log ratio of +1.71 that lifts the spread of the 8 log ratios to
0.93 (the design assumed about 0.4) and the interval past 1.1. Not retuned after the result (the
confirmatory design above came from seeing this stall, hence its fresh nets); the
paper scale (8 seeds, 30 epochs over 4000 examples) is where it can be decided.

Previous result (4 seeds, 4 epochs, design commit f980b5e, 35 s CPU): ``plain-degrades`` held
(1.85 [1.58, 2.15]), ``shortcuts-win-at-depth`` held (4.20 [2.19, 8.06]),
``residual-no-degradation`` was **inconclusive** (0.72 [0.38, 1.36]); the first run of that
design (7acd623, 3 seeds, unpaired) gave 1.94, 0.84 and 3.99 with the same verdicts.
"""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn.functional as F
from pydantic import Field, field_validator, model_validator

from depthlab.config import ExperimentConfig
from depthlab.context import RunContext
from depthlab.core import Change, Claim, Region, Result
from depthlab.evidence import empirical, hodges_lehmann, ratio
from depthlab.experiments.base import Draws, draws_salt, register
from depthlab.init import initialize
from depthlab.nets import count_params, resnet1d
from depthlab.train import TrainConfig, evaluate, fit

SRC = "He et al. 2016"
REVISED = "2026-12-02"
OLD_DESIGN = (
    "blocks 1, 4, 8, 16, one seed, strict inequalities against the best plain/residual depth"
)


class DegradationConfig(ExperimentConfig):
    blocks: list[Annotated[int, Field(ge=1, le=200)]] = Field(
        default=[4, 16],
        min_length=2,
        max_length=12,
        description="basic blocks per net (2 convs each), increasing; the claims compare the "
        "deepest with ref_blocks",
    )
    ref_blocks: int = Field(4, ge=1, le=200, description="the shallower comparison depth")
    channels: int = Field(12, ge=1, le=512)
    epochs: int = Field(12, ge=1, le=1000)
    lr: float = Field(0.05, gt=0, le=10)
    batch_size: int = Field(64, ge=1, le=65_536)
    n_train: int = Field(2000, ge=10, le=1_000_000)
    n_test: int = Field(1000, ge=10, le=1_000_000)
    seeds: int = Field(8, ge=2, le=100, description="seeds per (depth, skip)")
    margin: float = Field(1.1, gt=1, le=100, description="ratio of training losses that counts")
    draws: Draws = Field(
        "confirmatory",
        description="random streams: confirmatory (fresh nets, keys salted with 'confirm', the "
        "issue-14 confirmatory design) or exploratory (the nets of design 9f44c4c / result 9a6aa34)",
    )

    _quick_overrides = {
        "blocks": [1, 6],
        "ref_blocks": 1,
        "channels": 8,
        "epochs": 2,
        "n_train": 512,
        "n_test": 256,
        "seeds": 2,
    }
    _tiny_overrides = {"blocks": [1, 2], "channels": 4, "epochs": 1, "n_train": 128, "n_test": 64}
    _paper_overrides = {
        "blocks": [9, 27],
        "ref_blocks": 9,
        "channels": 16,
        "epochs": 30,
        "n_train": 4000,
        "batch_size": 128,
        "lr": 0.1,
        "seeds": 8,
    }

    @field_validator("blocks")
    @classmethod
    def _increasing(cls, v: list[int]) -> list[int]:
        if sorted(set(v)) != v:
            raise ValueError(f"blocks must be strictly increasing, got {v}")
        return v

    @model_validator(mode="after")
    def _ref_is_shallower(self) -> DegradationConfig:
        if self.ref_blocks not in self.blocks or self.ref_blocks >= max(self.blocks):
            raise ValueError(
                f"ref_blocks {self.ref_blocks} must be one of blocks {self.blocks} and below the "
                "deepest"
            )
        return self


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
            eval_every=config.epochs,  # the test split once, after training
        )
        jobs = [
            (b, skip, s)
            for b in config.blocks
            for skip in (True, False)
            for s in range(config.seeds)
        ]
        salt = draws_salt(config.draws)
        rows = []
        for blocks, skip, s in ctx.progress.track(jobs, "resnet-degradation"):
            net = resnet1d(blocks=blocks, channels=config.channels, skip=skip).to(
                ctx.device, ctx.dtype
            )
            initialize(
                net, "he_normal", ctx.generator("resnet-degradation", *salt, "init", blocks, s)
            )
            g_ratio = _grad_ratio(net, data.x_train[:256], data.y_train[:256])
            tr = fit(
                net,
                data,
                train_cfg,
                generator=ctx.generator("resnet-degradation", *salt, "order", s),
            )
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
                    "grad_ratio_init": g_ratio,
                }
            )
        table = pd.DataFrame(rows)
        claims = degradation_claims(table, config)
        deepest = max(config.blocks)
        mean = table.groupby(["skip", "blocks"])["train_loss"].mean()
        metrics = {
            "train_loss_deepest_plain": float(mean.loc[(False, deepest)]),
            "train_loss_deepest_residual": float(mean.loc[(True, deepest)]),
        }
        return Result(self.name, config.model_dump(), claims, {"nets": table}, {}, metrics)

    def figures(self, result: Result, fig_dir) -> dict[str, str]:
        from depthlab.plots.resnets import plot_degradation

        return plot_degradation(result.tables["nets"], fig_dir.parent)


def degradation_claims(table, config: DegradationConfig) -> list[Claim]:
    """The three claims from the per-net table (one row per blocks x skip x seed)."""
    deepest, ref, m = max(config.blocks), config.ref_blocks, config.margin

    def losses(skip: bool, blocks: int):
        g = table[(table["skip"] == skip) & (table["blocks"] == blocks)]
        return g.sort_values("seed")["train_loss"].to_numpy()

    design = (
        f"Design: blocks {config.blocks} ({[2 * b + 1 for b in config.blocks]} conv layers), "
        f"{config.seeds} seeds per (depth, skip), {config.channels} channels, SGD lr {config.lr} "
        f"cosine, batch {config.batch_size}, {config.epochs} epochs over {config.n_train} "
        "MNIST-1D examples, the mini-batch order shared by every net of a seed; final training "
        f"loss on the whole training set; {config.draws} draws; margin {m:g}x. Statistics: "
        "plain-degrades and shortcuts-win-at-depth, the geometric mean of the per-seed loss ratios "
        "with a paired t interval on their logs; residual-no-degradation (confirmatory, issue 14), "
        "the Hodges-Lehmann estimate of the per-seed log ratios (median of the Walsh averages) with "
        "the exact Wilcoxon signed-rank 95% interval, back-transformed to a ratio (at 8 seeds the "
        "4th smallest and 4th largest of the 36 Walsh averages, coverage 96.1%)."
    )
    common = (
        Change(
            REVISED,
            "design",
            OLD_DESIGN,
            f"{config.seeds} seeds, deepest vs a fixed reference depth, 95% interval of the ratio "
            f"against a {m:g}x margin",
            "issue 13: single seeds and strict inequalities with no margin decided the verdicts; "
            "the best depth was chosen from the data",
        ),
        Change(
            REVISED,
            "design",
            "3 seeds, mini-batch order per (depth, seed), Welch t interval on log losses",
            "4 seeds, one mini-batch order per seed shared by every net, paired t on log ratios",
            "the first run (design commit 7acd623) left residual-no-degradation inconclusive, "
            "0.844 [0.54, 1.31]: across 3 seeds the residual losses varied by 1.5x, so the "
            "unpaired interval spanned the 1.1 margin (plain-degrades 1.94 [1.44, 2.62] and "
            "shortcuts-win 3.99 [2.54, 6.27] held). Common random numbers pair the comparisons "
            "by design; margin and sizes unchanged",
        ),
        Change(
            "2026-12-02",
            "design",
            "4 seeds, 4 epochs over 2000 examples (128 steps); result (design commit f980b5e): "
            "plain-degrades 1.85 [1.58, 2.15] holds, residual-no-degradation 0.72 [0.381, 1.36] "
            "inconclusive, shortcuts-win-at-depth 4.20 [2.19, 8.06] holds",
            "8 seeds, 12 epochs over 2000 examples (384 steps), test split evaluated once at the "
            "end",
            "issue 14, power: the per-seed log ratio of residual losses had a spread of about 0.4 "
            "after 128 steps (nets far from convergence, training accuracy 0.78-0.92), so 4 seeds "
            "gave a half-width of 0.64 in log units; 8 seeds halve it at the same spread, and "
            "training 3x longer brings the nets toward the convergence He et al. compare at. "
            "Depths, margin and statistic unchanged",
        ),
    )
    fresh = (
        "confirmatory draws: every stream key salted with 'confirm' (fresh inits and mini-batch "
        "orders for all 8 seeds); sizes, depths, epochs, margin and statistic unchanged"
    )
    why_fresh = (
        "issue 14: the confirmatory design of residual-no-degradation was chosen after seeing the "
        "exploratory nets (one stalled seed), so it is decided on fresh nets; the nets are shared by "
        "all three claims, so this claim's data are fresh too (not a response to its result)"
    )
    old_run = "8 seeds x 12 epochs, exploratory draws (design 9f44c4c, result 9a6aa34)"
    plain_history = (
        *common,
        Change(REVISED, "draws", f"{old_run}: 14.3 [8.80, 23.1] holds", fresh, why_fresh),
    )
    wins_history = (
        *common,
        Change(REVISED, "draws", f"{old_run}: 23.9 [11.0, 52.0] holds", fresh, why_fresh),
    )
    residual_history = (
        *common,
        Change(
            REVISED,
            "statistic",
            f"geometric mean of the per-seed ratios, paired t interval on their logs; {old_run}: "
            "0.714 [0.327, 1.56] inconclusive (7 of 8 seeds below 1, seed 7 stalled at log ratio "
            "+1.71). The new statistic on those exploratory nets give 0.623 [0.347, 2.03], also "
            "inconclusive",
            "Hodges-Lehmann estimate of the per-seed log ratios with the exact Wilcoxon "
            "signed-rank 95% interval (W_(4), W_(33) of 36 Walsh averages at 8 seeds), "
            "back-transformed; fresh confirmatory draws (stream keys salted with 'confirm'); "
            "8 seeds, 12 epochs, depths and the <= 1.1 region unchanged",
            "issue 14, faithfulness: one stalled seed dominated the mean of the log ratios (it "
            "tripled their spread, 0.93 against 0.4), while the claim is about the typical seed; "
            "the Hodges-Lehmann estimate is robust to one seed (breakdown 29%) and the signed-rank "
            "interval is distribution-free (no normality that a stall violates). The idea came "
            "from the exploratory run, hence fresh draws. Known limit, stated before the run: at "
            "8 seeds the upper endpoint is the 4th largest Walsh average and one seed enters 8 of "
            "the 36, so a stall as large as seed 7's still sets it (wider than the t interval on "
            "the exploratory nets); only a milder stall, or none, can decide",
        ),
    )
    plain_d, plain_r = losses(False, deepest), losses(False, ref)
    res_d, res_r = losses(True, deepest), losses(True, ref)
    st = "ratio of mean final training losses"
    return [
        empirical(
            "he-2016.plain-degrades",
            "Without shortcuts, the deeper net reaches a higher training loss than the shallower "
            "one (degradation).",
            f"{SRC}, Fig. 1 and §4.1; lecture slide 16",
            ratio(
                plain_d,
                plain_r,
                paired=True,
                statistic=f"{st}, plain {deepest} / plain {ref} blocks",
            ),
            Region.at_least(m),
            predicted=f">= {m:g}",
            tolerance=f"95% interval of loss(plain, {deepest}) / loss(plain, {ref}) at least {m:g}",
            note=design,
            history=plain_history,
        ),
        empirical(
            "he-2016.residual-no-degradation",
            "With identity shortcuts, the deeper net trains at least as well as the shallower one.",
            f"{SRC}, §4.1; lecture slide 16",
            hodges_lehmann(
                res_d / res_r,
                unit="seeds",
                log=True,
                statistic="Hodges-Lehmann ratio of final training losses (per-seed log ratios), "
                f"residual {deepest} / residual {ref} blocks",
            ),
            Region.at_most(m),
            predicted=f"<= {m:g}",
            tolerance=f"exact Wilcoxon 95% interval of the Hodges-Lehmann ratio loss(residual, "
            f"{deepest}) / loss(residual, {ref}) at most {m:g}",
            note=design,
            history=residual_history,
        ),
        empirical(
            "he-2016.shortcuts-win-at-depth",
            "At the greatest depth, the net with shortcuts reaches a lower training loss than the "
            "plain net.",
            f"{SRC}, Table 2 and Fig. 4; lecture slide 16",
            ratio(
                plain_d, res_d, paired=True, statistic=f"{st}, plain / residual at {deepest} blocks"
            ),
            Region.at_least(m),
            predicted=f">= {m:g}",
            tolerance=f"95% interval of loss(plain, {deepest}) / loss(residual, {deepest}) at "
            f"least {m:g}",
            note=design,
            history=wins_history,
        ),
    ]
