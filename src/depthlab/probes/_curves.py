"""Curves in input space for :mod:`depthlab.probes.trajectory`: the parametrised curve type and
the great circle, segment and closed-curve constructors (split from trajectory.py, unchanged)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch


@dataclass(frozen=True)
class Curve:
    """A curve ``x(t)``, ``t in [0, 1]``, in a model's input space.

    Attributes
    ----------
    kind : ``"great_circle"``, ``"segment"``, ``"closed_polyline"`` or ``"closed_spline"``.
    shape : the input shape (no batch dim).
    closed : whether ``x(0) = x(1)``.
    vertices : ``(K, *shape)`` for polylines (closed ones repeat the first vertex at the end),
        else None.
    """

    kind: str
    shape: tuple[int, ...]
    closed: bool
    vertices: torch.Tensor | None
    _fn: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]] = field(repr=False)

    def points(self, t: torch.Tensor) -> torch.Tensor:
        """``x(t)``: ``(T,) -> (T, *shape)``."""
        return self._fn(t)[0]

    def velocity(self, t: torch.Tensor) -> torch.Tensor:
        """``dx/dt``: ``(T,) -> (T, *shape)``."""
        return self._fn(t)[1]

    @property
    def input_length(self) -> float:
        """Length in input space (exact for polylines and circles)."""
        if self.vertices is not None:
            v = self.vertices.flatten(1).to(torch.float64)
            return float((v[1:] - v[:-1]).norm(dim=1).sum())
        t = (torch.arange(4096, dtype=torch.float64) + 0.5) / 4096
        return float(self.velocity(t).flatten(1).double().norm(dim=1).mean())


def _polyline_fn(v: torch.Tensor):
    v = v.detach().to(torch.float64)  # points in float64; cast to the model's dtype on use
    k = v.shape[0] - 1  # number of edges

    def fn(t: torch.Tensor):
        s = (t.to(dtype=v.dtype, device=v.device) * k).clamp(0, k)
        i = s.floor().long().clamp(max=k - 1)
        frac = (s - i).view(-1, *([1] * (v.dim() - 1)))
        d = v[i + 1] - v[i]
        return v[i] + frac * d, d * k

    return fn


def great_circle(u0: torch.Tensor, u1: torch.Tensor, radius: float = 1.0) -> Curve:
    """The great circle ``radius (e0 cos 2πt + e1 sin 2πt)`` in the plane of ``u0`` and ``u1``.

    ``e0, e1`` are ``u0, u1`` made orthonormal (Gram–Schmidt). Its length is ``2π radius``.
    Poole et al. use ``radius = sqrt(N q*)`` so that every point sits at the fixed point ``q*``.
    """
    if u0.shape != u1.shape:
        raise ValueError(f"u0 and u1 must have one shape, got {tuple(u0.shape)}, {tuple(u1.shape)}")
    u0, u1 = u0.detach().to(torch.float64), u1.detach().to(torch.float64)  # points in float64
    e0 = u0 / u0.norm()
    w = u1 - (u1 * e0).sum() * e0
    if float(w.norm()) <= 1e-10 * float(u1.norm()):
        raise ValueError("u0 and u1 are parallel: a great circle needs two independent directions")
    e1 = w / w.norm()

    def fn(t: torch.Tensor):
        a = (2 * math.pi * t.to(dtype=e0.dtype, device=e0.device)).view(-1, *([1] * e0.dim()))
        x = radius * (torch.cos(a) * e0 + torch.sin(a) * e1)
        v = 2 * math.pi * radius * (-torch.sin(a) * e0 + torch.cos(a) * e1)
        return x, v

    return Curve("great_circle", tuple(u0.shape), True, None, fn)


def segment(a: torch.Tensor, b: torch.Tensor) -> Curve:
    """The line segment ``a + t (b - a)``."""
    if a.shape != b.shape:
        raise ValueError(f"a and b must have one shape, got {tuple(a.shape)}, {tuple(b.shape)}")
    v = torch.stack([a, b])
    return Curve("segment", tuple(a.shape), False, v, _polyline_fn(v))


def closed_curve(
    points: torch.Tensor, interpolation: Literal["linear", "cubic"] = "linear"
) -> Curve:
    """A closed curve through ``points`` ``(K, *shape)``, e.g. three MNIST-1D samples.

    ``"linear"``: the closed polyline (exact lengths for PL nets). ``"cubic"``: the periodic cubic
    spline through the points at equal parameter steps (smooth, so curvature is defined).
    """
    if points.dim() < 2 or points.shape[0] < 2:
        raise ValueError(f"points must be (K >= 2, *shape), got {tuple(points.shape)}")
    if interpolation == "linear":
        v = torch.cat([points, points[:1]])
        return Curve("closed_polyline", tuple(points.shape[1:]), True, v, _polyline_fn(v))
    if interpolation != "cubic":
        raise ValueError(f"interpolation must be 'linear' or 'cubic', got {interpolation!r}")
    from scipy.interpolate import CubicSpline

    k = points.shape[0]
    flat = points.detach().flatten(1).cpu().double().numpy()
    spline = CubicSpline(np.arange(k + 1) / k, np.vstack([flat, flat[:1]]), bc_type="periodic")
    dspline = spline.derivative()

    def fn(t: torch.Tensor):
        tt = t.detach().cpu().double().numpy() % 1.0
        to = dict(dtype=points.dtype, device=points.device)
        x = torch.as_tensor(spline(tt), **to).view(-1, *points.shape[1:])
        dx = torch.as_tensor(dspline(tt), **to).view(-1, *points.shape[1:])
        return x, dx

    return Curve("closed_spline", tuple(points.shape[1:]), True, None, fn)
