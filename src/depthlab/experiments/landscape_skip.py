"""Skip connections keep deep loss landscapes convex-looking (lecture slides 16 and 26).

Li et al. (2018) trained CIFAR-10 ResNets with and without shortcut connections and drew
filter-normalized 2-D loss surfaces around each minimum: ResNet-20 looks alike either way; without
skips ResNet-56 turns chaotic and ResNet-110 steep and chaotic, while with skips the surface stays
convex-looking as depth grows. Test error grows without skips (CIFAR-10, with / without:
ResNet-20 7.37 / 8.18 %, ResNet-56 5.89 / 13.31 %, ResNet-110 5.79 / 16.44 %).

Here the same protocol runs on MNIST-1D (40-d, generated locally) with 1-D ResNets
(``depthlab.nets.resnet1d``) at three depths, with and without skips. Depth counts weight layers:
a stem conv, two convs per block and the classifier, so depth ``d`` has ``(d - 2) / 2`` blocks; the default depths are 4, 8 and 14 with 12 base channels,
trained for 10 epochs on 2000 examples (SGD, momentum 0.9, cosine schedule) to fit the CPU
budget.
``--set dataset=cifar10`` runs ResNet-20/56/110 (``depthlab.nets.resnet_cifar``, widths
16/32/64) on CIFAR-10 (3×32×32, standardised per channel with the training set's mean and std):
the paper's scale, meant for a GPU (with ``--quick``: ResNet-8 and -14, a CPU smoke test of
about 2 min on one core, measured on synthetic data in the CIFAR format). The
files are read from a downloaded ``cifar-10-batches-py`` folder under ``--set data_dir=...`` or
``$DEPTHLAB_DATA``, without torchvision; torchvision only downloads a missing copy.

For each net we compute the 2-D surface ``L(θ* + α δ + β η)`` on the training data (a subset of
``n_eval`` examples; 15×15 points on [-1, 1]²) with filter-normalised directions (biases and BN
ignored), and the Hessian's ``|λ_min / λ_max|`` on a coarse 3×3 grid (8 Lanczos steps over
``n_curvature`` examples).

**Non-convexity score.** ``depthlab.landscape.nonconvexity``: the fraction of interior grid points
where the finite-difference 2×2 Hessian of the surface has an eigenvalue below ``-0.01 m``, with
``m`` the median magnitude of the larger eigenvalue over the grid. 0 = convex-looking everywhere;
chaotic surfaces score high. We report it beside the mean ``|λ_min/λ_max|`` of the full Hessian
over the coarse grid (Li et al.'s §6 measure; ≈ 0 in convex-looking regions).

Claims (tolerances fixed before measuring):

1. without skips the deepest net is markedly less convex: its non-convexity score is at least
   0.10 above the skip net's of the same depth AND its mean ``|λ_min/λ_max|`` is larger
   (holds: both; fails: neither; inconclusive: one);
2. with skips the surfaces stay alike across depth: the skip nets' scores span at most 0.10;
3. test accuracy drops without skips as depth grows: the deepest no-skip net's test accuracy is
   at least 2 points below the shallowest no-skip net's (fails if it is not lower at all).

``--quick`` uses tiny nets (8 channels, depths 4/8/12), 512 training and 400 test examples,
3 epochs, a 5×5 surface over 192 examples and the Hessian at the centre only (5 Lanczos steps):
it shows the machinery in under 10 s but is far too small to settle the claims (the nets barely
train; expect failing or inconclusive verdicts).

Time budget (measured with ``OMP_NUM_THREADS=1``): default about 100 s of CPU; ``--quick``
about 8 s.
"""

from __future__ import annotations

from typing import Literal

import pandas as pd
import torch.nn.functional as F
from pydantic import Field, ValidationInfo, field_validator

from depthlab import landscape
from depthlab.config import ConfigError, ExperimentConfig, check_data_dir
from depthlab.context import RunContext
from depthlab.core import Claim, Result, verdict_from
from depthlab.experiments.base import register
from depthlab.landscape import hessian
from depthlab.nets import count_params, resnet1d, resnet_cifar
from depthlab.nets.seeded import keep_global_rng, reset_parameters
from depthlab.train import TrainConfig, fit

SOURCE = "Li et al. 2018 (NeurIPS), Figs. 5 and 7, Table 1; lecture slides 16 and 26"


