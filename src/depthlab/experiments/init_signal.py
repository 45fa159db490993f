"""Exploding and vanishing at initialization (lecture slides 18 and 24; THEORY.md §2).

Two experiments built on the batched Monte Carlo probe :func:`depthlab.signal.moments` and the
closed forms in :mod:`depthlab.theory.signal`. Every claim is empirical: its statistic gets a 95 %
percentile-bootstrap interval over the independent unit, the **net** (one initialization; every
depth of one net is resampled together), and :func:`depthlab.core.decide` compares it with a
tolerance region fixed here before the run.

``init-mean`` (FM1)
    ``log E[M_d]`` against depth 1..50 for He normal/uniform, LeCun, Xavier, the naively truncated
    normal, the corrected one, and PyTorch's ``trunc_normal_`` as it really behaves. Design: width
    64, K = 400 nets per scheme (4000 for the Gaussian schemes, whose exact engine is cheap), the
    per-layer slope fitted through the origin with weights 1 / Var(log mean) over the depths where
    ``log prod(1 + 5/n) <= 2`` (26 layers at width 64), bootstrap over nets. Region: predicted
    ``log(fan_in Var W / 2)`` ± 0.025 per layer, a tenth of the smallest drift among the schemes
    (naive truncation, -0.257): a scheme whose variance is off by 5 % (slope -0.05) fails against
    He's 0. Time budget: default about 20 s, ``--quick`` about 3 s (2 CPU cores).
``init-variance`` (FM2)
    ``log E[M_d^2] / M_0^2`` and the Jacobian-entry kurtosis against ``beta = sum 1/n_j`` over five
    families of width profiles at five beta (25 profiles, K = 8000 nets each, depth 10). Regions:
    slope through the origin of measured against predicted log second moment in [0.9, 1.1]; of log
    kurtosis / 3 in [0.85, 1.15]; the largest relative deviation of ``E[Z^2]`` from ``2 / n_0`` over
    the profiles at most 0.1. Time budget: default about 40 s, ``--quick`` about 3 s.
The residual-net experiment ``init-residual`` lives in :mod:`depthlab.experiments.init_residual`.

Measured at the default scale (seed 0, design commit 40de53b; CPU time 9.5 s and 11.9 s):
every claim holds. FM1 slopes per layer (95 % interval over nets): He normal 0.0001
[-0.0024, 0.0025], He uniform -0.0010 [-0.0085, 0.0067], LeCun -0.6920 [-0.6947, -0.6896] and
Xavier -0.6930 [-0.6957, -0.6905] (predicted -0.6931), naive truncation -0.2589 [-0.2672,
-0.2512] (-0.2565), corrected 0.0036 [-0.0036, 0.0104], PyTorch trunc_normal_ 0.0038 [-0.0045,
0.0119]. FM2: second-moment slope 0.992 [0.952, 1.024], Jacobian kurtosis slope 1.011 [0.978,
1.040], largest E[Z^2] deviation 0.035 [0.029, 0.083]. Seed 1 gives the same verdicts.
"""

from __future__ import annotations

import math
from typing import Annotated

import numpy as np
import pandas as pd
from pydantic import Field, field_validator

from depthlab.config import ExperimentConfig
from depthlab.context import RunContext
from depthlab.core import Result
from depthlab.experiments._init_claims import fm1_claim, fm1_slope, fm2_claims
from depthlab.experiments._init_evidence import origin_slope
from depthlab.experiments.base import register
from depthlab.init import SCHEMES, _trunc_var_factor
from depthlab.signal import mlp_family, moments
from depthlab.theory import signal as th

MEAN_SCHEMES = (
    "he_normal",
    "he_uniform",
    "lecun_normal",
    "xavier_normal",
    "trunc_normal_naive",
    "trunc_normal_corrected",
    "torch_trunc_normal",
)


# ----------------------------------------------------------------------------------------------
Schemes = Annotated[list[str], Field(min_length=1, max_length=len(SCHEMES))]


