"""Skip connections keep deep loss landscapes convex-looking (lecture slides 16 and 26).

Li et al. (2018) trained CIFAR-10 ResNets with and without shortcut connections and drew
filter-normalized 2-D loss surfaces around each minimum: ResNet-20 looks alike either way; without
skips ResNet-56 turns chaotic and ResNet-110 steep and chaotic, while with skips the surface stays
convex-looking as depth grows. Test error grows without skips (CIFAR-10, with / without:
ResNet-20 7.37 / 8.18 %, ResNet-56 5.89 / 13.31 %, ResNet-110 5.79 / 16.44 %).

Here the same protocol runs on MNIST-1D (40-d, generated locally) with 1-D ResNets
(``depthlab.nets.resnet1d``), with and without skips. Depth counts weight layers: a stem conv, two
convs per block and the classifier, so depth ``d`` has ``(d - 2) / 2`` blocks. ``--set
dataset=cifar10`` runs ResNet-20/56/110 (``depthlab.nets.resnet_cifar``) on CIFAR-10 read from a
``cifar-10-batches-py`` folder under ``--set data_dir=...`` or ``$DEPTHLAB_DATA`` (torchvision only
downloads a missing copy). Where CIFAR-10 is not on disk the run stops with one line that names
the three claims it could not run and why; it never substitutes another dataset.

For each net and each of ``direction_pairs`` pairs of filter-normalised random directions (biases
and BN ignored) we compute the surface ``L(θ* + α δ + β η)`` on ``n_eval`` training examples over a
``grid_points``² grid on [-1, 1]², and its **non-convexity score**
(``depthlab.landscape.nonconvexity``: the fraction of interior grid points whose finite-difference
2×2 Hessian has an eigenvalue below ``-0.01 m``, ``m`` the median magnitude of the larger one).
Beside it: ``|λ_min/λ_max|`` of the full Hessian at the minimum (Lanczos over ``n_curvature``
examples; Li et al. §6).

Design (issue 13 / 14, fixed before the first run at this design)
------------------------------------------------------------------
The independent unit is the **seed**: each (depth, skip, seed) net has its own initialisation
(stream ``("init", depth, arch, seed)``, ``arch`` "skip" or "plain"), its own mini-batch order (``("fit", depth, arch, seed)``)
and its own direction pairs (``("direction", depth, arch, seed, pair, axis)``); a net's score is
the mean over its pairs. Paired differences pair the skip and no-skip nets of one seed index.

Default (CPU): depths 6 / 12 / 20 (20 is already in degradation on MNIST-1D: a probe at 8
channels and 8 epochs gave 46 % test accuracy without skips against 88 % with), 8 channels, 2000
training / 1000 test examples, 8 epochs of SGD (lr 0.05, momentum 0.9, weight decay 5e-4,
cosine), **3 seeds × 1 direction pair**, a **25×25** grid over 64 examples, Hessian at the centre
over 128 examples (8 Lanczos steps). About 4-5 min on one loaded core: the CPU budget (2-3 min)
does not allow several direction pairs per net at 25×25, so the direction pairs vary across seeds
only. With 3 seeds a t interval has 2 degrees of freedom (q = 4.3): the CPU scale may well leave
the landscape claims inconclusive; they are then decided at ``--scale paper``.

First result of this design (commit 3cfede8; ``OMP_NUM_THREADS=1 depthlab run landscape-skip``,
seed 0, 2 shared cores at load ~15: 16.5 min wall, 93 s CPU), n = 3 seeds, all three
**inconclusive** at CPU scale, as anticipated; they are decided at ``--scale paper``:

- ``noskip-deep-less-convex``: 0.026, 95% [-0.28, 0.33] (scores at depth 20: 0.25 no skip, 0.23
  skip). Beside it, Li et al.'s centre ``|λmin/λmax|`` at depth 20 separates in every seed
  (no skip 0.032 / 0.028 / 0.007 against skip 0.0001 / 0.0001 / 0.0035), but it is not the
  claim's statistic.
- ``skip-alike-across-depth``: 0.16, 95% [0.02, 0.30].
- ``noskip-accuracy-drops``: -0.03, 95% [-0.34, 0.28]; no-skip test accuracy 0.52 / 0.75 / 0.51 at
  depths 6 / 12 / 20 (skip 0.61 / 0.91 / 0.87): degradation shows from 12 to 20, but the
  one-block depth-6 nets underfit, so the trend over all depths is flat.

Seen in the figures: the loss exceeds 10 beyond |α|, |β| ≈ 0.5-0.8 on every surface, and the
score (about 0.2 everywhere) also counts where the surface bends over into that plateau; a
design that scores only the basin (or a smaller range) would be a change of statistic, left for a
later design with its own history entry.

``--scale paper`` (one GPU): CIFAR-10, ResNet-20/56/110 (widths 16/32/64), 3 seeds × 2 direction
pairs, 51×51 surfaces over 2500 training examples, 60 epochs of SGD (lr 0.1, batch 128, cosine),
Hessian over 1000 examples with 20 Lanczos steps. Not yet run (time not measured).

Claims (tolerances carried over from the earlier design, now decided on intervals):

1. ``li-2018.noskip-deep-less-convex``: at the deepest depth, the paired difference over seeds of
   the non-convexity score, no skip minus skip; region ``>= 0.10`` (the earlier design's margin).
   The earlier second condition (a larger mean ``|λmin/λmax|``) is reported beside it, not
   combined into the verdict (see the claim's history).
2. ``li-2018.skip-alike-across-depth``: per seed the spread (max - min over depths) of the skip
   nets' scores; region ``<= 0.10``.
3. ``li-2018.noskip-accuracy-drops``: per seed, the least-squares trend of no-skip test accuracy
   over all depths, expressed as the fitted change from the shallowest to the deepest depth;
   region ``<= -0.02`` (a drop of at least 2 points, the earlier design's margin).

``--quick`` (smoke test, not evidence): depths 4 / 8, 2 seeds, 3 epochs, a 9×9 grid.
"""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
import pandas as pd
import torch.nn.functional as F
from pydantic import Field, ValidationInfo, field_validator