class LandscapeSkipConfig(ExperimentConfig):
    dataset: Literal["mnist1d", "cifar10"] = Field(
        "mnist1d", description="mnist1d (CPU, no download) or cifar10 (torchvision, GPU scale)"
    )
    data_dir: str | None = Field(
        None,
        description="cifar10: folder holding cifar-10-batches-py (None: $DEPTHLAB_DATA, else the cache)",
    )
    depths: list[int] | None = Field(
        None,
        description="weight-layer depths; default mnist1d [4, 8, 14] ([4, 8, 12] with --quick), "
        "cifar10 [20, 56, 110] ([8, 14] with --quick)",
    )
    channels: int = Field(12, ge=1, description="base channels of the 1-D ResNets (mnist1d)")
    n_train: int | None = Field(
        None, ge=64, description="training examples (None: 2000 for mnist1d, all for cifar10)"
    )
    n_test: int | None = Field(None, ge=16, description="test examples (None: all)")
    n_eval: int = Field(500, ge=16, description="training examples the surfaces average over")
    n_curvature: int = Field(256, ge=16, description="training examples for the Hessian maps")
    epochs: int = Field(10, ge=1)
    lr: float = Field(0.05, gt=0, description="SGD learning rate (momentum 0.9, cosine schedule)")
    weight_decay: float = Field(5e-4, ge=0)
    batch_size: int = Field(128, ge=1)
    grid_points: int = Field(15, ge=3, description="surface grid is grid_points x grid_points")
    grid_range: float = Field(1.0, gt=0, description="α, β in [-grid_range, grid_range]")
    curvature_points: int = Field(3, ge=1, description="coarse Hessian grid per side")
    lanczos_iters: int = Field(8, ge=2)

    _quick_overrides = {
        "channels": 8,
        "n_train": 512,
        "n_test": 400,
        "n_eval": 192,
        "n_curvature": 128,
        "epochs": 3,
        "grid_points": 5,
        "curvature_points": 1,
        "lanczos_iters": 5,
    }
    _tiny_overrides = {
        "depths": [4, 6],
        "channels": 4,
        "n_train": 128,
        "n_test": 64,
        "n_eval": 64,
        "n_curvature": 32,
        "epochs": 1,
        "grid_points": 3,
        "lanczos_iters": 3,
    }

    @field_validator("data_dir")
    @classmethod
    def _data_dir_needs_cifar(cls, v: str | None, info: ValidationInfo) -> str | None:
        return check_data_dir(v, info.data.get("dataset"))

    @field_validator("depths")
    @classmethod
    def _depths_ok(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and (len(v) < 2 or any(d < 4 for d in v)):
            raise ValueError(f"depths needs at least two values, each >= 4; got {v}")
        return v


def resolved_depths(config: LandscapeSkipConfig, quick: bool = False) -> list[int]:
    """The configured depths, or the dataset's defaults; raises ConfigError on a bad depth."""
    if config.depths is not None:
        depths = sorted(config.depths)
    elif config.dataset == "cifar10":
        depths = [8, 14] if quick else [20, 56, 110]
    else:
        depths = [4, 8, 12] if quick else [4, 8, 14]
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
    """MNIST-1D, or CIFAR-10 from ``data_dir`` / ``$DEPTHLAB_DATA`` (ConfigError when missing)."""
    if config.dataset == "cifar10":
        from depthlab.data import cifar10

        try:
            data = cifar10(root=config.data_dir)
        except RuntimeError as exc:  # no files, and no torchvision or network to download them
            raise ConfigError(f"config error: key 'dataset': {exc}") from None
    else:
        from depthlab.data import mnist1d

        data = mnist1d()
    n_train = config.n_train or (2000 if config.dataset == "mnist1d" else None)
    if n_train is not None or config.n_test is not None:
        data = data.subset(n_train, config.n_test)
    return data.to(ctx.device, ctx.dtype)


def build_net(config: LandscapeSkipConfig, depth: int, skip: bool):
    if config.dataset == "cifar10":
        return resnet_cifar(depth, skip=skip)
    return resnet1d(blocks=(depth - 2) // 2, channels=config.channels, skip=skip)


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
        cgrid = landscape.Grid.plane(-config.grid_range, config.grid_range, config.curvature_points)
        if config.curvature_points == 1:
            cgrid = landscape.Grid((0.0,), (0.0,))
        train_cfg = TrainConfig(
            optimizer="sgd",
            lr=config.lr,
            momentum=0.9,
            weight_decay=config.weight_decay,
            epochs=config.epochs,
            batch_size=config.batch_size,
            schedule="cosine",
        )
        net_rows, surf_frames, curv_frames = [], [], []
        jobs = [(d, s) for d in depths for s in (True, False)]
        for i, (depth, skip) in enumerate(ctx.progress.track(jobs, "landscape-skip nets")):
            label = f"depth {depth}, {'skip' if skip else 'no skip'}"
            g = ctx.generator("init", depth)  # PyTorch's default init, drawn from this stream
            with keep_global_rng(g):  # the caller's global RNG state is left as it was
                net = reset_parameters(build_net(config, depth, skip), g)
            net = net.to(ctx.device, ctx.dtype)
            tr = fit(net, data, train_cfg, generator=ctx.generator(100 + i), description=label)
            net.eval()
            dirs = (
                landscape.random_direction(net, seed=ctx.seed * 1000 + 1),
                landscape.random_direction(net, seed=ctx.seed * 1000 + 2),
            )
            surf = landscape.surface(net, F.cross_entropy, (x_eval, y_eval), dirs, grid)
            cmap = hessian.curvature_map(
                net,
                F.cross_entropy,
                curv_data,
                dirs,
                cgrid,
                iters=config.lanczos_iters,
                seed=ctx.seed,
            )
            if ctx.out_dir is not None:
                slug = f"d{depth}-{'skip' if skip else 'noskip'}"
                surf.save(ctx.out_dir / "surfaces" / f"{slug}.pt")
            tag = {"label": label, "depth": depth, "skip": skip}
            surf_frames.append(surf.to_frame().assign(**tag))
            curv_frames.append(cmap.to_frame().assign(**tag))
            net_rows.append(
                {
                    **tag,
                    "params": count_params(net),
                    "test_acc": tr.final.get("test_acc"),
                    "train_loss": tr.final.get("train_loss"),
                    "center_loss": surf.center_loss,
                    "nonconvexity": landscape.nonconvexity(surf),
                    "mean_ratio": float(cmap.ratio.mean()),
                    "lambda_max_center": float(cmap.lambda_max.flatten()[len(cgrid.points()) // 2]),
                    "ratio_center": float(cmap.ratio.flatten()[len(cgrid.points()) // 2]),
                    "surface_points_per_s": surf.points_per_s,
                }
            )
        nets = pd.DataFrame(net_rows)
        surfaces = pd.DataFrame(pd.concat(surf_frames, ignore_index=True))
        curvature = pd.DataFrame(pd.concat(curv_frames, ignore_index=True))
        claims = self._claims(nets, depths)
        figures = {}
        if ctx.out_dir is not None:
            from depthlab.plots.landscape import plot_landscape_skip

            figures = plot_landscape_skip(nets, surfaces, curvature, ctx.out_dir)
        deep = nets[nets.depth == depths[-1]].set_index("skip")
        metrics = {
            "nonconvexity_deepest_skip": float(deep.loc[True, "nonconvexity"]),
            "nonconvexity_deepest_noskip": float(deep.loc[False, "nonconvexity"]),
            "test_acc_deepest_skip": float(deep.loc[True, "test_acc"]),
            "test_acc_deepest_noskip": float(deep.loc[False, "test_acc"]),
        }
        return Result(
            self.name,
            config.model_dump(),
            claims,
            {"nets": nets, "surfaces": surfaces, "curvature": curvature},
            figures,
            metrics,
        )

    @staticmethod
    def _claims(nets: pd.DataFrame, depths: list[int]) -> list[Claim]:
        lo, hi = depths[0], depths[-1]
        by = nets.set_index(["depth", "skip"])
        nc = by["nonconvexity"]
        ratio = by["mean_ratio"]
        acc = by["test_acc"]
        d_nc = float(nc[(hi, False)] - nc[(hi, True)])
        ratio_up = bool(ratio[(hi, False)] > ratio[(hi, True)])
        both = (d_nc >= 0.10) + ratio_up
        skip_scores = [float(nc[(d, True)]) for d in depths]
        spread = max(skip_scores) - min(skip_scores)
        drop = float(acc[(lo, False)] - acc[(hi, False)])
        claim_acc: bool | None = True if drop >= 0.02 else (False if drop <= 0 else None)
        gap = {d: float(acc[(d, True)] - acc[(d, False)]) for d in depths}
        return [
            Claim(
                id="li-2018.noskip-deep-less-convex",
                statement="Without skip connections the deepest net's loss surface is markedly less convex than with them.",
                source=SOURCE,
                predicted="no-skip score ≥ skip score + 0.10 and larger mean |λmin/λmax|",
                measured=(
                    f"depth {hi}: non-convexity {nc[(hi, False)]:.2f} (no skip) vs {nc[(hi, True)]:.2f} (skip); "
                    f"mean |λmin/λmax| {ratio[(hi, False)]:.3f} vs {ratio[(hi, True)]:.3f}"
                ),
                tolerance="holds if both hold (score difference ≥ 0.10, larger ratio); fails if neither; else inconclusive",
                verdict=verdict_from({2: True, 0: False}.get(both)),
                note="non-convexity by depth (skip / no skip): "
                + ", ".join(f"{d}: {nc[(d, True)]:.2f}/{nc[(d, False)]:.2f}" for d in depths),
            ),
            Claim(
                id="li-2018.skip-alike-across-depth",
                statement="With skip connections the loss surfaces stay alike (convex-looking) as depth grows.",
                source=SOURCE,
                predicted="spread of the skip nets' non-convexity score ≤ 0.10",
                measured=f"skip scores {', '.join(f'{s:.2f}' for s in skip_scores)} (spread {spread:.2f})",
                tolerance="holds if max - min over depths ≤ 0.10",
                verdict=verdict_from(spread <= 0.10),
            ),
            Claim(
                id="li-2018.noskip-accuracy-drops",
                statement="Without skip connections test accuracy drops as depth grows.",
                source=SOURCE,
                predicted="CIFAR-10 test error without skips 8.18% (20) -> 13.31% (56) -> 16.44% (110)",
                measured=f"no-skip test accuracy {acc[(lo, False)]:.3f} (depth {lo}) -> {acc[(hi, False)]:.3f} (depth {hi})",
                tolerance="holds if it falls by ≥ 0.02; fails if it does not fall; else inconclusive",
                verdict=verdict_from(claim_acc),
                note="skip minus no-skip accuracy by depth: "
                + ", ".join(f"{d}: {g:+.3f}" for d, g in gap.items()),
            ),
        ]