def _known_schemes(v: list[str]) -> list[str]:
    for s in v:
        if s not in SCHEMES:
            raise ValueError(f"unknown init scheme {s!r}; allowed: {', '.join(SCHEMES)}")
    if len(set(v)) != len(v):
        raise ValueError(f"schemes must not repeat, got {v}")
    return v


class InitMeanConfig(ExperimentConfig):
    width: int = Field(64, ge=4, le=4096, description="constant hidden width n")
    max_depth: int = Field(
        50, ge=2, le=1000, description="deepest layer; every depth 1..max_depth is read"
    )
    n_inits: int = Field(
        400, ge=20, le=100_000, description="nets per scheme (stacked-weight engine)"
    )
    n_inits_gaussian: int = Field(
        4000, ge=20, le=1_000_000, description="nets for Gaussian schemes (exact cheap engine)"
    )
    schemes: Schemes = Field(default=list(MEAN_SCHEMES))
    fit_log_second_max: float = Field(
        2.0,
        gt=0,
        le=20,
        description="fit slopes over depths with log prod(1+5/n) <= this: where K nets estimate "
        "E[M_d] reliably",
    )
    slope_tolerance: float = Field(
        0.025, gt=0, le=1, description="region: predicted slope ± this (per layer)"
    )

    _quick_overrides = {"width": 32, "max_depth": 30, "n_inits": 150, "n_inits_gaussian": 1000}
    _tiny_overrides = {"width": 16, "max_depth": 8, "n_inits": 40, "n_inits_gaussian": 200}
    # Hanin & Rolnick's Fig. 1 nets reach depth 100; wide enough that the fit covers it all
    _paper_overrides = {
        "width": 256,
        "max_depth": 100,
        "n_inits": 4000,
        "n_inits_gaussian": 100_000,
    }

    @field_validator("schemes")
    @classmethod
    def _schemes_known(cls, v: list[str]) -> list[str]:
        return _known_schemes(v)


@register
class InitMean:
    """FM1: the mean of ``M_d`` drifts exponentially in depth unless ``Var W = 2 / fan_in``.

    Time budget: default about 20 s, ``--quick`` about 3 s on 2 CPU cores.
    """

    name = "init-mean"
    title = "FM1: the mean signal drifts exponentially with depth unless Var W = 2/fan_in"
    section = "init"
    order = 10
    Config = InitMeanConfig

    def run(self, config: InitMeanConfig, ctx: RunContext) -> Result:
        n, dmax = config.width, config.max_depth
        widths = [n] * (dmax + 1)
        depths = np.arange(1, dmax + 1)
        log_m2 = np.cumsum(np.log1p(5.0 / np.array(widths[1:], float)))
        n_fit = max(2, int(np.sum(log_m2 <= config.fit_log_second_max)))
        rows, claims, slopes = [], [], []
        for scheme in ctx.progress.track(config.schemes, "schemes"):
            gaussian = scheme in th.GAUSSIAN_SCHEMES
            k = config.n_inits_gaussian if gaussian else config.n_inits
            r = moments(
                mlp_family(widths),
                k,
                scheme=scheme,
                jacobian=False,
                generator=ctx.generator("init-mean", scheme, device=ctx.device),
                dtype=ctx.dtype,
                device=ctx.device,
            )
            gain = th.scheme_gain(scheme, n, n)
            per_net = r.ratio.double().cpu().numpy()[:, 1:]  # (K, dmax): M_d / M_0 of each net
            mean = per_net.mean(0)
            se = per_net.std(0, ddof=1) / math.sqrt(k)
            for d, m_, s_ in zip(depths, mean, se, strict=True):
                rows.append(
                    {
                        "scheme": scheme,
                        "depth": int(d),
                        "mean_m": float(m_),
                        "mean_m_se": float(s_),
                        "predicted": gain ** int(d),
                        "in_fit": bool(d <= n_fit),
                        "n_inits": k,
                        "engine": r.engine,
                    }
                )
            est = fm1_slope(per_net[:, :n_fit], ctx.rng("init-mean", "bootstrap", scheme))
            pred = math.log(gain)
            iv = est.interval or (math.nan, math.nan)
            slopes.append(
                {
                    "scheme": scheme,
                    "slope": est.value,
                    "slope_lo": iv[0],
                    "slope_hi": iv[1],
                    "slope_se": (iv[1] - iv[0]) / (2 * 1.959964),
                    "predicted_slope": pred,
                    "var_ratio": gain,
                    "fit_max_depth": n_fit,
                    "n_inits": k,
                }
            )
            claims.append(fm1_claim(scheme, est, pred, config, n, n_fit))
        fan_ins = np.unique(np.round(np.logspace(0, 3, 25)).astype(int))
        torch_tn = pd.DataFrame(
            {
                "fan_in": fan_ins,
                "std": np.sqrt(2.0 / fan_ins),
                "variance_kept": [_trunc_var_factor(2.0 / math.sqrt(2.0 / f)) for f in fan_ins],
            }
        )
        table = pd.DataFrame(rows)
        slope_df = pd.DataFrame(slopes)
        metrics = {f"slope_{s['scheme']}": s["slope"] for s in slopes} | {
            "width": float(n),
            "max_depth": float(dmax),
        }
        return Result(
            self.name,
            config.model_dump(),
            claims,
            {"mean_vs_depth": table, "slopes": slope_df, "torch_trunc_normal": torch_tn},
            {},
            metrics,
        )

    def figures(self, result: Result, fig_dir) -> dict[str, str]:
        from depthlab.plots.signal import plot_init_mean

        t = result.tables
        return plot_init_mean(
            t["mean_vs_depth"], t["slopes"], t["torch_trunc_normal"], fig_dir.parent
        )