from depthlab import evidence, landscape
from depthlab.config import ConfigError, ExperimentConfig, check_data_dir
from depthlab.context import RunContext
from depthlab.core import Change, Claim, Region, Result
from depthlab.experiments.base import register
from depthlab.landscape import hessian
from depthlab.nets import count_params, resnet1d, resnet_cifar
from depthlab.train import TrainConfig, fit

SOURCE = "Li et al. 2018 (NeurIPS), Figs. 5 and 7, Table 1; lecture slides 16 and 26"
CLAIM_IDS = (
    "li-2018.noskip-deep-less-convex",
    "li-2018.skip-alike-across-depth",
    "li-2018.noskip-accuracy-drops",
)
LESS_CONVEX = Region.at_least(0.10)
ALIKE = Region.at_most(0.10)
ACC_DROP = Region.at_most(-0.02)
DESIGN_DATE = "2026-12-02"

Depth = Annotated[int, Field(ge=4, le=200)]


class LandscapeSkipConfig(ExperimentConfig):
    dataset: Literal["mnist1d", "cifar10"] = Field(
        "mnist1d", description="mnist1d (CPU, no download) or cifar10 (read from disk, GPU scale)"
    )
    data_dir: str | None = Field(
        None,
        min_length=1,
        max_length=4096,
        description="cifar10: folder holding cifar-10-batches-py (None: $DEPTHLAB_DATA, else the cache)",
    )
    depths: list[Depth] | None = Field(
        None,
        min_length=2,
        max_length=8,
        description="weight-layer depths; default mnist1d [6, 12, 20] ([4, 8] with --quick), "
        "cifar10 [20, 56, 110] ([8, 14] with --quick)",
    )
    seeds: int = Field(3, ge=1, le=64, description="independent nets per (depth, skip)")
    direction_pairs: int = Field(1, ge=1, le=16, description="direction pairs per net")
    channels: int = Field(8, ge=1, le=256, description="base channels of the 1-D ResNets (mnist1d)")
    n_train: int | None = Field(2000, ge=64, le=50_000, description="training examples (None: all)")
    n_test: int | None = Field(None, ge=16, le=10_000, description="test examples (None: all)")
    n_eval: int = Field(
        64, ge=16, le=50_000, description="training examples the surfaces average over"
    )
    n_curvature: int = Field(128, ge=16, le=50_000, description="training examples for the Hessian")
    epochs: int = Field(8, ge=1, le=1000)
    lr: float = Field(
        0.05, gt=0, le=10, description="SGD learning rate (momentum 0.9, cosine schedule)"
    )
    weight_decay: float = Field(5e-4, ge=0, le=1)
    batch_size: int = Field(128, ge=1, le=65_536)
    grid_points: int = Field(
        25, ge=3, le=201, description="surface grid is grid_points x grid_points"
    )
    grid_range: float = Field(1.0, gt=0, le=100, description="α, β in [-grid_range, grid_range]")
    lanczos_iters: int = Field(8, ge=2, le=200)

    _quick_overrides = {
        "seeds": 2,
        "n_train": 512,
        "n_test": 400,
        "n_eval": 64,
        "n_curvature": 64,
        "epochs": 3,
        "grid_points": 9,
        "lanczos_iters": 4,
    }
    _tiny_overrides = {
        "depths": [4, 6],
        "channels": 4,
        "n_train": 128,
        "n_test": 64,
        "n_eval": 32,
        "n_curvature": 32,
        "epochs": 1,
        "grid_points": 5,
        "lanczos_iters": 3,
    }
    _paper_overrides = {
        "dataset": "cifar10",
        "seeds": 3,
        "direction_pairs": 2,
        "n_train": None,
        "n_eval": 2500,
        "n_curvature": 1000,
        "epochs": 60,
        "lr": 0.1,
        "grid_points": 51,
        "lanczos_iters": 20,
    }

    @field_validator("data_dir")
    @classmethod
    def _data_dir_needs_cifar(cls, v: str | None, info: ValidationInfo) -> str | None:
        return check_data_dir(v, info.data.get("dataset"))


