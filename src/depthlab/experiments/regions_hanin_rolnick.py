"""Linear regions of ReLU nets at initialization and during training (lecture slide 25).

Hanin & Rolnick (2019a, "Complexity of linear regions in deep networks"; 2019b, "Deep ReLU networks
have surprisingly few activation patterns") show that what matters at initialization is the total
number of neurons N, not the depth:

- ``regions-density``: regions met per unit length along a line grow linearly in N, at a rate
  roughly independent of depth (their Thm 1).
- ``regions-distance``: the mean distance from a point to the nearest region boundary scales as
  1 / N (their Thm 3).
- ``regions-2d``: exact 2-D region maps on a plane through three MNIST-1D training inputs, shallow
  versus deep at equal N, at init and after training; counts beside Montúfar's and Serra's bounds,
  and regions per unit area against N (slope near n_0 = 2 on log-log axes).
- ``regions-training``: the density along fixed lines through data during training.

All counts are exact (``depthlab.regions``, float64). Nets: He-normal weights, Gaussian biases with
std ``bias_std``; widths ``round(N / depth)`` so that depths compare at (nearly) equal N.

Time budgets on 2 shared CPU cores: each ``--quick`` about 10 s; each default under 2 min.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import pandas as pd
import torch
from pydantic import Field

from depthlab import regions
from depthlab.config import ExperimentConfig
from depthlab.context import RunContext
from depthlab.core import Claim, Result, verdict_from
from depthlab.experiments.base import register
from depthlab.init import initialize
from depthlab.nets import mlp
from depthlab.theory import regions as bounds

SOURCE_1 = "Hanin & Rolnick 2019a (ICML), Thm 1; lecture slide 25"
SOURCE_3 = "Hanin & Rolnick 2019a (ICML), Thm 3; lecture slide 25"
SOURCE_2D = "Hanin & Rolnick 2019b (NeurIPS), Thm 1 and Fig. 1; lecture slide 25"


def _inputs(kind: str, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x_train, y_train, x_test, y_test), 40-D: MNIST-1D or standard Gaussian stand-ins."""
    if kind == "mnist1d":
        from depthlab.data import mnist1d

        d = mnist1d(seed=42)
        return d.x_train, d.y_train, d.x_test, d.y_test
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(1200, 40, generator=g)
    y = (x[:, :10].argmax(1)).long()
    return x[:1000], y[:1000], x[1000:], y[1000:]


def he_net(n0: int, width: int, depth: int, out: int, g: torch.Generator, bias_std: float):
    """``n0 -> width x depth -> out`` ReLU MLP with He-normal weights and N(0, bias_std^2) biases."""
    return initialize(mlp([n0] + [width] * depth + [out]), "he_normal", g, sigma_b2=bias_std**2)


def train_adam(
    net, data, epochs: int, lr: float, batch: int, g: torch.Generator, opt=None
) -> float:
    """Minibatch Adam on cross-entropy (Hanin & Rolnick's setting); returns test accuracy."""
    x, y, xt, yt = data
    opt = opt if opt is not None else torch.optim.Adam(net.parameters(), lr=lr)
    for _ in range(epochs):
        net.train()
        perm = torch.randperm(x.shape[0], generator=g).to(x.device)
        for i in range(0, x.shape[0], batch):
            j = perm[i : i + batch]
            loss = torch.nn.functional.cross_entropy(net(x[j]), y[j])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        return float((net(xt).argmax(1) == yt).double().mean())


def _fit_loglog(x, y) -> float:
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = (x > 0) & (y > 0)
    if ok.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)[0])


class SweepConfig(ExperimentConfig):
    depths: list[int] = Field(default=[1, 2, 3, 4, 6, 8], description="hidden layers")
    total_units: list[int] = Field(default=[48, 96, 192, 384], description="total hidden units N")
    seeds: int = Field(2, ge=1, description="independent nets per (depth, N)")
    bias_std: float = Field(0.1, ge=0, description="std of the Gaussian biases")
    data: Literal["mnist1d", "gaussian"] = Field(
        "mnist1d", description="where lines/points come from"
    )


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
        x, *_ = _inputs(config.data, ctx.seed)
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
                    "loglog_slope": _fit_loglog(g["N"], g["density"]),
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
        _, _, xt, _ = _inputs(config.data, ctx.seed)
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
                {"depth": depth, "exponent": _fit_loglog(g["N"], g["mean_distance"])}
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


