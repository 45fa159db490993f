"""Universal approximation and the price of shallowness (lecture slide 15).

Claims measured
---------------
1. A one-hidden-layer ReLU net's error on a fixed smooth 1-D target (a sum of sinusoids) falls as
   width grows. For a linear spline through well-placed knots the RMSE of a C^2 target falls like
   ``width^-2``; we report the fitted log-log slope beside that rate.
2. Telgarsky's sawtooth with k folds (``2^k`` pieces) is computed exactly by k layers of 2 ReLUs
   (``depthlab.nets.sawtooth``), while a one-hidden-layer net has at most ``width + 1`` pieces on the
   line, so the width it needs to reach a fixed error should double with each extra fold:
   ``log2(width needed)`` against k has slope 1.

We also train deep nets of the construction's shape from random init and report their error:
existence of a small deep solution is not the same as finding it by gradient descent.

Time budget: default about 2.5 min on 2 CPU cores (measured 143 s); ``--quick`` about 10 s.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch
from pydantic import Field, PositiveInt

from depthlab.approx import fit_deep_1d, fit_shallow_1d
from depthlab.config import ExperimentConfig
from depthlab.context import RunContext
from depthlab.core import Claim, Result, verdict_from
from depthlab.data.synthetic import sawtooth_data, sinusoid
from depthlab.experiments.base import register
from depthlab.nets import count_params, sawtooth


class UAConfig(ExperimentConfig):
    widths: list[PositiveInt] = Field(
        default=[1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
        min_length=1,
        description="hidden widths for the sinusoid fit (log-spaced)",
    )
    sawtooth_ks: list[PositiveInt] = Field(
        default=[4, 5, 6, 7, 8], min_length=1, description="sawtooth folds k"
    )
    seeds: int = Field(2, ge=1, description="seeds per width for the sinusoid")
    sawtooth_seeds: int = Field(
        1, ge=1, description="seeds per width in the sawtooth search (best of)"
    )
    target_rel_mse: float = Field(
        0.01, gt=0, lt=1, description="error a net must reach on the sawtooth"
    )
    finetune_steps: int = Field(100, ge=0, description="Adam steps after the least-squares readout")
    deep_steps: int = Field(
        1000, ge=0, description="Adam steps for the trained deep nets (0 skips them)"
    )
    max_width: int = Field(
        4096, ge=2, description="largest shallow width tried in the sawtooth search"
    )
    n_train: int = Field(2048, ge=16)

    _quick_overrides = {
        "widths": [1, 2, 4, 8, 16, 32, 64, 128],
        "sawtooth_ks": [3, 4, 5],
        "seeds": 1,
        "finetune_steps": 100,
        "deep_steps": 300,
        "max_width": 512,
        "n_train": 512,
    }
    _tiny_overrides = {
        "widths": [1, 4, 16, 32, 64],
        "sawtooth_ks": [2, 3],
        "finetune_steps": 10,
        "deep_steps": 30,
        "max_width": 64,
        "n_train": 256,
    }


def _loglog_slope(x, y) -> float:
    x, y = np.log(np.asarray(x, float)), np.log(np.asarray(y, float))
    return float(np.polyfit(x, y, 1)[0])


@register
class UniversalApproximation:
    name = "universal-approximation"
    title = "Shallow nets approximate anything, at a width that depth avoids"
    section = "expressivity"
    order = 10
    Config = UAConfig

    def run(self, config: UAConfig, ctx: RunContext) -> Result:
        rows = []
        data = sinusoid(n_train=config.n_train, n_test=4 * config.n_train, seed=ctx.seed)
        jobs = [(w, s) for w in config.widths for s in range(config.seeds)]
        for w, s in ctx.progress.track(jobs, "sinusoid widths"):
            fit = fit_shallow_1d(data, w, ctx.generator(1000 * w + s), config.finetune_steps)
            rows.append(
                {
                    "target": "sinusoid",
                    "width": w,
                    "seed": s,
                    "params": fit.params,
                    "rmse": fit.rmse,
                    "rel_mse": fit.rel_mse,
                }
            )
        sweep = pd.DataFrame(rows)

        need_rows, saw_rows = [], []
        for k in ctx.progress.track(config.sawtooth_ks, "sawtooth folds"):
            # 16 training points per tooth: the widths searched stay below the number of
            # points, so the least-squares readout is never underdetermined.
            sdata = sawtooth_data(
                k, n_train=max(config.n_train, 2 ** (k + 4)), n_test=2 ** (k + 5), seed=ctx.seed
            )
            needed = self._width_needed(sdata, k, config, ctx, saw_rows)
            construction = sawtooth(k).to(torch.float64)
            with torch.no_grad():
                err = construction(sdata.x_test) - sdata.y_test
            deep_row = {
                "k": k,
                "shallow_width_needed": needed,
                "shallow_params_needed": None if needed is None else 3 * needed + 1,
                "deep_units": 2 * k,
                "deep_params": count_params(construction),
                "deep_construction_max_abs_err": float(err.abs().max()),
            }
            if config.deep_steps > 0:
                trained = fit_deep_1d(sdata, 2, k, ctx.generator(7000 + k), steps=config.deep_steps)
                wide = fit_deep_1d(sdata, 8, k, ctx.generator(8000 + k), steps=config.deep_steps)
                deep_row |= {
                    "deep_trained_w2_rel_mse": trained.rel_mse,
                    "deep_trained_w8_rel_mse": wide.rel_mse,
                    "deep_trained_w8_params": wide.params,
                }
            need_rows.append(deep_row)
        sawtooth_sweep = pd.DataFrame(saw_rows)
        needed = pd.DataFrame(need_rows)

        claims = [*self._sinusoid_claims(sweep), self._sawtooth_claim(needed, config)]
        from depthlab.plots.expressivity import plot_universal_approximation

        figures = plot_universal_approximation(
            sweep, sawtooth_sweep, needed, config.target_rel_mse, ctx.out_dir
        )
        mean = sweep.groupby("width")["rmse"].mean()
        metrics = {
            "sinusoid_rmse_min_width": float(mean.iloc[0]),
            "sinusoid_rmse_max_width": float(mean.iloc[-1]),
        }
        return Result(
            self.name,
            config.model_dump(),
            claims,
            {"sinusoid": sweep, "sawtooth_sweep": sawtooth_sweep, "sawtooth_needed": needed},
            figures,
            metrics,
        )

    @staticmethod
    def _width_needed(sdata, k, config, ctx, rows) -> int | None:
        """Smallest width (powers of two, then bisection) whose best-of-seeds fit reaches the target."""

        def ok(w: int) -> bool:
            best = math.inf
            for s in range(config.sawtooth_seeds):
                fit = fit_shallow_1d(
                    sdata,
                    w,
                    ctx.generator(100_000 * k + 1000 * w + s),
                    config.finetune_steps,
                    good_enough=config.target_rel_mse,
                )
                rows.append(
                    {"k": k, "width": w, "seed": s, "params": fit.params, "rel_mse": fit.rel_mse}
                )
                best = min(best, fit.rel_mse)
            return best <= config.target_rel_mse

        lo, hi, w = None, None, 2
        while w <= config.max_width:
            if ok(w):
                hi = w
                break
            lo, w = w, w * 2
        if hi is None:
            return None
        lo = lo or 1
        while hi - lo > max(1, lo // 4):  # bisect to about 25% resolution
            mid = (lo + hi) // 2
            if ok(mid):
                hi = mid
            else:
                lo = mid
        return hi

    @staticmethod
    def _sinusoid_claims(sweep: pd.DataFrame) -> list[Claim]:
        mean = sweep.groupby("width")["rmse"].mean()
        falls = bool(mean.iloc[-1] < mean.iloc[0] / 10) and bool(
            (mean.diff().dropna() <= 1e-12).mean() >= 0.75
        )
        tail = mean[mean.index >= 16]
        slope = _loglog_slope(tail.index, tail.values) if len(tail) >= 3 else float("nan")
        src = "lecture slide 15; Cybenko 1989, Hornik 1991"
        return [
            Claim(
                id="lecture-s15.shallow-error-falls",
                statement="A one-hidden-layer ReLU net's error on a smooth 1-D target falls as width grows.",
                source=src,
                predicted="error falls with width",
                measured=f"RMSE {mean.iloc[0]:.3g} at width {mean.index[0]} -> {mean.iloc[-1]:.3g} at width {mean.index[-1]}",
                tolerance="holds if the widest net's RMSE is under 1/10 of the narrowest's and at least 3/4 of width doublings lower it",
                verdict=verdict_from(falls),
            ),
            Claim(
                id="de-boor-1978.shallow-rate",
                statement="For a smooth target the shallow RMSE falls like width^-2 (linear-spline rate).",
                source="de Boor 1978 (A Practical Guide to Splines): linear spline approximation of C^2 "
                "functions; slide 15",
                predicted=-2.0,
                measured=round(slope, 3),
                tolerance="log-log slope of RMSE over widths >= 16 within ±0.5 of -2",
                verdict=verdict_from(None if not math.isfinite(slope) else abs(slope + 2) <= 0.5),
            ),
        ]

    @staticmethod
    def _sawtooth_claim(needed: pd.DataFrame, config: UAConfig) -> Claim:
        got = needed.dropna(subset=["shallow_width_needed"])
        if len(got) >= 2:
            slope = float(
                np.polyfit(got["k"], np.log2(got["shallow_width_needed"].astype(float)), 1)[0]
            )
            ok: bool | None = 0.75 <= slope <= 1.25
            measured = (
                f"log2(width needed) slope {slope:.2f} per fold; deep construction uses 2k units"
            )
        else:
            slope, ok = float("nan"), None
            measured = f"only {len(got)} k reached rel. MSE {config.target_rel_mse} within width {config.max_width}"
        return Claim(
            id="telgarsky-2016.sawtooth-depth-separation",
            statement="A shallow net needs width growing like 2^k to fit the k-fold sawtooth that k layers of 2 ReLUs compute exactly.",
            source="Telgarsky 2016; lecture slides 15 and 22",
            predicted=1.0,
            measured=measured,
            tolerance=f"slope of log2(shallow width reaching rel. MSE {config.target_rel_mse}) vs k in [0.75, 1.25]",
            verdict=verdict_from(ok),
        )
