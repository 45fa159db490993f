"""Exact 2-D region maps, shallow versus deep (Hanin & Rolnick 2019b; lecture slide 25).

``regions-2d``: exact 2-D region maps on a plane through three MNIST-1D training inputs, shallow
versus deep at equal N, at init and after training; counts beside Montúfar's and Serra's bounds,
and regions per unit area against N (slope near n_0 = 2 on log-log axes).
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
    fit_loglog,
    he_net,
    load_inputs,
    train_adam,
)
from depthlab.experiments.base import register
from depthlab.theory import regions as bounds

SOURCE_2D = "Hanin & Rolnick 2019b (NeurIPS), Thm 1 and Fig. 1; lecture slide 25"


class Regions2DConfig(ExperimentConfig):
    total_units: int = Field(96, ge=2, description="N for the shallow-vs-deep maps")
    deep_depth: int = Field(3, ge=2, description="hidden layers of the deep net")
    epochs: int = Field(20, ge=0, description="Adam epochs on MNIST-1D for the trained maps")
    lr: float = Field(1e-3, gt=0)
    sweep_units: list[int] = Field(default=[24, 48, 96, 192], description="N for regions per area")
    sweep_depths: list[int] = Field(default=[1, 2, 4], description="depths for regions per area")
    bias_std: float = Field(0.1, ge=0)
    grid: int = Field(160, ge=10, description="grid side for the decision boundary")
    max_regions: int = Field(2_000_000, ge=1)
    data: Literal["mnist1d", "gaussian"] = "mnist1d"

    _quick_overrides = {
        "total_units": 36,
        "epochs": 1,
        "sweep_units": [12, 24, 48],
        "sweep_depths": [1, 2],
        "grid": 40,
    }
    _tiny_overrides = {"total_units": 12, "sweep_units": [6, 12], "sweep_depths": [1], "grid": 12}


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
        g = ctx.generator(2)
        idx = torch.randperm(x.shape[0], generator=g)[:3]
        plane_pts = x[idx].to(ctx.device)
        n0 = x.shape[1]
        n = config.total_units
        dw = max(1, round(n / config.deep_depth))
        nets = {
            "shallow": (he_net(n0, n, 1, 10, ctx.generator(3), config.bias_std), [n]),
            "deep": (
                he_net(n0, dw, config.deep_depth, 10, ctx.generator(4), config.bias_std),
                [dw] * config.deep_depth,
            ),
        }
        data = tuple(t.to(ctx.device) for t in (x, y, xt, yt))
        counts, polys, grids = [], [], []
        plane = None
        for arch, (net, hidden) in nets.items():
            net = net.to(ctx.device)
            for stage in ("init", "trained"):
                if stage == "trained":
                    if config.epochs == 0:
                        continue
                    acc = train_adam(net, data, config.epochs, config.lr, 128, ctx.generator(5))
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

        # regions per unit area against N at init
        sweep = []
        jobs = [(d, nn_) for d in config.sweep_depths for nn_ in config.sweep_units]
        for depth, n_tot in ctx.progress.track(jobs, "regions per area"):
            w = max(1, round(n_tot / depth))
            net = he_net(n0, w, depth, 10, ctx.generator(100 * depth + n_tot), config.bias_std)
            r = regions.count_2d(
                net.to(ctx.device), plane_pts, max_regions=config.max_regions, patterns=False
            )
            sweep.append(
                {
                    "depth": depth,
                    "N": w * depth,
                    "n_regions": r.n_regions,
                    "per_area": r.n_regions / r.window_area,
                }
            )
        sweep_df = pd.DataFrame(sweep)
        fit_df = pd.DataFrame(
            [
                {"depth": d, "loglog_slope": fit_loglog(g["N"], g["per_area"])}
                for d, g in sweep_df.groupby("depth")
            ]
        )

        deep_init = count_df[(count_df["arch"] == "deep") & (count_df["stage"] == "init")].iloc[0]
        frac = deep_init["n_regions"] / deep_init["montufar_lower_n0_2"]
        slopes = fit_df["loglog_slope"].to_numpy()
        claims = [
            Claim(
                id="hanin-rolnick-2019b.deep-far-below-max",
                statement="At initialization a deep net has far fewer regions than the maximum its depth allows.",
                source=SOURCE_2D + "; Montúfar et al. 2014",
                predicted="count << Montúfar's achievable maximum",
                measured=f"{int(deep_init['n_regions'])} regions in the window vs Montúfar lower bound "
                f"{int(deep_init['montufar_lower_n0_2'])} (fraction {frac:.2e})",
                tolerance="fraction below 1e-2",
                verdict=verdict_from(bool(frac < 1e-2)),
                note="the count is within the window around three training inputs; the bounds are for the whole plane.",
            ),
            Claim(
                id="hanin-rolnick-2019b.regions-per-area-N-squared",
                statement="In n_0 = 2 dimensions the number of regions per unit area grows like N^2 whatever the depth.",
                source=SOURCE_2D,
                predicted=2.0,
                measured=", ".join(
                    f"depth {d}: {s:.2f}" for d, s in zip(fit_df["depth"], slopes, strict=True)
                ),
                tolerance="the log-log slope of regions per area against N lies in [1.5, 2.5] for every depth",
                verdict=verdict_from(
                    bool(np.all(np.abs(slopes - 2) <= 0.5)) if np.isfinite(slopes).all() else None
                ),
            ),
        ]
        from depthlab.plots.regions import plot_region_maps, plot_vs_units

        poly_df = pd.concat(polys, ignore_index=True)
        grid_df = pd.concat(grids, ignore_index=True)
        figures = plot_region_maps(poly_df, count_df, ctx.out_dir, grid_df, points)
        figures |= plot_vs_units(
            sweep_df,
            "per_area",
            "regions per unit area",
            ctx.out_dir,
            "per_area_vs_N",
            2.0,
            "exact 2-D regions on a plane through three inputs",
        )
        return Result(
            self.name,
            config.model_dump(),
            claims,
            {
                "counts": count_df,
                "polygons": poly_df,
                "grid": grid_df,
                "points": points,
                "per_area": sweep_df,
                "fits": fit_df,
            },
            figures,
            {"deep_init_fraction_of_montufar": float(frac)},
        )

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


__all__ = ["Regions2D", "Regions2DConfig"]