def resolved_depths(config: LandscapeSkipConfig, quick: bool = False) -> list[int]:
    """The configured depths, or the dataset's defaults; raises ConfigError on a bad depth."""
    if config.depths is not None:
        depths = sorted(config.depths)
    elif config.dataset == "cifar10":
        depths = [8, 14] if quick else [20, 56, 110]
    else:
        depths = [4, 8] if quick else [6, 12, 20]
    if len(set(depths)) < 2:
        raise ConfigError(f"config error: key 'depths': needs two distinct depths, got {depths}")
    for d in depths:
        if config.dataset == "cifar10" and (d - 2) % 6:
            raise ConfigError(
                f"config error: key 'depths': cifar10 ResNet depth must be 6n+2 (20, 56, 110, ...), got {d}"
            )
        if config.dataset == "mnist1d" and d % 2:
            raise ConfigError(
                f"config error: key 'depths': mnist1d ResNet depth must be even (2 * blocks + 2), got {d}"
            )
    return depths


def load_data(config: LandscapeSkipConfig, ctx: RunContext):
    """MNIST-1D, or CIFAR-10 from ``data_dir`` / ``$DEPTHLAB_DATA`` (ConfigError naming the
    claims it cannot run when the files are missing)."""
    if config.dataset == "cifar10":
        from depthlab.data import cifar10

        try:
            data = cifar10(root=config.data_dir)
        except RuntimeError as exc:  # no files, and no torchvision or network to download them
            msg = " ".join(str(exc).split())
            raise ConfigError(
                f"config error: key 'dataset': {msg}; skipped claims {', '.join(CLAIM_IDS)} "
                "(they need CIFAR-10 on disk at this scale; no substitute dataset is used)"
            ) from None
    else:
        from depthlab.data import mnist1d

        data = mnist1d()
    if config.n_train is not None or config.n_test is not None:
        data = data.subset(config.n_train, config.n_test)
    return data.to(ctx.device, ctx.dtype)


def build_net(config: LandscapeSkipConfig, depth: int, skip: bool, generator):
    if config.dataset == "cifar10":
        return resnet_cifar(depth, skip=skip, generator=generator)
    return resnet1d(
        blocks=(depth - 2) // 2, channels=config.channels, skip=skip, generator=generator
    )


def _key_seed(ctx: RunContext, *key) -> int:
    """An integer seed for APIs that take one (directions, Lanczos), drawn from a keyed stream."""
    return int(ctx.rng(*key).integers(0, 2**31 - 1))


def _per_seed(nets: pd.DataFrame, value: str, depth: int, skip: bool) -> pd.Series:
    g = nets[(nets.depth == depth) & (nets.skip == skip)]
    return g.groupby("seed")[value].mean()


