"""Curve length through depth: mean-field theory against measurement (lecture slide 17).

Five experiments (THEORY.md §1):

- ``curve-length-depth``: a great circle through wide random tanh nets grows by ``sqrt(chi_1)``
  per layer (Poole et al. 2016); curvature follows its recursion; PCA pictures of the tangle.
- ``curve-length-width``: one hidden layer of width k gives at most linear (measured: about
  ``sqrt(k)``) growth; depth gives exponential growth per layer at equal neuron counts.
- ``phase-diagram``: the ``chi_1 = 1`` edge of chaos for tanh beside measured length growth and
  correlation decay on a ``(sigma_w^2, sigma_b^2)`` grid.
- ``relu-he-length``: He-initialised ReLU nets keep the expected length, while its variance grows
  with depth (Hanin, Jeong & Rolnick 2022).
- ``transitions-vs-length``: in hard-tanh nets the number of linear pieces along a curve grows in
  proportion to its length (Raghu et al. 2017), both measured exactly with :mod:`depthlab.pl`.

Random MLPs are drawn as stacked weight tensors and measured all at once with
:func:`depthlab.trajectory.mlp_lengths` (exact velocities, midpoint rule on the speed).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
from pydantic import Field

from depthlab import trajectory as tj
from depthlab.config import ExperimentConfig
from depthlab.context import RunContext
from depthlab.core import Claim, Result, verdict_from
from depthlab.experiments.base import register
from depthlab.theory import meanfield as mf


def _stacked_mlp(
    widths: list[int],
    k: int,
    sigma_w2: np.ndarray | float,
    sigma_b2: np.ndarray | float,
    gen: torch.Generator,
    dtype: torch.dtype,
    device: torch.device,
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """K random MLPs: ``W ~ N(0, sigma_w^2 / fan_in)``, ``b ~ N(0, sigma_b^2)``, per-net variances."""
    sw = torch.as_tensor(np.broadcast_to(sigma_w2, (k,)).copy(), dtype=torch.float64)
    sb = torch.as_tensor(np.broadcast_to(sigma_b2, (k,)).copy(), dtype=torch.float64)
    ws, bs = [], []
    for a, b in zip(widths[:-1], widths[1:], strict=True):
        w = (
            torch.randn(k, b, a, generator=gen, dtype=torch.float64)
            * (sw / a).sqrt()[:, None, None]
        )
        bb = torch.randn(k, b, generator=gen, dtype=torch.float64) * sb.sqrt()[:, None]
        ws.append(w.to(device=device, dtype=dtype))
        bs.append(bb.to(device=device, dtype=dtype))
    return ws, bs


def _circle(n_dim: int, radius: float, gen: torch.Generator) -> tj.Curve:
    u0, u1 = torch.randn(2, n_dim, generator=gen, dtype=torch.float64)
    return tj.great_circle(u0, u1, radius=radius)


class _MF(NamedTuple):
    sigma_w2: float
    sigma_b2: float
    q_star: float
    chi_1: float
    chi_2: float
    length_ratio: float


def _light_mean_field(sw2: float, sb2: float) -> _MF:
    """q*, chi_1, chi_2 for tanh (no 2-D integrals: those are not needed here)."""
    q = float(mf.qstar(torch.tanh, sw2, sb2))
    c1 = float(mf.chi1(torch.tanh, sw2, sb2, q=q))
    return _MF(sw2, sb2, q, c1, float(mf.chi2(torch.tanh, sw2, sb2, q=q)), math.sqrt(c1))


def _slope(x, y) -> float:
    return float(np.polyfit(np.asarray(x, float), np.asarray(y, float), 1)[0])


# =========================================================================== 1. length vs depth


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
            m = _light_mean_field(sw**2, sb2)
            theory_rows.append(pd.DataFrame([m._asdict() | {"sigma_w": sw}]))
            circle = _circle(n, math.sqrt(n * m.q_star), gen)
            ws, bs = _stacked_mlp(
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
            ratio = float(np.exp(_slope(mean.index, np.log(mean.values))))
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


# =========================================================================== 2. length vs width


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
        circle = _circle(config.input_dim, 1 / (2 * math.pi), gen)
        rows = []
        for k in ctx.progress.track(config.widths, "shallow widths"):
            ws, bs = _stacked_mlp(
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
        ws, bs = _stacked_mlp(
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
        shallow_slope = _slope(np.log(sh.neurons), np.log(sh.length))
        tail = dp[dp.depth >= 2]
        deep_ratio = (
            float(np.exp(_slope(tail.depth, np.log(tail.length))))
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
        m = _light_mean_field(sw2, sb2)
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


# =========================================================================== 3. phase diagram


class PhaseDiagramConfig(ExperimentConfig):
    sigma_w2: list[float] = Field(
        default=[float(x) for x in np.round(np.linspace(0.5, 4.0, 15), 3)]
    )
    sigma_b2: list[float] = Field(
        default=[float(x) for x in np.round(np.linspace(0.02, 0.3, 10), 3)]
    )
    width: int = Field(300, ge=8)
    depth: int = Field(10, ge=2)
    n_points: int = Field(128, ge=16)
    margin: float = Field(
        0.1, gt=0, description="points with |chi_1 - 1| < margin are 'on the boundary'"
    )

    _quick_overrides = {
        "sigma_w2": [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0],
        "sigma_b2": [0.02, 0.1, 0.2, 0.3],
        "width": 100,
        "depth": 8,
        "n_points": 64,
    }


@register
class PhaseDiagram:
    """Order-to-chaos phase diagram of tanh nets. Budget: default ~60 s, quick ~5 s."""

    name = "phase-diagram"
    title = "The order-to-chaos phase diagram: theory's chi_1 = 1 edge against measured growth"
    section = "curvature"
    order = 30
    Config = PhaseDiagramConfig

    def run(self, config: PhaseDiagramConfig, ctx: RunContext) -> Result:
        sw2 = np.array(config.sigma_w2, float)[:, None]
        sb2 = np.array(config.sigma_b2, float)[None, :]
        sw2g, sb2g = np.broadcast_arrays(sw2, sb2)
        quad = mf.Quadrature(h=0.5, order=8)
        q = np.asarray(mf.qstar(torch.tanh, sw2g, sb2g, quad=quad))
        chi = np.asarray(mf.chi1(torch.tanh, sw2g, sb2g, q=q, quad=quad))
        n, k = config.width, sw2g.size
        gen = ctx.generator(3)
        ws, bs = _stacked_mlp(
            [n] * (config.depth + 1), k, sw2g.ravel(), sb2g.ravel(), gen, ctx.dtype, ctx.device
        )
        # one great circle of radius sqrt(N q*) per net (its own q*), as h^1 of every net
        u0, u1 = torch.randn(2, n, generator=gen, dtype=torch.float64)
        unit = tj.great_circle(u0, u1, radius=1.0)
        scale = torch.as_tensor(np.sqrt(n * q.ravel()), dtype=ws[0].dtype, device=ws[0].device)
        lens = self._lengths(ws, bs, unit, scale, config.n_points)
        growth = (lens[:, -1] / lens[:, 0]) ** (1 / config.depth)
        corr = self._correlation(ws, bs, u0, u1, scale)
        table = pd.DataFrame(
            {
                "sigma_w2": sw2g.ravel(),
                "sigma_b2": sb2g.ravel(),
                "q_star": q.ravel(),
                "chi_1": chi.ravel(),
                "length_growth": growth,
                "corr_growth": corr,
            }
        )
        off = (table.chi_1 - 1).abs() >= config.margin
        agree_len = ((table.length_growth > 1) == (table.chi_1 > 1))[off]
        agree_cor = ((table.corr_growth > 1) == (table.chi_1 > 1))[off]
        crit = mf.critical_sigma_w2(torch.tanh, 0.05)
        claims = [
            Claim(
                id="poole-2016.phase-boundary-length",
                statement="Measured per-layer length growth exceeds 1 exactly where chi_1 > 1 (away from the boundary).",
                source="Poole et al. 2016; Schoenholz et al. 2017; THEORY.md §1",
                predicted="growth > 1 iff chi_1 > 1",
                measured=f"{agree_len.mean():.1%} of {int(off.sum())} off-boundary grid points agree",
                tolerance=f"at least 95% agreement among points with |chi_1 - 1| >= {config.margin}",
                verdict=verdict_from(bool(agree_len.mean() >= 0.95)),
                note=f"width {n}, depth {config.depth}, one net per grid point",
            ),
            Claim(
                id="schoenholz-2017.phase-boundary-correlation",
                statement="Nearby inputs decorrelate (1 - c grows) exactly in the chaotic phase and converge in the ordered phase.",
                source="Schoenholz et al. 2017; THEORY.md §1",
                predicted="(1 - c) growth > 1 iff chi_1 > 1",
                measured=f"{agree_cor.mean():.1%} of {int(off.sum())} off-boundary grid points agree",
                tolerance=f"at least 95% agreement among points with |chi_1 - 1| >= {config.margin}",
                verdict=verdict_from(bool(agree_cor.mean() >= 0.95)),
            ),
            Claim(
                id="schoenholz-2017.critical-sigma-w2",
                statement="For tanh at sigma_b^2 = 0.05 the order-to-chaos transition is at sigma_w^2 = 1.761.",
                source="THEORY.md §1 [checked]",
                predicted=1.761,
                measured=round(crit, 4),
                tolerance="|measured - 1.761| <= 5e-4 (quadrature, no sampling)",
                verdict=verdict_from(abs(crit - 1.761) <= 5e-4),
            ),
        ]
        from depthlab.plots.curvature import plot_phase_diagram

        figures = plot_phase_diagram(table, ctx.out_dir)
        return Result(
            self.name,
            config.model_dump(),
            claims,
            {"grid": table},
            figures,
            {
                "critical_sigma_w2_at_sigma_b2_0.05": crit,
                "agreement_length": float(agree_len.mean()),
            },
        )

    @staticmethod
    def _lengths(ws, bs, unit, scale, n_points):
        # h^1 = r * circle (radius sqrt(N q*)) differs per net: scale velocities and points per net
        t = (torch.arange(n_points, dtype=torch.float64) + 0.5) / n_points
        x = unit.points(t).to(ws[0])[None] * scale[:, None, None]  # (K, T, N)
        v = unit.velocity(t).to(ws[0])[None] * scale[:, None, None]
        out = [v.norm(dim=-1).mean(-1)]
        h = x
        for w, b in zip(ws, bs, strict=True):
            d = 1 - torch.tanh(h) ** 2
            h = torch.bmm(torch.tanh(h), w.transpose(1, 2)) + b[:, None, :]
            v = torch.bmm(d * v, w.transpose(1, 2))
            out.append(v.norm(dim=-1).mean(-1))
        return torch.stack(out, 1).double().cpu().numpy()

    @staticmethod
    def _correlation(ws, bs, u0, u1, scale):
        """Growth per layer of 1 - c for two inputs at c = 0.99 on the circle, over all layers."""
        e0 = u0 / u0.norm()
        e1 = u1 - (u1 @ e0) * e0
        e1 = e1 / e1.norm()
        ang = math.acos(0.99)
        pair = torch.stack([e0, math.cos(ang) * e0 + math.sin(ang) * e1]).to(ws[0])
        h = pair[None] * scale[:, None, None]  # (K, 2, N)

        def one_minus_c(h):
            hc = h
            num = (hc[:, 0] * hc[:, 1]).sum(-1)
            den = hc[:, 0].norm(dim=-1) * hc[:, 1].norm(dim=-1)
            return (1 - num / den).clamp_min(1e-16)

        first = one_minus_c(h)
        for w, b in zip(ws, bs, strict=True):
            h = torch.bmm(torch.tanh(h), w.transpose(1, 2)) + b[:, None, :]
        last = one_minus_c(h)
        return ((last / first) ** (1 / len(ws))).double().cpu().numpy()


# =========================================================================== 4. ReLU He length


class ReluHeConfig(ExperimentConfig):
    width: int = Field(100, ge=4)
    depth: int = Field(20, ge=2)
    nets: int = Field(200, ge=10)
    n_points: int = Field(256, ge=16)
    tolerance: float = Field(
        0.15, gt=0, description="allowed |E[length ratio] - 1| at the last layer"
    )

    _quick_overrides = {"width": 40, "depth": 12, "nets": 150, "n_points": 256}


@register
class ReluHeLength:
    """Hanin, Jeong & Rolnick (2022). Budget: default ~60 s, quick ~5 s."""

    name = "relu-he-length"
    title = "He-initialised ReLU nets keep the expected length; only its spread grows with depth"
    section = "curvature"
    order = 40
    Config = ReluHeConfig

    def run(self, config: ReluHeConfig, ctx: RunContext) -> Result:
        n = config.width
        gen = ctx.generator(4)
        circle = _circle(n, math.sqrt(n), gen)
        ws, bs = _stacked_mlp(
            [n] * (config.depth + 1), config.nets, 2.0, 0.0, gen, ctx.dtype, ctx.device
        )
        lens, _ = tj.mlp_lengths(ws, bs, torch.relu, circle, n=config.n_points)
        # relative to h^1: the first layer maps the raw input (not a ReLU output) and so has
        # gain sqrt(2) under He init; from there on E[speed^2] is preserved exactly
        ratio = lens[:, 1:] / lens[:, 1:2]  # (K, L), layer l = h^l
        layers = np.arange(1, ratio.shape[1] + 1)
        table = pd.DataFrame(
            {
                "net": np.repeat(np.arange(config.nets), len(layers)),
                "layer": np.tile(layers, config.nets),
                "length_ratio": ratio.ravel(),
            }
        )
        summary = (
            table.groupby("layer")["length_ratio"]
            .agg(mean="mean", std="std", var_log=lambda x: float(np.var(np.log(x))))
            .reset_index()
        )
        # the chaotic tanh contrast, same width and depth: sigma_w = 2.5
        m = _light_mean_field(2.5**2, 0.09)
        last = summary.iloc[-1]
        mean_ok = abs(last["mean"] - 1) <= config.tolerance
        v = summary[summary.layer >= 2]
        var_slope = _slope(v.layer, v.var_log)
        var_ok = var_slope > 0 and v.var_log.iloc[-1] >= 3 * v.var_log.iloc[0]
        se = last["std"] / math.sqrt(config.nets)
        claims = [
            Claim(
                id="hanin-jeong-rolnick-2022.he-mean-length-flat",
                statement="For He-initialised ReLU nets the expected length of a curve does not grow with depth.",
                source="Hanin, Jeong & Rolnick 2022; THEORY.md §1 (counterpoint)",
                predicted="E[L_l / L_1] ≈ 1 at every depth",
                measured=f"{last['mean']:.3f} ± {se:.3f} (s.e.) at depth {config.depth}; a chaotic tanh net (sigma_w=2.5) would give {m.length_ratio**config.depth:.3g}",
                tolerance=f"|E[L_{config.depth} / L_1] - 1| <= {config.tolerance}",
                verdict=verdict_from(bool(mean_ok)),
                note=(
                    f"{config.nets} nets of width {n}, zero biases. Under He init E[speed^2] is "
                    "preserved exactly from layer 1 on, so E[length] can only shrink (Jensen) as "
                    "the spread grows; Hanin, Jeong & Rolnick report such a slight shrinkage."
                ),
            ),
            Claim(
                id="hanin-jeong-rolnick-2022.he-variance-grows",
                statement="The spread of the length across initialisations grows with depth.",
                source="Hanin, Jeong & Rolnick 2022; Hanin & Rolnick 2018 (beta = sum 1/n_j)",
                predicted="Var(log length ratio) increasing with depth",
                measured=f"Var(log L_l/L_1) {v.var_log.iloc[0]:.4f} at layer 2 -> {v.var_log.iloc[-1]:.4f} at layer {config.depth}; slope {var_slope:.2e}/layer",
                tolerance="positive slope and last-layer variance >= 3x layer 2's",
                verdict=verdict_from(bool(var_ok)),
            ),
        ]
        from depthlab.plots.curvature import plot_relu_he

        figures = plot_relu_he(table, summary, ctx.out_dir)
        return Result(
            self.name,
            config.model_dump(),
            claims,
            {"ratios": table, "summary": summary},
            figures,
            {"mean_ratio_last": float(last["mean"]), "var_log_last": float(last["var_log"])},
        )


# =========================================================================== 5. transitions


class TransitionsConfig(ExperimentConfig):
    width: int = Field(32, ge=2)
    depth: int = Field(8, ge=2)
    input_dim: int = Field(8, ge=2)
    sigma_w2: list[float] = Field(default=[2.0, 4.0, 8.0, 16.0])
    sigma_b2: float = Field(0.1, ge=0)
    seeds: int = Field(3, ge=1)
    slope_range: tuple[float, float] = (0.75, 1.25)

    _quick_overrides = {"width": 16, "depth": 6, "sigma_w2": [2.0, 4.0, 8.0, 16.0], "seeds": 2}


@register
class TransitionsVsLength:
    """Raghu et al. (2017), hard-tanh. Budget: default ~60 s, quick ~6 s."""

    name = "transitions-vs-length"
    title = "Hard-tanh nets: linear pieces along a curve grow in proportion to its length"
    section = "curvature"
    order = 50
    Config = TransitionsConfig

    def run(self, config: TransitionsConfig, ctx: RunContext) -> Result:
        from depthlab.init import initialize
        from depthlab.nets import mlp

        gen = ctx.generator(5)
        rows = []
        pts = torch.randn(3, config.input_dim, generator=gen, dtype=torch.float64)
        curve = tj.closed_curve(pts)  # closed polyline through three random points
        jobs = [(sw2, s) for sw2 in config.sigma_w2 for s in range(config.seeds)]
        for sw2, s in ctx.progress.track(jobs, "hard-tanh nets"):
            net = mlp(
                [config.input_dim] + [config.width] * config.depth + [1], activation="hardtanh"
            )
            initialize(net, "custom", gen, sigma_b2=config.sigma_b2, sigma_w2=sw2)
            # the Linear layers h^1 .. h^{d+1} (the last one is the output)
            names = [str(2 * i) for i in range(config.depth + 1)]
            res = tj.length(net.to(torch.float64), curve, layers=names, method="exact")
            pieces = res.pieces[0]
            for li in range(1, config.depth + 1):
                # Raghu et al.: transitions of the hard-tanh units fed by h^li (the kinks they add
                # between h^li and h^{li+1}) against the length of h^li
                rows.append(
                    {
                        "sigma_w2": sw2,
                        "seed": s,
                        "layer": li,
                        "name": res.layers[li],
                        "length": res.lengths[0, li],
                        "pieces": int(pieces[li]),
                        "transitions": int(pieces[li + 1] - pieces[li]),
                    }
                )
        table = pd.DataFrame(rows)
        use = table[(table.layer >= 1) & (table.transitions >= 1)]
        slope = (
            _slope(np.log(use.length), np.log(use.transitions)) if len(use) >= 3 else float("nan")
        )
        corr = (
            float(np.corrcoef(np.log(use.length), np.log(use.transitions))[0, 1])
            if len(use) >= 3
            else float("nan")
        )
        lo, hi = config.slope_range
        ok = None if not math.isfinite(slope) else bool(lo <= slope <= hi)
        claims = [
            Claim(
                id="raghu-2017.transitions-proportional-to-length",
                statement="The number of sign transitions of a layer's units along a curve grows in proportion to the length of the curve they see.",
                source="Raghu et al. 2017, Theorem 1 and Fig. 2; THEORY.md §1",
                predicted="log-log slope 1",
                measured=f"slope {slope:.3f} (correlation {corr:.3f}) over {len(use)} (net, layer) pairs",
                tolerance=f"log-log slope of transitions against exact length in [{lo}, {hi}]",
                verdict=verdict_from(ok),
                note="both counted exactly by the piecewise-linear engine (depthlab.pl)",
            )
        ]
        from depthlab.plots.curvature import plot_transitions

        figures = plot_transitions(table, ctx.out_dir)
        return Result(
            self.name,
            config.model_dump(),
            claims,
            {"transitions": table},
            figures,
            {"loglog_slope": slope, "log_correlation": corr},
        )
