"""Universal approximation and its rate for shallow nets (lecture slide 15).

A one-hidden-layer ReLU net on the line is a linear spline with one knot per unit. Its error on a
smooth target falls as the width grows (Cybenko 1989, Hornik 1991), and for a C^2 target the best
linear spline with ``w`` well-spread knots has RMSE ``~ w^-2`` (de Boor 1978). The depth side of the
slide (the sawtooth, which k layers of 2 ReLUs compute exactly while a shallow net needs about
``2^k`` units) is owned by ``sawtooth-depth-separation``.

Design (fixed before the first run at it; see the claims' notes)
---------------------------------------------------------------
- **Two smooth targets**, so the rate is not about one function: the sinusoid
  ``sin(2πx) + 0.5 sin(6πx) + 0.25 sin(14πx)`` on [0, 1] (periodic, several scales) and Runge's
  function ``1 / (1 + 25 x^2)`` on [-1, 1] (analytic, one sharp peak, not periodic).
- **The fit** (``depthlab.approx.fit_shallow_1d``): knots stratified at random (one uniform in
  each of ``width`` equal cells, every gap below ``2 / width``) and the readout solved by least
  squares in float64, the L2-best output layer for those knots. With uniform random knots the
  error of a fit is set by its few widest gaps (the fifth moment of an exponential gap has a
  coefficient of variation of about ``16 / sqrt(width)``), so per-seed slopes would be too noisy
  to decide the rate; stratified knots keep the ``w^-2`` rate and remove that luck.
  ``finetune_steps`` of Adam can follow (0 by default: the claim is about approximation, and
  fine-tuning only ever keeps a better fit).
- **The independent unit is the seed**: each seed draws its own training sample and its own knots
  at every width (stream ``("ua-fit", target, width, seed)``, data ``("ua-data", target,
  seed)``); the test set is a dense grid of ``4 n_train`` points.
- **Widths** 1..512 (doubling); the rate is fitted on widths ``>= rate_min_width = 64`` only,
  where the knot spacing is below 1/8 of the sinusoid's shortest period (1/7) and below 1/6 of
  the Runge peak's width (0.2 on [-1, 1]), i.e. where the asymptotic ``h^2`` term dominates.
  ``n_train = 8192`` keeps at least 16 training points per knot at width 512, so the readout is
  never underdetermined.
- **5 seeds** (a seed of both targets costs about 2 s on one core).

Claims
------
1. ``lecture-s15.shallow-error-falls``: per seed, the log-log slope of RMSE on width over every
   width, the slower of the two targets; region ``<= -0.5`` (Barron 1993: RMSE ``<= C w^-1/2``
   for targets of finite Barron norm, which both are).
2. ``de-boor-1978.shallow-rate`` (sinusoid) and ``de-boor-1978.shallow-rate-runge``: per-seed
   log-log slope over widths >= 64, t interval over seeds; region ``[-2.25, -1.75]``, which
   excludes the ``w^-1.5`` of a rougher target (issue 13). Fewer than 3 qualifying widths make the
   claim inconclusive with a note saying so.

Measured at default scale (design commit ab3ff07; ``depthlab run universal-approximation``, seed 0)
------------------------------------------------------------------------------------------
- shallow-error-falls: slope -1.410, 95% [-1.433, -1.387], n = 5 seeds: holds (region <= -0.5);
- shallow-rate (sinusoid): -2.015, 95% [-2.108, -1.922]: holds (region [-2.25, -1.75]);
- shallow-rate-runge: -2.081, 95% [-2.117, -2.044]: holds.
RMSE at width 512: sinusoid 1.2e-4, Runge 1.5e-5.

Time budget: 34 s wall (8 s of CPU) on one core of a loaded 2-core machine; ``--quick`` a few
seconds.
"""

from __future__ import annotations

import math
from typing import Annotated

import numpy as np
import pandas as pd
import torch
from pydantic import Field, model_validator

from depthlab import evidence
from depthlab.approx import fit_shallow_1d
from depthlab.config import ExperimentConfig
from depthlab.context import RunContext, derive_seed
from depthlab.core import Change, Claim, Region, Result
from depthlab.data.base import Dataset
from depthlab.data.synthetic import function_1d, sinusoid_target
from depthlab.experiments.base import register

TARGETS: dict[str, tuple[str, tuple[float, float]]] = {
    "sinusoid": ("sin(2πx) + 0.5 sin(6πx) + 0.25 sin(14πx) on [0, 1]", (0.0, 1.0)),
    "runge": ("1 / (1 + 25 x^2) on [-1, 1]", (-1.0, 1.0)),
}
RATE = -2.0
RATE_TOL = 0.25
FALLS_AT_MOST = -0.5
MIN_RATE_WIDTHS = 3
CHANGED = "2026-12-02"
RATE_HISTORY = (
    Change(
        CHANGED,
        "region",
        "log-log slope of the seeds' mean RMSE over widths >= 16 within ±0.5 of -2 (no interval)",
        "per-seed slope over widths >= rate_min_width, t interval, [-2.25, -1.75]",
        "issue 13: ±0.5 let width^-1.5 pass; the fit must sit where the rate is asymptotic and "
        "the interval must come from the seeds",
    ),
)
FALLS_HISTORY = (
    Change(
        CHANGED,
        "region",
        "widest RMSE < 1/10 of the narrowest and 3/4 of doublings lower it (seeds' mean)",
        f"per-seed log-log slope over all widths <= {FALLS_AT_MOST}, t interval",
        "issue 13: a verdict from an interval over the independent unit, with a region from "
        "theory (Barron 1993)",
    ),
)
Width = Annotated[int, Field(ge=1, le=4096)]


