"""The order-to-chaos phase diagram of tanh nets (lecture slide 17; THEORY.md §1).

``phase-diagram``: the ``chi_1 = 1`` edge of chaos for tanh beside measured length growth and
correlation decay on a ``(sigma_w^2, sigma_b^2)`` grid, one random net per grid point, all
drawn as stacked weight tensors (:func:`~depthlab.experiments._curvature_common.stacked_mlp`).

Design (fixed before its first run at this design)
--------------------------------------------------
- A 15 x 10 grid of (sigma_w^2, sigma_b^2) in [0.5, 4] x [0.02, 0.3]; width 300, depth 10; **one
  random net per grid point, the independent unit** (each net has its own weights).
- ``poole-2016.phase-boundary-length`` and ``schoenholz-2017.phase-boundary-correlation``: among
  the grid points with |chi_1 - 1| >= 0.1 (off the boundary), the fraction whose measured growth
  (per-layer length growth; per-layer growth of 1 - c for two inputs at c = 0.99) is on the side of
  1 that chi_1 predicts; exact Clopper-Pearson 95 % interval; region ``>= 0.95`` (the old 95 %
  agreement, now on the interval's lower end).
- ``schoenholz-2017.critical-sigma-w2``: a construction (quadrature against the tabled 1.761).
- Paper scale (one GPU): a 40 x 20 grid, width 1000, depth 20.

Measured at default scale (design commit c9d0234; ``depthlab run phase-diagram``)
---------------------------------------------------------------------------
- phase-boundary-length: 113 of 113 off-boundary nets agree, 95% [0.968, 1]: holds (>= 0.95).
- phase-boundary-correlation: 113 of 113, 95% [0.968, 1]: holds.
- critical-sigma-w2 (construction): 1.76095 against 1.761: holds.
Time: 47-59 s wall on one core of a loaded 2-core machine.
"""

from __future__ import annotations

import math
from typing import Annotated

import numpy as np
import pandas as pd
import torch
from pydantic import Field

from depthlab import evidence
from depthlab import trajectory as tj
from depthlab.config import ExperimentConfig
from depthlab.context import RunContext
from depthlab.core import Change, Claim, Region, Result
from depthlab.experiments._curvature_common import (
    stacked_mlp,
)
from depthlab.experiments.base import register
from depthlab.theory import meanfield as mf

AGREEMENT = 0.95
SW2 = Annotated[float, Field(gt=0, le=100)]
SB2 = Annotated[float, Field(ge=0, le=10)]