@register
class Regions2D:
    """Exact 2-D region maps, shallow vs deep, at init and trained; regions per area vs N."""

    name = "regions-2d"
    title = "Deep nets at initialization have far fewer regions than their depth allows"
    section = "regions"
    order = 30
    Config = Regions2DConfig

    def run(self, config: Regions2DConfig, ctx: RunContext) -> Result:
        x, y, xt, yt = _inputs(config.data, ctx.seed)
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
                {"depth": d, "loglog_slope": _fit_loglog(g["N"], g["per_area"])}
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


class TrainingConfig(ExperimentConfig):
    depth: int = Field(3, ge=1)
    width: int = Field(32, ge=1)
    epochs: int = Field(30, ge=1)
    every: int = Field(3, ge=1, description="epochs between measurements")
    n_segments: int = Field(40, ge=1)
    lr: float = Field(1e-3, gt=0)
    batch_size: int = Field(128, ge=1)
    bias_std: float = Field(0.1, ge=0)
    data: Literal["mnist1d", "gaussian"] = "mnist1d"

    _quick_overrides = {"epochs": 4, "every": 1, "n_segments": 10}


@register
class RegionsTraining:
    """Regions per unit length along fixed lines through data, measured during Adam training."""

    name = "regions-training"
    title = "The density of regions along data lines during training"
    section = "regions"
    order = 40
    Config = TrainingConfig

    def run(self, config: TrainingConfig, ctx: RunContext) -> Result:
        x, y, xt, yt = (t.to(ctx.device) for t in _inputs(config.data, ctx.seed))
        net = he_net(x.shape[1], config.width, config.depth, 10, ctx.generator(1), config.bias_std)
        net = net.to(ctx.device)
        opt = torch.optim.Adam(net.parameters(), lr=config.lr)
        a, b = regions.segments_through(x, config.n_segments, ctx.generator(2))
        g = ctx.generator(3)
        rows = []

        def measure(epoch: int) -> None:
            res = regions.count_1d(net, a, b, batch=True)
            dens = res.density.cpu().numpy()
            with torch.no_grad():
                acc = float((net(xt).argmax(1) == yt).double().mean())
            rows.append(
                {
                    "epoch": epoch,
                    "density": float(dens.mean()),
                    "density_q25": float(np.quantile(dens, 0.25)),
                    "density_q75": float(np.quantile(dens, 0.75)),
                    "n_regions_mean": float(res.n_regions.double().mean()),
                    "test_acc": acc,
                }
            )

        measure(0)
        for epoch in ctx.progress.track(range(1, config.epochs + 1), "epochs"):
            train_adam(net, (x, y, xt, yt), 1, config.lr, config.batch_size, g, opt)
            if epoch % config.every == 0 or epoch == config.epochs:
                measure(epoch)
        df = pd.DataFrame(rows)
        ratio = float(df["density"].iloc[-1] / df["density"].iloc[0])
        claims = [
            Claim(
                id="hanin-rolnick-2019a.training-density-same-order",
                statement="During training the number of regions along lines through data stays of the same order as at initialization.",
                source="Hanin & Rolnick 2019a, Sec. 6 (Fig. 4); lecture slide 25",
                predicted="final / initial density between 0.5 and 2",
                measured=f"{df['density'].iloc[0]:.3g} -> {df['density'].iloc[-1]:.3g} per unit length (ratio {ratio:.2f}); "
                f"test accuracy {df['test_acc'].iloc[0]:.2f} -> {df['test_acc'].iloc[-1]:.2f}",
                tolerance="ratio of final to initial mean density in [0.5, 2]",
                verdict=verdict_from(0.5 <= ratio <= 2.0),
            )
        ]
        from depthlab.plots.regions import plot_training_density

        figures = plot_training_density(df, ctx.out_dir)
        return Result(
            self.name,
            config.model_dump(),
            claims,
            {"density": df},
            figures,
            {"density_ratio": ratio},
        )
