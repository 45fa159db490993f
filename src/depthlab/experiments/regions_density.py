"""Linear regions at initialization against the number of neurons (Hanin & Rolnick 2019a; slide 25).

- ``regions-density``: regions met per unit length along a line grow linearly in N, at a rate
  roughly independent of depth (their Thm 1).
- ``regions-distance``: the mean distance from a point to the nearest region boundary scales as
  1 / N (their Thm 3).

Lines and points come from MNIST-1D training and test inputs (or Gaussian stand-ins); the shared
net and data helpers are in :mod:`depthlab.experiments._regions_common`.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from pydantic import Field

from depthlab import regions
from depthlab.context import RunContext
from depthlab.core import Claim, Result, verdict_from
from depthlab.experiments._regions_common import (
    SweepConfig,
    fit_loglog,
    he_net,
    load_inputs,
)
from depthlab.experiments.base import register

SOURCE_1 = "Hanin & Rolnick 2019a (ICML), Thm 1; lecture slide 25"
SOURCE_3 = "Hanin & Rolnick 2019a (ICML), Thm 3; lecture slide 25"


class DensityConfig(SweepConfig):
    n_segments: int = Field(50, ge=1, description="lines between random pairs of training inputs")

    _quick_overrides = {
        "depths": [1, 2, 4],
        "total_units": [24, 48, 96],
        "seeds": 1,
        "n_segments": 16,
    }


@register
class RegionsDensity:
    """Regions per unit length along lines between data points, against N, for several depths."""

    name = "regions-density"
    title = "Regions along a line grow linearly in the number of neurons, not with depth"
    section = "regions"
    order = 10
    Config = DensityConfig

    def run(self, config: DensityConfig, ctx: RunContext) -> Result:
        x, *_ = load_inputs(config.data, ctx.seed)
        a, b = regions.segments_through(x, config.n_segments, ctx.generator(1))
        rows, breaks, curve = [], [], []
        jobs = [
            (d, n, s)
            for d in config.depths
            for n in config.total_units
            for s in range(config.seeds)
        ]
        for depth, n_tot, s in ctx.progress.track(jobs, "depth x N x seed"):
            width = max(1, round(n_tot / depth))
            g = ctx.generator(10_000 * depth + 10 * n_tot + s)
            net = he_net(x.shape[1], width, depth, 10, g, config.bias_std).to(ctx.device)
            res = regions.count_1d(net, a.to(ctx.device), b.to(ctx.device), batch=True)
            for i in range(config.n_segments):
                rows.append(
                    {
                        "depth": depth,
                        "width": width,
                        "N": width * depth,
                        "seed": s,
                        "segment": i,
                        "n_regions": int(res.n_regions[i]),
                        "length": float(res.lengths[i]),
                        "density": float(res.density[i]),
                    }
                )
            if s == 0 and n_tot == config.total_units[-1]:
                label = f"depth {depth}, N={width * depth}"
                for t in res.trace.breakpoints(0).cpu().tolist():
                    breaks.append({"series": label, "t": t})
                first = res.trace.segment == 0  # the exact output (logit 0) along segment 0
                y0 = res.trace.outputs["output"][first, 0].cpu().tolist()
                for t, y in zip(res.trace.t[first].cpu().tolist(), y0, strict=True):
                    curve.append({"series": label, "t": t, "y": y})
        df = pd.DataFrame(rows)
        summary = (
            df.groupby(["depth", "N"])
            .agg(
                density=("density", "mean"),
                density_sd=("density", "std"),
                n_regions=("n_regions", "mean"),
            )
            .reset_index()
        )
        summary["density_per_N"] = summary["density"] / summary["N"]
        fits = []
        for depth, g in summary.groupby("depth"):
            fits.append(
                {
                    "depth": depth,
                    "loglog_slope": fit_loglog(g["N"], g["density"]),
                    "density_per_N": float(g["density_per_N"].mean()),
                    # least squares through the origin: density = c N
                    "linear_slope": float((g["N"] * g["density"]).sum() / (g["N"] ** 2).sum()),
                }
            )
        fit = pd.DataFrame(fits)
        slopes = fit["loglog_slope"].to_numpy()
        c = fit["linear_slope"].to_numpy()
        spread = float(c.max() / c.min()) if len(c) and c.min() > 0 else float("nan")
        claims = [
            Claim(
                id="hanin-rolnick-2019a.thm1.density-linear-in-N",
                statement="Regions met per unit length along a line grow linearly in the total number of neurons N.",
                source=SOURCE_1,
                predicted=1.0,
                measured=", ".join(
                    f"depth {d}: {s:.2f}" for d, s in zip(fit["depth"], slopes, strict=True)
                ),
                tolerance="the log-log slope of mean density against N lies in [0.75, 1.25] for every depth",
                verdict=verdict_from(
                    bool(np.all(np.abs(slopes - 1) <= 0.25)) if np.isfinite(slopes).all() else None
                ),
            ),
            Claim(
                id="hanin-rolnick-2019a.thm1.density-depth-independent",
                statement="At equal N the density per neuron is roughly the same whatever the depth.",
                source=SOURCE_1,
                predicted="density / N independent of depth",
                measured=", ".join(
                    f"depth {d}: {v:.3f}" for d, v in zip(fit["depth"], c, strict=True)
                )
                + f" (max/min {spread:.2f})",
                tolerance="max/min over depths of the fitted slope of density = c N is at most 2",
                verdict=verdict_from(None if not math.isfinite(spread) else spread <= 2.0),
                note="THEORY.md records 0.22-0.28 N at depth 3-8 with bias std 0.1 on random lines.",
            ),
        ]
        from depthlab.plots.regions import plot_breakpoints_1d, plot_vs_units

        figures = plot_vs_units(
            summary,
            "density",
            "regions per unit length",
            ctx.out_dir,
            "density_vs_N",
            1.0,
            "regions along lines between data points",
        )
        bdf = pd.DataFrame(breaks, columns=["series", "t"])
        if len(bdf):
            figures |= plot_breakpoints_1d(
                pd.DataFrame(curve, columns=["series", "t", "y"]),
                bdf,
                ctx.out_dir,
                "breakpoints_1d",
                "output logit 0 (exact, piecewise linear) and breakpoints along one data line",
            )
        return Result(
            self.name,
            config.model_dump(),
            claims,
            {"segments": df, "summary": summary, "fits": fit, "breakpoints": bdf},
            figures,
            {
                "density_spread_over_depths": spread,
                **{
                    f"slope_depth_{int(d)}": float(s)
                    for d, s in zip(fit["depth"], slopes, strict=True)
                },
            },
        )


class DistanceConfig(SweepConfig):
    depths: list[int] = Field(default=[1, 2, 4, 8], description="hidden layers")
    n_points: int = Field(200, ge=1, description="test inputs whose distance is measured")

    _quick_overrides = {"depths": [1, 3], "total_units": [24, 48, 96], "seeds": 1, "n_points": 40}


@register
class RegionsDistance:
    """Mean exact distance from data points to the nearest region boundary, against N."""

    name = "regions-distance"
    title = "The distance to the nearest region boundary shrinks like 1/N"
    section = "regions"
    order = 20
    Config = DistanceConfig

    def run(self, config: DistanceConfig, ctx: RunContext) -> Result:
        _, _, xt, _ = load_inputs(config.data, ctx.seed)
        pts = xt[: config.n_points].to(ctx.device)
        rows = []
        jobs = [
            (d, n, s)
            for d in config.depths
            for n in config.total_units
            for s in range(config.seeds)
        ]
        for depth, n_tot, s in ctx.progress.track(jobs, "depth x N x seed"):
            width = max(1, round(n_tot / depth))
            g = ctx.generator(10_000 * depth + 10 * n_tot + s)
            net = he_net(xt.shape[1], width, depth, 10, g, config.bias_std).to(ctx.device)
            d = regions.distance_to_boundary(net, pts).distance.cpu()
            rows.append(
                {
                    "depth": depth,
                    "width": width,
                    "N": width * depth,
                    "seed": s,
                    "mean_distance": float(d.mean()),
                    "median_distance": float(d.median()),
                }
            )
        df = pd.DataFrame(rows)
        summary = (
            df.groupby(["depth", "N"]).agg(mean_distance=("mean_distance", "mean")).reset_index()
        )
        fit = pd.DataFrame(
            [
                {"depth": depth, "exponent": fit_loglog(g["N"], g["mean_distance"])}
                for depth, g in summary.groupby("depth")
            ]
        )
        ex = fit["exponent"].to_numpy()
        ok = bool(np.all(np.abs(ex + 1) <= 0.3)) if np.isfinite(ex).all() else None
        claims = [
            Claim(
                id="hanin-rolnick-2019a.thm3.distance-one-over-N",
                statement="The mean distance from an input to the nearest region boundary scales like 1/N, whatever the depth.",
                source=SOURCE_3,
                predicted=-1.0,
                measured=", ".join(
                    f"depth {d}: {e:.2f}" for d, e in zip(fit["depth"], ex, strict=True)
                ),
                tolerance="the log-log slope of mean distance against N lies in [-1.3, -0.7] for every depth",
                verdict=verdict_from(ok),
            )
        ]
        from depthlab.plots.regions import plot_vs_units

        figures = plot_vs_units(
            summary,
            "mean_distance",
            "mean distance to nearest boundary",
            ctx.out_dir,
            "distance_vs_N",
            -1.0,
            "exact distance from test inputs to their region's boundary",
        )
        return Result(
            self.name,
            config.model_dump(),
            claims,
            {"distances": df, "summary": summary, "fits": fit},
            figures,
            {f"exponent_depth_{int(d)}": float(e) for d, e in zip(fit["depth"], ex, strict=True)},
        )


__all__ = ["DensityConfig", "DistanceConfig", "RegionsDensity", "RegionsDistance"]
