"""Shared pieces of the curvature experiments (lecture slide 17; THEORY.md §1).

Random MLPs are drawn as stacked weight tensors (:func:`stacked_mlp`) and measured all at once
with :func:`depthlab.trajectory.mlp_lengths` (exact velocities, midpoint rule on the speed);
:func:`light_mean_field` gives tanh's mean-field quantities the claims compare against.
The experiments: :mod:`~depthlab.experiments.curvature_length` (``curve-length-depth``,
``curve-length-width``), :mod:`~depthlab.experiments.curvature_phase` (``phase-diagram``) and
:mod:`~depthlab.experiments.curvature_relu` (``relu-he-length``, ``transitions-vs-length``).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch

from depthlab import evidence
from depthlab import trajectory as tj
from depthlab.theory import meanfield as mf


def stacked_mlp(
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


def random_circle(n_dim: int, radius: float, gen: torch.Generator) -> tj.Curve:
    """A great circle of ``radius`` through two standard Gaussian directions in ``R^n_dim``."""
    u0, u1 = torch.randn(2, n_dim, generator=gen, dtype=torch.float64)
    return tj.great_circle(u0, u1, radius=radius)


class MeanField(NamedTuple):
    """tanh's fixed point ``q*``, ``chi_1``, ``chi_2`` and the per-layer length ratio sqrt(chi_1)."""

    sigma_w2: float
    sigma_b2: float
    q_star: float
    chi_1: float
    chi_2: float
    length_ratio: float


def light_mean_field(sw2: float, sb2: float) -> MeanField:
    """q*, chi_1, chi_2 for tanh (no 2-D integrals: those are not needed here)."""
    q = float(mf.qstar(torch.tanh, sw2, sb2))
    c1 = float(mf.chi1(torch.tanh, sw2, sb2, q=q))
    return MeanField(sw2, sb2, q, c1, float(mf.chi2(torch.tanh, sw2, sb2, q=q)), math.sqrt(c1))


def shallow_worst_case(
    k: int,
    basis: tuple[torch.Tensor, torch.Tensor],
    radius: float,
    restarts: int,
    steps: int,
    lr: float,
    segments: int,
    gen: torch.Generator,
) -> np.ndarray:
    """Gradient ascent on the length of ``tanh(W x(t) + b)`` over the weights of one hidden layer
    of width ``k``, for a circle ``x(t)`` of ``radius`` in the plane of the orthonormal ``basis``.

    The length is the polyline through ``segments + 1`` equally spaced points of the circle: an
    inscribed length, never above the true one, and never above the bound ``4 k`` of
    :func:`depthlab.theory.meanfield.shallow_length_bound`, so the ascent cannot exploit the
    discretisation. ``restarts`` independent starts are ascended together (Adam, ``steps`` steps).
    Each unit is ``W_i = e^{s_i} v_i / |v_i|`` and ``b_i = e^{s_i} a_i tanh(beta_i)``, with ``a_i``
    the amplitude of ``v_i / |v_i| . x(t)``: every weight vector and bias is reachable (the scale
    grows geometrically, and the bias can put the unit's zero anywhere on its range). Returns the
    final polyline lengths, one per restart.
    """
    e0, e1 = (e.to(torch.float64) for e in basis)
    d = e0.numel()
    t = torch.arange(segments + 1, dtype=torch.float64) / segments * (2 * math.pi)
    x = radius * (torch.cos(t)[:, None] * e0 + torch.sin(t)[:, None] * e1)  # (T + 1, d)
    v = torch.randn(restarts, k, d, generator=gen, dtype=torch.float64).requires_grad_()
    s = torch.full((restarts, k), math.log(4.0), dtype=torch.float64, requires_grad=True)
    beta = (0.5 * torch.randn(restarts, k, generator=gen, dtype=torch.float64)).requires_grad_()
    opt = torch.optim.Adam([v, s, beta], lr=lr)

    def length() -> torch.Tensor:
        vh = v / v.norm(dim=2, keepdim=True)
        amp = radius * torch.sqrt((vh @ e0) ** 2 + (vh @ e1) ** 2)
        scale = s.exp()
        h = torch.tanh(
            torch.einsum("td,rkd->rtk", x, scale[..., None] * vh)
            + (scale * amp * torch.tanh(beta))[:, None, :]
        )
        return (h[:, 1:] - h[:, :-1]).norm(dim=2).sum(1)

    for _ in range(steps):
        opt.zero_grad()
        (-length().sum()).backward()
        opt.step()
    with torch.no_grad():
        return length().numpy()


DESIGN_DATE = "2026-12-02"  # when the evidence-based designs of issue 13 were fixed


def _boot_seed(*key: object) -> np.random.SeedSequence:
    """The bootstrap's resampling stream, named by the claim (no arithmetic on seeds)."""
    text = "|".join(map(str, ("depthlab-bootstrap", *key)))
    return np.random.SeedSequence(list(text.encode()))


def bootstrap_estimate(
    units: np.ndarray, statistic, *, unit: str, name: str, key: str
) -> evidence.Estimate:
    """``statistic`` of the rows of ``units`` (one row per independent unit) with its 95 %
    percentile bootstrap interval over the rows."""
    units = np.asarray(units, dtype=np.float64)
    value = float(statistic(units))
    iv = evidence.bootstrap(units, statistic, seed=_boot_seed(key))
    lo, hi = iv if iv else (None, None)
    return evidence.Estimate(
        value, lo, hi, int(units.shape[0]), "bootstrap over " + unit, unit, name
    )


def fit_slope(x, y) -> float:
    """Least-squares slope of ``y`` against ``x``."""
    return float(np.polyfit(np.asarray(x, float), np.asarray(y, float), 1)[0])


__all__ = [
    "DESIGN_DATE",
    "MeanField",
    "bootstrap_estimate",
    "fit_slope",
    "light_mean_field",
    "random_circle",
    "shallow_worst_case",
    "stacked_mlp",
]