def skip_claims(nets: pd.DataFrame) -> list[Claim]:
    """The three Li et al. claims from the per-net table (``depth, skip, seed, nonconvexity,
    ratio_center, test_acc``; one row per net, the score already averaged over its pairs)."""
    depths = sorted(int(d) for d in nets["depth"].unique())
    lo, hi = depths[0], depths[-1]
    nc_ns, nc_s = (
        _per_seed(nets, "nonconvexity", hi, False),
        _per_seed(nets, "nonconvexity", hi, True),
    )
    common = nc_ns.index.intersection(nc_s.index)
    d_nc = evidence.difference(
        nc_ns[common].to_numpy(),
        nc_s[common].to_numpy(),
        paired=True,
        statistic=f"non-convexity score at depth {hi}, no skip minus skip",
    )
    r_ns, r_s = (
        _per_seed(nets, "ratio_center", hi, False),
        _per_seed(nets, "ratio_center", hi, True),
    )
    skip_nc = nets[nets.skip].pivot_table(index="seed", columns="depth", values="nonconvexity")
    spread = (skip_nc.max(axis=1) - skip_nc.min(axis=1)).dropna()
    spread_est = evidence.mean(
        spread.to_numpy(), statistic="spread (max - min over depths) of the skip nets' score"
    )
    acc = nets[~nets.skip].pivot_table(index="seed", columns="depth", values="test_acc").dropna()
    trend = evidence.trend(acc.columns.to_numpy(float), acc.to_numpy(float))
    change = evidence.mean(
        np.asarray(trend.samples) * (hi - lo),
        statistic=f"fitted change of no-skip test accuracy from depth {lo} to {hi} (trend over all depths)",
    )
    by_depth = nets.groupby(["depth", "skip"])[["nonconvexity", "test_acc"]].mean()
    per_depth = ", ".join(
        f"{d}: {by_depth.loc[(d, True), 'nonconvexity']:.2f}/{by_depth.loc[(d, False), 'nonconvexity']:.2f}"
        for d in depths
    )
    unit = f"Unit: seed ({d_nc.n} per (depth, skip); each net's own init, batches and direction pairs)."
    return [
        evidence.empirical(
            CLAIM_IDS[0],
            "Without skip connections the deepest net's loss surface is markedly less convex than with them.",
            SOURCE,
            d_nc,
            LESS_CONVEX,
            predicted="no-skip score exceeds the skip score by at least 0.10",
            tolerance="95% interval over seeds of the paired difference (no skip - skip) of the "
            "non-convexity score at the deepest depth inside [0.10, inf) (margin of the earlier design)",
            note=f"{unit} Mean score by depth (skip/no skip): {per_depth}. Mean |λmin/λmax| at the "
            f"centre, depth {hi}: {r_ns.mean():.3f} (no skip) vs {r_s.mean():.3f} (skip). At CPU "
            "scale (3 seeds, 1 pair each) an inconclusive verdict is decided at --scale paper.",
            history=(
                Change(
                    DESIGN_DATE,
                    "tolerance",
                    "score difference >= 0.10 AND larger mean |λmin/λmax| (one net per cell)",
                    "interval over seeds of the score difference inside [0.10, inf); ratio reported",
                    "issue 13: one statistic with an interval over seeds decides; set before the "
                    "first run of this design",
                ),
            ),
        ),
        evidence.empirical(
            CLAIM_IDS[1],
            "With skip connections the loss surfaces stay alike (convex-looking) as depth grows.",
            SOURCE,
            spread_est,
            ALIKE,
            predicted="the skip nets' scores agree across depth (spread <= 0.10)",
            tolerance="95% interval over seeds of the per-seed spread (max - min over depths) of the "
            "skip nets' non-convexity score inside [0, 0.10]",
            note=f"{unit} Mean score by depth (skip/no skip): {per_depth}.",
        ),
        evidence.empirical(
            CLAIM_IDS[2],
            "Without skip connections test accuracy drops as depth grows.",
            SOURCE,
            change,
            ACC_DROP,
            predicted="CIFAR-10 test error without skips 8.18% (20) -> 13.31% (56) -> 16.44% (110)",
            tolerance="95% interval over seeds of the fitted accuracy change (least-squares trend over "
            "all depths x depth range) inside (-inf, -0.02]",
            measured=", ".join(
                f"depth {d}: {by_depth.loc[(d, False), 'test_acc']:.3f} (skip "
                f"{by_depth.loc[(d, True), 'test_acc']:.3f})"
                for d in depths
            ),
            note=unit,
        ),
    ]


