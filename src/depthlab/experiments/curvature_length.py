"""Curve length through depth and width (lecture slide 17; THEORY.md §1).

- ``curve-length-depth``: a great circle through wide random tanh nets grows by ``sqrt(chi_1)``
  per layer (Poole et al. 2016); curvature follows its recursion; PCA pictures of the tangle.
- ``curve-length-width``: one hidden layer of width k gives at most linear (measured: about
  ``sqrt(k)``) growth; depth gives exponential growth per layer at equal neuron counts.

Random MLPs are drawn as stacked weight tensors and measured all at once with
:func:`depthlab.trajectory.mlp_lengths` (exact velocities, midpoint rule on the speed); see
:mod:`depthlab.experiments._curvature_common`.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch
from pydantic import Field

from depthlab import trajectory as tj
from depthlab.config import ExperimentConfig
from depthlab.context import RunContext
from depthlab.core import Claim, Result, verdict_from
from depthlab.experiments._curvature_common import (
    fit_slope,
    light_mean_field,
    random_circle,
    stacked_mlp,
)
from depthlab.experiments.base import register
from depthlab.theory import meanfield as mf


class LengthDepthConfig(ExperimentConfig):
    width: int = Field(1000, ge=2, description="hidden width N")
    depth: int = Field(20, ge=3, le=60, description="layers after the circle's layer")
    sigma_ws: list[float] = Field(default=[1.3, 2.5, 4.0], description="weight std sigma_w")
    sigma_b: float = Field(0.3, ge=0)
    seeds: int = Field(1, ge=1, description="random nets per sigma_w")
    n_points: int = Field(256, ge=16, description="samples on the circle")
    tolerance: float = Field(
        0.03, gt=0, description="relative tolerance on the per-layer ratio vs sqrt(chi_1)"
    )
    pca_layers: list[int] = Field(default=[0, 2, 5, 10])

    _quick_overrides = {"width": 200, "depth": 12, "n_points": 128}
    _tiny_overrides = {"width": 64, "depth": 4, "n_points": 32}


@register
class CurveLengthDepth:
    """Poole et al. (2016): length grows like ``chi_1^{l/2}``. Budget: default ~60 s, quick ~5 s."""

    name = "curve-length-depth"
    title = "A great circle through random tanh nets: length grows by sqrt(chi_1) per layer"
    section = "curvature"
    order = 10
    Config = LengthDepthConfig

    def run(self, config: LengthDepthConfig, ctx: RunContext) -> Result:
        n, sb2 = config.width, config.sigma_b**2
        rows, curv_rows, pca_rows, theory_rows = [], [], [], []
        gen = ctx.generator(1)
        for sw in ctx.progress.track(config.sigma_ws, "sigma_w"):
            m = light_mean_field(sw**2, sb2)
            theory_rows.append(pd.DataFrame([m._asdict() | {"sigma_w": sw}]))
            circle = random_circle(n, math.sqrt(n * m.q_star), gen)
            ws, bs = stacked_mlp(
                [n] * (config.depth + 1), config.seeds, sw**2, sb2, gen, ctx.dtype, ctx.device
            )
            lens, curv = tj.mlp_lengths(
                ws, bs, torch.tanh, circle, n=config.n_points, curvature=True, first_activation=True
            )
            kbar_pred = mf.curvature_recursion(
                config.depth + 1, m.chi_1, m.chi_2, 1 / math.sqrt(m.q_star)
            )
            for s in range(config.seeds):
                for layer in range(config.depth + 1):
                    rows.append(
                        {
                            "sigma_w": sw,
                            "seed": s,
                            "layer": layer + 1,
                            "length": lens[s, layer],
                            "predicted": mf.predicted_length(layer + 1, n, m.q_star, m.chi_1),
                        }
                    )
                    curv_rows.append(
                        {
                            "sigma_w": sw,
                            "seed": s,
                            "layer": layer + 1,
                            "kbar": curv[s, layer] * math.sqrt(n),
                            "kbar_predicted": kbar_pred[layer],
                        }
                    )
            if sw == max(config.sigma_ws):  # the space-filling tangle of the chaotic phase
                pca_rows += self._pca(ws, bs, circle, config, sw)
        lengths = pd.DataFrame(rows)
        curvature = pd.DataFrame(curv_rows)
        theory = pd.concat(theory_rows, ignore_index=True)
        claims, fits = self._claims(lengths, curvature, theory, config)
        from depthlab.plots.curvature import plot_length_depth

        figures = plot_length_depth(lengths, curvature, pd.DataFrame(pca_rows), ctx.out_dir)
        return Result(
            self.name,
            config.model_dump(),
            claims,
            {
                "lengths": lengths,
                "curvature": curvature,
                "theory": theory,
                "fits": fits,
                "pca": pd.DataFrame(pca_rows),
            },
            figures,
            {f"ratio_sigma_w_{r.sigma_w:g}": r.measured_ratio for r in fits.itertuples()},
        )

    @staticmethod
    def _pca(ws, bs, circle, config, sw) -> list[dict]:
        t = (torch.arange(config.n_points, dtype=torch.float64) + 0.5) / config.n_points
        h = circle.points(t).to(ws[0])  # (T, N): h^1
        out = []
        with torch.no_grad():
            for layer in range(max(config.pca_layers) + 1):
                if layer in config.pca_layers:
                    z = (h - h.mean(0)).double().cpu().numpy()
                    _, _, vt = np.linalg.svd(z, full_matrices=False)
                    p = z @ vt[:2].T
                    out += [
                        {
                            "sigma_w": sw,
                            "layer": layer,
                            "t": float(t[i]),
                            "pc1": p[i, 0],
                            "pc2": p[i, 1],
                        }
                        for i in range(len(t))
                    ]
                if layer < len(ws):
                    h = torch.tanh(h) @ ws[layer][0].T + bs[layer][0]
        return out

    @staticmethod
    def _claims(lengths, curvature, theory, config):
        fits = []
        for sw, g in lengths.groupby("sigma_w"):
            mean = g.groupby("layer")["length"].apply(lambda x: np.exp(np.log(x).mean()))
            ratio = float(np.exp(fit_slope(mean.index, np.log(mean.values))))
            chi = float(theory.loc[theory.sigma_w == sw, "chi_1"].iloc[0])
            fits.append(
                {
                    "sigma_w": sw,
                    "chi_1": chi,
                    "predicted_ratio": math.sqrt(chi),
                    "measured_ratio": ratio,
                }
            )
        fits = pd.DataFrame(fits)
        rel = (fits.measured_ratio / fits.predicted_ratio - 1).abs()
        growth_ok = bool(((fits.measured_ratio > 1) == (fits.chi_1 > 1)).all())
        src = "Poole et al. 2016; Raghu et al. 2017; lecture slide 17; THEORY.md §1"
        desc = ", ".join(
            f"sigma_w={r.sigma_w:g}: {r.measured_ratio:.3f} vs {r.predicted_ratio:.3f}"
            for r in fits.itertuples()
        )
        claims = [
            Claim(
                id="poole-2016.length-ratio-sqrt-chi1",
                statement="The length of a great circle pushed through a wide random tanh net changes by sqrt(chi_1) per layer.",
                source=src,
                predicted=", ".join(f"{x:.3f}" for x in fits.predicted_ratio),
                measured=desc,
                tolerance=f"every fitted per-layer ratio (log-linear fit over layers 1..{config.depth + 1}) within {config.tolerance:.0%} of sqrt(chi_1)",
                verdict=verdict_from(bool((rel <= config.tolerance).all())),
                note=f"width {config.width}, {config.seeds} net(s) per sigma_w, {config.n_points} points on the circle",
            ),
            Claim(
                id="poole-2016.exponential-growth-iff-chaotic",
                statement="Length grows exponentially with depth exactly in the chaotic phase (chi_1 > 1) and shrinks in the ordered phase.",
                source=src,
                predicted="ratio > 1 iff chi_1 > 1",
                measured=desc,
                tolerance="sign of (measured ratio - 1) equals sign of (chi_1 - 1) for every sigma_w",
                verdict=verdict_from(growth_ok),
            ),
        ]
        cm = (
            curvature.groupby(["sigma_w", "layer"])[["kbar", "kbar_predicted"]].mean().reset_index()
        )
        late = cm[cm.layer >= 4]
        crel = float(((late.kbar / late.kbar_predicted) - 1).abs().max())
        claims.append(
            Claim(
                id="poole-2016.curvature-recursion",
                statement="The curvature (rescaled by sqrt(N)) follows kbar_l^2 = 3 chi_2 / chi_1^2 + kbar_{l-1}^2 / chi_1.",
                source="Poole et al. 2016, curvature recursion; THEORY.md §1",
                predicted="recursion from kbar_1 = 1/sqrt(q*)",
                measured=f"largest relative deviation over layers >= 4: {crel:.3f}",
                tolerance="within 20% at every layer >= 4 for every sigma_w",
                verdict=verdict_from(crel <= 0.2),
                note="curvature from exact velocities and exactly propagated accelerations at each sample",
            )
        )
        return claims, fits


# =========================================================================== length vs width


class LengthWidthConfig(ExperimentConfig):
    widths: list[int] = Field(default=[2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096])
    deep_width: int = Field(64, ge=2, description="width of the deep nets' layers")
    sigma_w: float = Field(4.0, gt=0)
    sigma_b: float = Field(0.3, ge=0)
    input_dim: int = Field(8, ge=2)
    seeds: int = Field(4, ge=1)
    n_points: int = Field(512, ge=16)

    _quick_overrides = {
        "widths": [2, 8, 32, 128, 512, 1024],
        "deep_width": 32,
        "seeds": 2,
        "n_points": 256,
    }


@register
class CurveLengthWidth:
    """Slide 17: shallow length is at most linear in width, deep length exponential in depth.

    Budget: default ~40 s, quick ~4 s.
    """

    name = "curve-length-width"
    title = "One wide layer stretches a curve at most linearly; depth stretches it exponentially"
    section = "curvature"
    order = 20
    Config = LengthWidthConfig

    def run(self, config: LengthWidthConfig, ctx: RunContext) -> Result:
        sw2, sb2 = config.sigma_w**2, config.sigma_b**2
        gen = ctx.generator(2)
        # unit-length input curve: a circle of radius 1 / (2π) in R^input_dim
        circle = random_circle(config.input_dim, 1 / (2 * math.pi), gen)
        rows = []
        for k in ctx.progress.track(config.widths, "shallow widths"):
            ws, bs = stacked_mlp(
                [config.input_dim, k], config.seeds, sw2, sb2, gen, ctx.dtype, ctx.device
            )
            lens, _ = tj.mlp_lengths(
                ws, bs, torch.tanh, circle, n=config.n_points, final_activation=True
            )
            rows += [
                {"kind": "shallow", "neurons": k, "depth": 1, "seed": s, "length": lens[s, -1]}
                for s in range(config.seeds)
            ]
        w = config.deep_width
        max_depth = max(1, max(config.widths) // w)
        ws, bs = stacked_mlp(
            [config.input_dim] + [w] * max_depth, config.seeds, sw2, sb2, gen, ctx.dtype, ctx.device
        )
        # post-activation length after every layer d = the deep net with d hidden layers
        lens, _ = tj.mlp_lengths(
            ws, bs, torch.tanh, circle, n=config.n_points, post_activation=True
        )
        rows += [
            {"kind": "deep", "neurons": d * w, "depth": d, "seed": s, "length": lens[s, d]}
            for d in range(1, max_depth + 1)
            for s in range(config.seeds)
        ]
        table = pd.DataFrame(rows)
        g = table.groupby(["kind", "neurons", "depth"])["length"].mean().reset_index()
        sh, dp = g[g.kind == "shallow"], g[g.kind == "deep"]
        shallow_slope = fit_slope(np.log(sh.neurons), np.log(sh.length))
        tail = dp[dp.depth >= 2]
        deep_ratio = (
            float(np.exp(fit_slope(tail.depth, np.log(tail.length))))
            if len(tail) >= 2
            else float("nan")
        )
        common = sorted(set(sh.neurons) & set(dp.neurons))
        big = common[-1] if common else None
        gain = (
            float(dp[dp.neurons == big].length.iloc[0] / sh[sh.neurons == big].length.iloc[0])
            if big
            else float("nan")
        )
        m = light_mean_field(sw2, sb2)
        claims = [
            Claim(
                id="slide17.shallow-length-at-most-linear",
                statement="With one hidden layer, the length of a unit curve's image grows at most linearly in the width.",
                source="lecture slide 17; Raghu et al. 2017",
                predicted="log-log slope <= 1 (random weights: about 0.5)",
                measured=round(shallow_slope, 3),
                tolerance="log-log slope of mean length against width <= 1.05",
                verdict=verdict_from(shallow_slope <= 1.05),
            ),
            Claim(
                id="slide17.deep-length-exponential",
                statement="Stacking layers of fixed width multiplies the length by a constant factor per layer (exponential in depth), beating one wide layer at equal neuron count.",
                source="lecture slide 17; Poole et al. 2016",
                predicted=f"ratio ≈ sqrt(chi_1) = {m.length_ratio:.3f} per layer once at q*; deep > shallow at {big} neurons",
                measured=f"per-layer ratio {deep_ratio:.3f}; deep/shallow length at {big} neurons: {gain:.3g}",
                tolerance="fitted per-layer ratio >= 1.1 and deep length > 10x shallow at the largest common neuron count",
                verdict=verdict_from(deep_ratio >= 1.1 and gain > 10),
                note="the input circle is small (unit length), so early layers also grow q toward q*",
            ),
        ]
        from depthlab.plots.curvature import plot_length_width

        figures = plot_length_width(table, ctx.out_dir)
        return Result(
            self.name,
            config.model_dump(),
            claims,
            {"lengths": table},
            figures,
            {"shallow_loglog_slope": shallow_slope, "deep_ratio_per_layer": deep_ratio},
        )


__all__ = ["CurveLengthDepth", "CurveLengthWidth", "LengthDepthConfig", "LengthWidthConfig"]
