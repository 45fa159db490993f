"""Exact 2-D region maps, shallow versus deep (Hanin & Rolnick 2019b; Montúfar et al. 2014; slide 25).

``regions-2d``: exact 2-D region maps on a plane through three MNIST-1D training inputs, shallow
versus deep at equal N, at init and after training; regions per unit area against N (slope near
n_0 = 2 on log-log axes); and Montúfar et al.'s deep construction on n_0 = 2 inputs, counted
exactly, beside the most one hidden layer of the same neurons can have and beside random nets of
the same architecture on the same window.

Design (issues 13 and 14, fixed before the first run at this design)
--------------------------------------------------------------------
Default (CPU, under a minute on one core):

- ``hanin-rolnick-2019b.regions-per-area-n-squared`` (empirical): depths 1, 2, 4; N = 24, 48, 96,
  192; 5 seeds (each (depth, N, seed) its own He-normal net, keyed ``("per-area", depth, N,
  seed)``) on one plane through three training inputs. Per (depth, seed) the log-log slope of
  regions per unit area on N; decided at the least favourable depth with a t interval over seeds;
  region [1.5, 2.5] around the predicted n_0 = 2 (the earlier design's tolerance).
- ``montufar-2014.construction-count-exact`` (construction): the folding net
  (:func:`depthlab.nets.constructions.montufar`, p = 3 folds per coordinate so 6 units per folding
  layer, a last layer of 6 units) with 0, 1, 2, 3, 4 folding layers (1 to 5 hidden layers,
  N = 6 to 30), counted exactly with ``count_2d`` on ``[0, 1]^2``, equals
  ``p^(2 folds) (1 + 6 + C(6, 2))`` (:func:`depthlab.theory.regions.montufar_construction_count`).
- ``montufar-2014.deep-exceeds-shallow-max`` (construction): the ratio of those exact counts to
  ``1 + N + C(N, 2)``, the most any one-hidden-layer net with the same N neurons has in the whole
  plane, grows at every added layer (each layer multiplies the count by p^2 = 9, the shallow
  maximum grows like N^2) and exceeds 1 at the deepest.
- ``hanin-rolnick-2019b.deep-far-below-max`` (empirical): 10 random He-normal nets (bias std 0.1)
  of the deepest construction's architecture (6 x 5 hidden units), counted exactly on the *same*
  window ``[0, 1]^2`` where the construction attains its count. Statistic: log10 of the random
  count over the construction's count, one per net, t interval over nets; region ``<= -1`` (at
  least ten times fewer regions than the depth allows in that window; fixed before the run).
  The claim fails if random nets reach a tenth of the construction's count. For scale the table
  also records each random net's count on ``[-10, 10]^2`` (nearly the whole plane).

Measured at the default scale (design commit fefe321; ``OMP_NUM_THREADS=1 depthlab run regions-2d``,
2 shared CPU cores at load ~13, seed 0; run 24.5 s)
---------------------------------------------------------------------------------------------
- ``regions-per-area-n-squared``: holds; least favourable depth 4: 2.17, 95% [1.96, 2.37], n = 5
  (depths 1, 2, 4: 1.98, 1.99, 2.17).
- ``construction-count-exact``: holds; 22, 198, 1782, 16038, 144342 regions at 1-5 hidden layers.
- ``deep-exceeds-shallow-max``: holds; against 22, 79, 172, 301, 466 for one layer of the same N;
  ratio 309.7 at 5 layers (N = 30).
- ``deep-far-below-max``: holds; log10(random / construction) = -3.36, 95% [-3.58, -3.13], n = 10
  nets (76 regions on [0, 1]^2 on average, 333 on [-10, 10]^2, against 144342).

``--scale paper`` (one GPU): per-area N = 48..384 at 10 seeds; the construction to 5 folding layers
(1,299,078 regions); 30 random nets.
"""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
import pandas as pd
import torch
from pydantic import Field, model_validator

from depthlab import regions
from depthlab.config import ExperimentConfig
from depthlab.context import RunContext
from depthlab.core import Result
from depthlab.experiments._regions_2d_claims import plot_montufar, regions_2d_claims
from depthlab.experiments._regions_common import (
    BIAS_STD,
    MAX_LIST,
    Depth,
    Units,
    he_net,
    load_inputs,
    train_adam,
)
from depthlab.experiments.base import register
from depthlab.init import initialize
from depthlab.nets import mlp
from depthlab.nets.constructions import montufar
from depthlab.theory import regions as bounds