# ----------------------------------------------------------------------------------------------
FAMILIES = ("constant", "increasing", "decreasing", "hourglass", "random")


def profile(family: str, depth: int, beta: float, rng: np.random.Generator) -> list[int]:
    """Hidden widths ``n_1..n_depth`` of a family, scaled so ``sum 1/n_j`` is close to ``beta``."""
    if family == "constant":
        shape = np.ones(depth)
    elif family == "increasing":
        shape = np.linspace(1.0, 4.0, depth)
    elif family == "decreasing":
        shape = np.linspace(4.0, 1.0, depth)
    elif family == "hourglass":
        # one narrow layer carrying half of beta in the middle, the rest equal
        others = 2.0 * (depth - 1) / beta
        mid = 2.0 / beta
        out = [max(2, round(others))] * depth
        out[depth // 2] = max(2, round(mid))
        return out
    elif family == "random":
        shape = rng.uniform(1.0, 5.0, depth)
    else:
        raise ValueError(f"unknown profile family {family!r}; allowed: {', '.join(FAMILIES)}")
    c = float(np.sum(1.0 / shape)) / beta
    return [max(2, round(c * s)) for s in shape]


class InitVarianceConfig(ExperimentConfig):
    depth: int = Field(10, ge=3, le=200, description="hidden layers per profile")
    n0: int = Field(20, ge=2, le=4096, description="input width")
    betas: list[Annotated[float, Field(gt=0, le=2)]] = Field(
        default=[0.05, 0.1, 0.2, 0.3, 0.45], min_length=1, max_length=50
    )
    families: list[str] = Field(default=list(FAMILIES), min_length=1, max_length=len(FAMILIES))
    n_inits: int = Field(8000, ge=100, le=1_000_000, description="nets per profile")
    jac_inputs: int = Field(2, ge=1, le=64)

    _quick_overrides = {"depth": 6, "betas": [0.1, 0.3], "n_inits": 3000}
    _tiny_overrides = {"depth": 4, "n_inits": 500}
    _paper_overrides = {"depth": 20, "betas": [0.05, 0.1, 0.2, 0.3, 0.45, 0.6], "n_inits": 100_000}

    @field_validator("families")
    @classmethod
    def _families_known(cls, v: list[str]) -> list[str]:
        for f in v:
            if f not in FAMILIES:
                raise ValueError(f"unknown profile family {f!r}; allowed: {', '.join(FAMILIES)}")
        if len(set(v)) != len(v):
            raise ValueError(f"families must not repeat, got {v}")
        return v


@register
class InitVariance:
    """FM2: ``E[M_d^2] / M_0^2 = prod (1 + 5 / n_j) ≈ exp(5 beta)`` whatever the profile's shape.

    Time budget: default about 40 s, ``--quick`` about 3 s on 2 CPU cores.
    """

    name = "init-variance"
    title = "FM2: fluctuations grow like exp(5·beta), beta = sum 1/width, for any width profile"
    section = "init"
    order = 20
    Config = InitVarianceConfig

    def run(self, config: InitVarianceConfig, ctx: RunContext) -> Result:
        jobs = [(f, b) for b in config.betas for f in config.families]
        rows, m2s, z2s, z4s = [], [], [], []
        for fam, b in ctx.progress.track(jobs, "width profiles"):
            hidden = profile(fam, config.depth, b, ctx.rng("init-variance", "profile", fam, b))
            widths = [config.n0, *hidden]
            r = moments(
                mlp_family(widths),
                config.n_inits,
                jac_inputs=config.jac_inputs,
                generator=ctx.generator("init-variance", fam, b, device=ctx.device),
                dtype=ctx.dtype,
                device=ctx.device,
            )
            m2 = (r.ratio[:, -1].double() ** 2).cpu().numpy()
            z2 = r.jac2[:, -1].double().cpu().numpy()
            z4 = r.jac4[:, -1].double().cpu().numpy()
            m2s.append(m2)
            z2s.append(z2)
            z4s.append(z4)
            second, jk = float(m2.mean()), float(z4.mean() / z2.mean() ** 2)
            rows.append(
                {
                    "family": fam,
                    "target_beta": b,
                    "widths": "-".join(map(str, widths)),
                    "beta": th.beta(hidden),
                    "beta_jac": th.beta(hidden[:-1]),
                    "narrowest": min(hidden),
                    "mean_m": float(r.mean[-1]),
                    "second_m": second,
                    "second_m_se": float(m2.std(ddof=1)) / math.sqrt(len(m2)),
                    "var_m": float(r.var[-1]),
                    "log_second_m": math.log(second),
                    "log_second_pred": math.log(th.second_moment_ratio(widths)[-1]),
                    "layer_var_log_m": float(r.layer_var_log.mean()),
                    "jac_second": float(z2.mean()),
                    "jac_second_se": float(z2.std(ddof=1)) / math.sqrt(len(z2)),
                    "jac_second_pred": th.jacobian_second_moment(widths)[-1],
                    "jac_kurtosis": jk,
                    "log_jac_kurt_ratio": math.log(jk / 3.0),
                    "log_jac_kurt_pred": math.log(th.jacobian_kurtosis(widths)[-1] / 3.0),
                    "n_inits": config.n_inits,
                }
            )
        df = pd.DataFrame(rows)
        units = {"m2": np.stack(m2s, 1), "z2": np.stack(z2s, 1), "z4": np.stack(z4s, 1)}
        claims = fm2_claims(df, units, lambda *k: ctx.rng("init-variance", "bootstrap", *k))
        metrics = {
            "slope_vs_predicted": float(
                np.polyfit(df["log_second_pred"], df["log_second_m"], 1)[0]
            ),
            "slope_vs_beta": float(origin_slope(df["beta"], df["log_second_m"])[0]),
        }
        return Result(self.name, config.model_dump(), claims, {"profiles": df}, {}, metrics)

    def figures(self, result: Result, fig_dir) -> dict[str, str]:
        from depthlab.plots.signal import plot_init_variance

        return plot_init_variance(result.tables["profiles"], fig_dir.parent)