class PhaseDiagramConfig(ExperimentConfig):
    sigma_w2: list[SW2] = Field(
        default=[float(x) for x in np.round(np.linspace(0.5, 4.0, 15), 3)],
        min_length=1,
        max_length=200,
    )
    sigma_b2: list[SB2] = Field(
        default=[float(x) for x in np.round(np.linspace(0.02, 0.3, 10), 3)],
        min_length=1,
        max_length=200,
    )
    width: int = Field(300, ge=8, le=16_384)
    depth: int = Field(10, ge=2, le=200)
    n_points: int = Field(128, ge=16, le=65_536)
    margin: float = Field(
        0.1, gt=0, le=1, description="points with |chi_1 - 1| < margin are 'on the boundary'"
    )

    _quick_overrides = {
        "sigma_w2": [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0],
        "sigma_b2": [0.02, 0.1, 0.2, 0.3],
        "width": 100,
        "depth": 8,
        "n_points": 64,
    }
    _tiny_overrides = {"sigma_w2": [0.5, 3.0], "sigma_b2": [0.05], "width": 32, "depth": 3}
    _paper_overrides = {
        "sigma_w2": [float(x) for x in np.round(np.linspace(0.5, 4.0, 40), 4)],
        "sigma_b2": [float(x) for x in np.round(np.linspace(0.02, 0.3, 20), 4)],
        "width": 1000,
        "depth": 20,
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
        gen = ctx.generator("phase-diagram", "nets")
        ws, bs = stacked_mlp(
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
        crit = mf.critical_sigma_w2(torch.tanh, 0.05)
        claims = self.claims(table, crit, config)
        return Result(
            self.name,
            config.model_dump(),
            claims,
            {"grid": table},
            {},
            {
                "critical_sigma_w2_at_sigma_b2_0.05": crit,
                "agreement_length": float(claims[0].estimate)
                if claims[0].estimate is not None
                else float("nan"),
            },
        )

    def figures(self, result: Result, fig_dir) -> dict[str, str]:
        from depthlab.plots.curvature import plot_phase_diagram

        grid = result.tables["grid"]
        if grid.sigma_w2.nunique() < 2 or grid.sigma_b2.nunique() < 2:
            return {}  # no heat map from a degenerate grid
        return plot_phase_diagram(grid, fig_dir.parent)

    @staticmethod
    def claims(table: pd.DataFrame, crit: float, config: PhaseDiagramConfig) -> list[Claim]:
        off = (table.chi_1 - 1).abs() >= config.margin
        n_off = int(off.sum())
        design = (
            f"Design: width {config.width}, depth {config.depth}, one random net per grid point "
            f"(the unit; {len(table)} points, {n_off} with |chi_1 - 1| >= {config.margin:g}); "
            "exact Clopper-Pearson interval of the agreeing fraction."
        )
        history = (
            Change(
                "2026-12-02",
                "rule",
                f"observed agreement >= {AGREEMENT:.0%}",
                f"Clopper-Pearson 95% interval of the agreement at or above {AGREEMENT:g}",
                "issue 13: decide from an interval over the independent nets",
            ),
        )
        out = []
        for cid, col, statement, src, stat in (
            (
                "poole-2016.phase-boundary-length",
                "length_growth",
                "Measured per-layer length growth exceeds 1 exactly where chi_1 > 1 (away from "
                "the boundary).",
                "Poole et al. 2016; Schoenholz et al. 2017; THEORY.md §1",
                "growth > 1 iff chi_1 > 1",
            ),
            (
                "schoenholz-2017.phase-boundary-correlation",
                "corr_growth",
                "Nearby inputs decorrelate (1 - c grows) exactly in the chaotic phase and converge "
                "in the ordered phase.",
                "Schoenholz et al. 2017; THEORY.md §1",
                "(1 - c) growth > 1 iff chi_1 > 1",
            ),
        ):
            agree = ((table[col] > 1) == (table.chi_1 > 1))[off]
            k = int(agree.sum())
            if n_off == 0:
                est = evidence.Estimate(float("nan"), None, None, 0, "none", "nets", "fraction")
            else:
                est = evidence.fraction(k, n_off, unit="nets", statistic="fraction agreeing")
            out.append(
                evidence.empirical(
                    cid,
                    statement,
                    src,
                    est,
                    Region.at_least(AGREEMENT),
                    predicted=stat,
                    measured=f"{k} of {n_off} off-boundary grid points agree",
                    tolerance=f"95% interval of the agreeing fraction among points with "
                    f"|chi_1 - 1| >= {config.margin:g} lies at or above {AGREEMENT:g}",
                    note=design,
                    history=history,
                )
            )
        out.append(
            evidence.construction(
                "schoenholz-2017.critical-sigma-w2",
                "For tanh at sigma_b^2 = 0.05 the order-to-chaos transition is at sigma_w^2 = "
                "1.761.",
                "THEORY.md §1 [checked]",
                abs(crit - 1.761) <= 5e-4,
                predicted=1.761,
                measured=round(crit, 4),
                tolerance="|measured - 1.761| <= 5e-4 (quadrature, no sampling)",
                note="A check of the mean-field formula by quadrature, not a measurement.",
            )
        )
        return out

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


__all__ = ["PhaseDiagram", "PhaseDiagramConfig"]