@register
class LandscapeSkip:
    name = "landscape-skip"
    title = "Skip connections keep deep loss landscapes convex-looking"
    section = "landscape"
    order = 10
    Config = LandscapeSkipConfig

    def run(self, config: LandscapeSkipConfig, ctx: RunContext) -> Result:
        depths = resolved_depths(config, ctx.quick)
        data = load_data(config, ctx)
        x_eval, y_eval = data.x_train[: config.n_eval], data.y_train[: config.n_eval]
        curv_data = (data.x_train[: config.n_curvature], data.y_train[: config.n_curvature])
        grid = landscape.Grid.plane(-config.grid_range, config.grid_range, config.grid_points)
        train_cfg = TrainConfig(
            optimizer="sgd",
            lr=config.lr,
            momentum=0.9,
            weight_decay=config.weight_decay,
            epochs=config.epochs,
            batch_size=config.batch_size,
            schedule="cosine",
        )
        net_rows, pair_rows, surf_frames = [], [], []
        jobs = [(d, sk, s) for s in range(config.seeds) for d in depths for sk in (True, False)]
        for depth, skip, seed in ctx.progress.track(jobs, "landscape-skip nets"):
            arch = "skip" if skip else "plain"  # the stream keys' name for the variant
            label = f"depth {depth}, {'skip' if skip else 'no skip'}"
            net = build_net(config, depth, skip, ctx.generator("init", depth, arch, seed))
            net = net.to(ctx.device, ctx.dtype)
            gen = ctx.generator("fit", depth, arch, seed)
            tr = fit(net, data, train_cfg, generator=gen, description=f"{label}, seed {seed}")
            net.eval()
            tag = {"label": label, "depth": depth, "skip": skip, "seed": seed}
            scores, center = [], float("nan")
            for pair in range(config.direction_pairs):
                dirs = tuple(
                    landscape.random_direction(
                        net, seed=_key_seed(ctx, "direction", depth, arch, seed, pair, axis)
                    )
                    for axis in (0, 1)
                )
                surf = landscape.surface(net, F.cross_entropy, (x_eval, y_eval), dirs, grid)
                scores.append(landscape.nonconvexity(surf))
                center = surf.center_loss
                pair_rows.append({**tag, "pair": pair, "nonconvexity": scores[-1]})
                if seed == 0 and pair == 0:
                    surf_frames.append(surf.to_frame().assign(**tag))
                    if ctx.out_dir is not None:
                        slug = f"d{depth}-{'skip' if skip else 'noskip'}"
                        surf.save(ctx.out_dir / "surfaces" / f"{slug}.pt")
            spec = hessian.eigenvalues(
                net,
                F.cross_entropy,
                curv_data,
                iters=config.lanczos_iters,
                seed=_key_seed(ctx, "lanczos", depth, arch, seed),
            )
            net_rows.append(
                {
                    **tag,
                    "params": count_params(net),
                    "test_acc": tr.final.get("test_acc"),
                    "train_loss": tr.final.get("train_loss"),
                    "center_loss": center,
                    "nonconvexity": float(np.mean(scores)),
                    "lambda_max": spec.lambda_max,
                    "lambda_min": spec.lambda_min,
                    "ratio_center": spec.ratio,
                }
            )
        nets = pd.DataFrame(net_rows)
        claims = skip_claims(nets)
        by = nets.groupby(["depth", "skip"])[["nonconvexity", "test_acc"]].mean()
        hi = depths[-1]
        metrics = {
            "nonconvexity_deepest_skip": float(by.loc[(hi, True), "nonconvexity"]),
            "nonconvexity_deepest_noskip": float(by.loc[(hi, False), "nonconvexity"]),
            "test_acc_deepest_skip": float(by.loc[(hi, True), "test_acc"]),
            "test_acc_deepest_noskip": float(by.loc[(hi, False), "test_acc"]),
        }
        tables = {
            "nets": nets,
            "pairs": pd.DataFrame(pair_rows),
            "surfaces": pd.DataFrame(pd.concat(surf_frames, ignore_index=True)),
        }
        return Result(self.name, config.model_dump(), claims, tables, {}, metrics)

    def figures(self, result: Result, fig_dir) -> dict[str, str]:
        """Seed 0's first direction pair at every (depth, skip), at the run's full grid."""
        from depthlab.plots.landscape import (
            plot_accuracy_vs_depth,
            plot_contours,
            plot_surface_3d,
            plot_surface_plotly,
        )

        run_dir = fig_dir.parent
        surfaces, nets = result.tables["surfaces"], result.tables["nets"]
        if surfaces["alpha"].nunique() < 9:  # no contour figure from a degenerate grid
            return {}
        s = surfaces.sort_values(["skip", "depth"], ascending=[False, True], kind="stable")
        ncols = nets["depth"].nunique()
        vmax = min(10.0, float(s["loss"].max()))
        figs: dict[str, str] = {}
        figs |= plot_contours(s, run_dir, "landscape_skip_contours", ncols=ncols, vmax=vmax)
        figs |= plot_surface_3d(s, run_dir, "landscape_skip_3d", ncols=ncols, vmax=vmax)
        figs |= plot_surface_plotly(s, run_dir, "landscape_skip_3d_interactive", vmax=vmax)
        mean = nets.groupby(["depth", "skip"], as_index=False)[["test_acc", "nonconvexity"]].mean()
        figs |= plot_accuracy_vs_depth(mean, run_dir, "landscape_skip_accuracy")
        return figs