UNIT_SQUARE = (0.0, 1.0, 0.0, 1.0)
WIDE_WINDOW = (-10.0, 10.0, -10.0, 10.0)


class Regions2DConfig(ExperimentConfig):
    total_units: int = Field(96, ge=2, le=4096, description="N for the shallow-vs-deep maps")
    deep_depth: int = Field(3, ge=2, le=64, description="hidden layers of the deep net")
    epochs: int = Field(
        20, ge=0, le=1000, description="Adam epochs on MNIST-1D for the trained maps (0: none)"
    )
    lr: float = Field(1e-3, gt=0, le=1.0)
    sweep_units: list[Units] = Field(
        default=[24, 48, 96, 192],
        min_length=2,
        max_length=MAX_LIST,
        description="N for regions per area (at least two, for a slope)",
    )
    sweep_depths: list[Depth] = Field(
        default=[1, 2, 4], min_length=1, max_length=MAX_LIST, description="depths for per area"
    )
    sweep_seeds: int = Field(5, ge=1, le=1000, description="nets per (depth, N) for per area")
    bias_std: float = BIAS_STD
    grid: int = Field(160, ge=10, le=2000, description="grid side for the decision boundary")
    max_regions: int = Field(2_000_000, ge=1, le=100_000_000)
    data: Literal["mnist1d", "gaussian"] = "mnist1d"
    montufar_p: int = Field(
        3, ge=2, le=16, description="folds per coordinate per layer (2 p units per folding layer)"
    )
    montufar_last: int = Field(6, ge=2, le=64, description="units of the construction's last layer")
    montufar_folds: list[Annotated[int, Field(ge=0, le=12)]] = Field(
        default=[0, 1, 2, 3, 4],
        min_length=2,
        max_length=MAX_LIST,
        description="folding layers of the constructions counted (0: one hidden layer)",
    )
    random_seeds: int = Field(
        10, ge=2, le=1000, description="random nets beside the deepest construction"
    )

    @model_validator(mode="after")
    def _montufar_fits(self) -> Regions2DConfig:
        folds = self.montufar_folds
        if sorted(set(folds)) != list(folds):
            raise ValueError(f"montufar_folds must be strictly increasing, got {folds}")
        top = bounds.montufar_construction_count(self.montufar_p, max(folds), self.montufar_last)
        if top > self.max_regions:
            raise ValueError(
                f"montufar_folds: the construction with {max(folds)} folds has {top} regions, "
                f"more than max_regions={self.max_regions}"
            )
        return self

    _quick_overrides = {
        "total_units": 36,
        "epochs": 1,
        "sweep_units": [12, 24, 48],
        "sweep_depths": [1, 2],
        "sweep_seeds": 2,
        "grid": 40,
        "montufar_folds": [0, 1, 2, 3],
        "random_seeds": 4,
    }
    _tiny_overrides = {
        "total_units": 12,
        "sweep_units": [6, 12],
        "sweep_depths": [1],
        "grid": 12,
        "montufar_p": 2,
        "montufar_last": 4,
        "montufar_folds": [0, 1, 2],
        "random_seeds": 3,
        "data": "gaussian",
    }
    _paper_overrides = {
        "total_units": 192,
        "sweep_units": [48, 96, 192, 384],
        "sweep_seeds": 10,
        "montufar_folds": [0, 1, 2, 3, 4, 5],
        "random_seeds": 30,
    }