def runge_target(x: torch.Tensor) -> torch.Tensor:
    """Runge's function ``1 / (1 + 25 x^2)``: analytic on the real line, one sharp peak at 0."""
    return 1.0 / (1.0 + 25.0 * x**2)


def target_data(name: str, n_train: int, seed: int) -> Dataset:
    """Training sample (uniform, seeded) and dense test grid for one of :data:`TARGETS`."""
    fn = {"sinusoid": sinusoid_target, "runge": runge_target}[name]
    return function_1d(fn, name, n_train, 4 * n_train, TARGETS[name][1], seed=seed)


class UAConfig(ExperimentConfig):
    widths: list[Width] = Field(
        default=[1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
        min_length=2,
        max_length=32,
        description="hidden widths (log-spaced), each in 1..4096",
    )
    seeds: int = Field(5, ge=1, le=100, description="independent seeds (data sample and knots)")
    rate_min_width: int = Field(
        64, ge=1, le=4096, description="the rate is fitted on widths at or above this"
    )
    finetune_steps: int = Field(
        0, ge=0, le=100_000, description="Adam steps after the least-squares readout"
    )
    n_train: int = Field(8192, ge=16, le=1_048_576, description="training points per seed")

    _quick_overrides = {"widths": [1, 4, 16, 64, 128, 256], "seeds": 3, "n_train": 4096}
    _tiny_overrides = {"widths": [1, 4, 16, 32, 64], "n_train": 256, "rate_min_width": 16}
    _paper_overrides = {
        "widths": [2**i for i in range(13)],
        "seeds": 20,
        "n_train": 131_072,
    }

    @model_validator(mode="after")
    def _check(self) -> UAConfig:
        if len(set(self.widths)) != len(self.widths):
            raise ValueError(f"widths must be distinct, got {self.widths}")
        if self.n_train < 2 * max(self.widths):
            raise ValueError(
                f"n_train ({self.n_train}) must be at least twice the largest width "
                f"({max(self.widths)}) so the least-squares readout is determined"
            )
        return self


@register
class UniversalApproximation:
    name = "universal-approximation"
    title = "Shallow nets approximate smooth targets, at the linear-spline rate"
    section = "expressivity"
    order = 10
    Config = UAConfig

    def run(self, config: UAConfig, ctx: RunContext) -> Result:
        rows = []
        jobs = [(t, s) for t in TARGETS for s in range(config.seeds)]
        for target, s in ctx.progress.track(jobs, "targets × seeds"):
            seed = derive_seed(ctx.seed, "ua-data", target, s) >> 1
            data = target_data(target, config.n_train, seed).to(device=ctx.device)
            for w in sorted(config.widths):
                fit = fit_shallow_1d(
                    data,
                    w,
                    ctx.generator("ua-fit", target, w, s),
                    config.finetune_steps,
                    knots="stratified",
                )
                rows.append(
                    {
                        "target": target,
                        "width": w,
                        "seed": s,
                        "params": fit.params,
                        "rmse": fit.rmse,
                        "rel_mse": fit.rel_mse,
                    }
                )
        sweep = pd.DataFrame(rows)
        claims = self.claims(sweep, config)
        mean = sweep.groupby(["target", "width"])["rmse"].mean()
        metrics = {
            f"{t}_rmse_width_{w}": float(mean[(t, w)])
            for t in TARGETS
            for w in (min(config.widths), max(config.widths))
        }
        return Result(self.name, config.model_dump(), claims, {"sweep": sweep}, {}, metrics)

    # ------------------------------------------------------------------ claims

    @staticmethod
    def _per_seed(sweep: pd.DataFrame, target: str, widths: list[int]) -> np.ndarray:
        """RMSE as a (seeds, widths) array for one target."""
        sub = sweep[(sweep.target == target) & sweep.width.isin(widths)]
        return sub.pivot(index="seed", columns="width", values="rmse")[widths].to_numpy(float)

    @classmethod
    def claims(cls, sweep: pd.DataFrame, config: UAConfig) -> list[Claim]:
        widths = sorted(config.widths)
        src = "lecture slide 15; Cybenko 1989, Hornik 1991; Barron 1993"
        per_target = {
            t: evidence.slope(widths, cls._per_seed(sweep, t, widths), log_x=True, log_y=True)
            for t in TARGETS
        }
        worst = np.max([np.asarray(e.samples) for e in per_target.values()], axis=0)
        falls = evidence.mean(worst, statistic="log-log slope of RMSE on width, slower target")
        claims = [
            evidence.empirical(
                "lecture-s15.shallow-error-falls",
                "A one-hidden-layer ReLU net's error on a smooth 1-D target falls as width grows.",
                src,
                falls,
                Region.at_most(FALLS_AT_MOST),
                predicted=f"slope <= {FALLS_AT_MOST} (Barron: RMSE <= C width^-1/2)",
                tolerance=f"95% interval of the per-seed log-log slope of RMSE over widths "
                f"{widths[0]}..{widths[-1]} (the slower of {', '.join(TARGETS)}) lies at or "
                f"below {FALLS_AT_MOST}",
                note=(
                    "Per seed: the least-squares slope of log RMSE on log width over every width, "
                    "for each target; the unit's value is the larger (slower-falling) of the two. "
                    "Region from Barron 1993 (RMSE <= C width^-1/2 for a finite Barron norm). "
                    + ", ".join(f"{t}: {e}" for t, e in per_target.items())
                ),
                history=FALLS_HISTORY,
            )
        ]
        for target, cid in (
            ("sinusoid", "de-boor-1978.shallow-rate"),
            ("runge", "de-boor-1978.shallow-rate-runge"),
        ):
            claims.append(cls._rate_claim(sweep, config, target, cid))
        return claims

    @classmethod
    def _rate_claim(cls, sweep: pd.DataFrame, config: UAConfig, target: str, cid: str) -> Claim:
        history = RATE_HISTORY if target == "sinusoid" else ()  # the Runge claim is new
        fit_w = sorted(w for w in config.widths if w >= config.rate_min_width)
        region = Region.around(RATE, RATE_TOL)
        statement = (
            f"For a smooth target ({TARGETS[target][0]}) the shallow RMSE falls like width^-2 "
            "(the linear-spline rate)."
        )
        source = (
            "de Boor 1978 (A Practical Guide to Splines): linear-spline approximation of C^2 "
            "functions; lecture slide 15"
        )
        tolerance = (
            f"95% interval over seeds of the log-log slope of RMSE on widths >= "
            f"{config.rate_min_width} lies in [{RATE - RATE_TOL:g}, {RATE + RATE_TOL:g}] "
            "(excludes width^-1.5)"
        )
        design = (
            f"Stratified random knots, least-squares readout (float64), {config.finetune_steps} "
            f"Adam steps; {config.n_train} training points per seed; rate fitted on widths "
            f"{fit_w} (>= {config.rate_min_width}: knot spacing well below the target's "
            "smallest scale, so the h^2 term dominates); one slope per seed, t interval."
        )
        if len(fit_w) < MIN_RATE_WIDTHS:
            est = evidence.Estimate(
                math.nan, None, None, 0, "none", "seeds", "log-log slope of RMSE on width"
            )
            return evidence.empirical(
                cid,
                statement,
                source,
                est,
                region,
                predicted=RATE,
                measured=f"not fitted: only {len(fit_w)} width(s) >= {config.rate_min_width}",
                tolerance=tolerance,
                note=f"Inconclusive by design: the rate needs at least {MIN_RATE_WIDTHS} widths "
                f">= {config.rate_min_width} (the asymptotic range); this run has {fit_w}. "
                + design,
                history=history,
            )
        est = evidence.slope(
            fit_w,
            cls._per_seed(sweep, target, fit_w),
            log_x=True,
            log_y=True,
            statistic="log-log slope of RMSE on width (asymptotic range)",
        )
        return evidence.empirical(
            cid,
            statement,
            source,
            est,
            region,
            predicted=RATE,
            tolerance=tolerance,
            note=design,
            history=history,
        )

    # ------------------------------------------------------------------ figures

    def figures(self, result: Result, fig_dir) -> dict[str, str]:
        """RMSE against width per target (seeds' mean and range), with the width^-2 guide."""
        from depthlab.plots.common import new_figure, save_figure

        sweep = result.tables["sweep"]
        cfg = result.config
        fig, axes = new_figure(ncols=len(TARGETS))
        for ax, target in zip(axes[0], TARGETS, strict=True):
            m = sweep[sweep.target == target].groupby("width")["rmse"].agg(["mean", "min", "max"])
            if m.empty:
                continue
            ax.loglog(m.index, m["mean"], "o-", label="RMSE (mean of seeds)")
            ax.fill_between(m.index, m["min"], m["max"], alpha=0.2, label="seeds' range")
            w = np.asarray(m.index, float)
            ref = m["mean"].iloc[-1] * (w / w[-1]) ** RATE
            ax.loglog(w, ref, "k--", lw=1, label="width$^{-2}$")
            ax.axvline(
                cfg.get("rate_min_width", 64), color="C3", ls=":", lw=1, label="rate fit from"
            )
            ax.set_xlabel("hidden width")
            ax.set_ylabel("test RMSE")
            ax.set_title(f"{target}: {TARGETS[target][0]}", fontsize=9)
            ax.legend(fontsize=7)
        return {"error_vs_width": save_figure(fig, fig_dir.parent, "error_vs_width")}