@register
class Regions2D:
    """Exact 2-D region maps, shallow vs deep, at init and trained; regions per area vs N."""

    name = "regions-2d"
    title = "Deep nets at initialization have far fewer regions than their depth allows"
    section = "regions"
    order = 30
    Config = Regions2DConfig

    def run(self, config: Regions2DConfig, ctx: RunContext) -> Result:
        x, y, xt, yt = load_inputs(config.data, ctx.seed)
        idx = torch.randperm(x.shape[0], generator=ctx.generator("plane"))[:3]
        plane_pts = x[idx].to(ctx.device)
        n0 = x.shape[1]
        n = config.total_units
        dw = max(1, round(n / config.deep_depth))
        nets = {
            "shallow": (he_net(n0, n, 1, 10, ctx.generator("map-net", "shallow"), config.bias_std), [n]),
            "deep": (
                he_net(n0, dw, config.deep_depth, 10, ctx.generator("map-net", "deep"), config.bias_std),
                [dw] * config.deep_depth,
            ),
        }  # fmt: skip
        data = tuple(t.to(ctx.device) for t in (x, y, xt, yt))
        counts, polys, grids = [], [], []
        plane = None
        for arch, (net, hidden) in nets.items():
            net = net.to(ctx.device)
            for stage in ("init", "trained"):
                if stage == "trained":
                    if config.epochs == 0:
                        continue
                    g = ctx.generator("train", arch)
                    acc = train_adam(net, data, config.epochs, config.lr, 128, g)
                else:
                    acc = None
                r = regions.count_2d(net, plane_pts, max_regions=config.max_regions)
                plane = r.plane
                m = f"{arch} {'-'.join(map(str, hidden))} {stage}"
                counts.append(
                    {
                        "map": m,
                        "arch": arch,
                        "stage": stage,
                        "N": sum(hidden),
                        "depth": len(hidden),
                        "n_regions": r.n_regions,
                        "window_area": r.window_area,
                        "montufar_lower_n0_2": bounds.montufar_lower(2, hidden),
                        "serra_upper_n0_2": bounds.serra_upper(2, hidden),
                        "shallow_max_same_N": bounds.shallow_max(2, sum(hidden)),
                        "test_acc": acc,
                    }
                )
                polys.append(_polygon_table(r, m))
                grids.append(self._grid(net, r, config.grid, m))
        count_df = pd.DataFrame(counts)
        assert plane is not None
        pts_uv = plane.coords(plane_pts).cpu().numpy()
        points = pd.DataFrame({"u": pts_uv[:, 0], "v": pts_uv[:, 1]})

        # regions per unit area against N at init, one net per (depth, N, seed)
        sweep = []
        jobs = [
            (d, nn_, s)
            for d in config.sweep_depths
            for nn_ in config.sweep_units
            for s in range(config.sweep_seeds)
        ]
        for depth, n_tot, s in ctx.progress.track(jobs, "regions per area"):
            w = max(1, round(n_tot / depth))
            g = ctx.generator("per-area", depth, n_tot, s)
            net = he_net(n0, w, depth, 10, g, config.bias_std)
            r = regions.count_2d(
                net.to(ctx.device), plane_pts, max_regions=config.max_regions, patterns=False
            )
            sweep.append(
                {
                    "depth": depth,
                    "N": w * depth,
                    "seed": s,
                    "n_regions": r.n_regions,
                    "per_area": r.n_regions / r.window_area,
                }
            )
        sweep_df = pd.DataFrame(sweep)
        mont_df, mont_poly = self._montufar(config, ctx)
        rand_df = self._random_nets(config, ctx)
        claims, fit_df = regions_2d_claims(sweep_df, mont_df, rand_df, config)
        return Result(
            self.name,
            config.model_dump(),
            claims,
            {
                "counts": count_df,
                "polygons": pd.concat(polys, ignore_index=True),
                "grid": pd.concat(grids, ignore_index=True),
                "points": points,
                "per_area": sweep_df,
                "fits": fit_df,
                "montufar": mont_df,
                "montufar_polygons": mont_poly,
                "random_nets": rand_df,
            },
            {},
            {
                "deep_random_log10_fraction_of_construction": float(claims[3].estimate),
                "construction_over_shallow_max_deepest": float(mont_df["gap"].iloc[-1]),
            },
        )

    @staticmethod
    def _montufar(config: Regions2DConfig, ctx: RunContext) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Exact counts of the construction on [0, 1]^2 for each number of folding layers."""
        p, last = config.montufar_p, config.montufar_last
        rows, poly = [], None
        show = min(config.montufar_folds, key=lambda f: abs(f - 2))  # the map the figure draws
        for f in ctx.progress.track(config.montufar_folds, "Montufar construction"):
            net = montufar(p, f, last).to(ctx.device)
            keep = f == show
            r = regions.count_2d(
                net, window=UNIT_SQUARE, max_regions=config.max_regions, patterns=keep
            )
            units = bounds.montufar_construction_units(p, f, last)
            shallow = bounds.shallow_max(2, units)
            rows.append(
                {
                    "folds": f,
                    "hidden_layers": f + 1,
                    "N": units,
                    "n_regions": r.n_regions,
                    "formula": bounds.montufar_construction_count(p, f, last),
                    "shallow_max_same_N": shallow,
                    "gap": r.n_regions / shallow,
                }
            )
            if keep:
                poly = _polygon_table(r, f"Montufar p={p}, {f} folding layers + {last}")
        assert poly is not None
        return pd.DataFrame(rows), poly

    @staticmethod
    def _random_nets(config: Regions2DConfig, ctx: RunContext) -> pd.DataFrame:
        """Random He-normal nets of the deepest construction's architecture, same window."""
        p, last, f = config.montufar_p, config.montufar_last, max(config.montufar_folds)
        hidden = [2 * p] * f + [last]
        rows = []
        for s in ctx.progress.track(range(config.random_seeds), "random nets"):
            g = ctx.generator("montufar-random", s)
            net = initialize(mlp([2, *hidden, 1]), "he_normal", g, sigma_b2=config.bias_std**2).to(
                ctx.device
            )
            inside = regions.count_2d(
                net, window=UNIT_SQUARE, max_regions=config.max_regions, patterns=False
            )
            wide = regions.count_2d(
                net, window=WIDE_WINDOW, max_regions=config.max_regions, patterns=False
            )
            rows.append(
                {
                    "seed": s,
                    "hidden": "-".join(map(str, hidden)),
                    "N": sum(hidden),
                    "n_regions": inside.n_regions,
                    "n_regions_wide": wide.n_regions,
                    "construction": bounds.montufar_construction_count(p, f, last),
                }
            )
        return pd.DataFrame(rows)

    def figures(self, result: Result, fig_dir) -> dict[str, str]:
        from depthlab.plots.regions import plot_region_maps, plot_vs_units

        run_dir = fig_dir.parent
        t = result.tables
        figures = plot_region_maps(t["polygons"], t["counts"], run_dir, t["grid"], t["points"])
        if t["per_area"]["N"].nunique() >= 2:
            figures |= plot_vs_units(
                t["per_area"],
                "per_area",
                "regions per unit area",
                run_dir,
                "per_area_vs_N",
                2.0,
                "exact 2-D regions on a plane through three inputs",
            )
        figures |= plot_montufar(t["montufar"], t["montufar_polygons"], t["random_nets"], run_dir)
        return figures

    @staticmethod
    def _grid(net, r, side: int, name: str) -> pd.DataFrame:
        """Predicted class on a grid over the window (for the decision boundary)."""
        w = r.window.cpu()
        us = torch.linspace(float(w[:, 0].min()), float(w[:, 0].max()), side, dtype=torch.float64)
        vs = torch.linspace(float(w[:, 1].min()), float(w[:, 1].max()), side, dtype=torch.float64)
        uu, vv = torch.meshgrid(us, vs, indexing="xy")
        uv = torch.stack([uu.flatten(), vv.flatten()], 1).to(r.plane.origin.device)
        p = next(net.parameters())
        with torch.no_grad():
            lab = net(r.plane.embed(uv).to(p.dtype)).argmax(1).cpu()
        return pd.DataFrame(
            {
                "map": name,
                "u": uv[:, 0].cpu().numpy(),
                "v": uv[:, 1].cpu().numpy(),
                "label": lab.numpy(),
            }
        )


def _polygon_table(r: regions.Regions2D, name: str) -> pd.DataFrame:
    """Tidy polygons: one row per (region, vertex k) with plane coordinates and pattern hash."""
    f = r.faces.cpu()
    valid = (f >= 0).numpy()
    reg, k = np.nonzero(valid)
    xy = r.vertices.cpu()[f.clamp(min=0)].numpy()[valid]
    ph = regions.pattern_hash(r.patterns).cpu().numpy()[reg]
    return pd.DataFrame(
        {"map": name, "region": reg, "k": k, "u": xy[:, 0], "v": xy[:, 1], "pattern_hash": ph}
    )


__all__ = ["Regions2D", "Regions2DConfig", "regions_2d_claims"]
