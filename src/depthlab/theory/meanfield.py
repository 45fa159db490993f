"""Mean-field theory of signal propagation in wide random networks (THEORY.md §1).

Setup: ``h^l = W^l phi(h^{l-1}) + b^l`` with ``W_ij ~ N(0, sigma_w^2 / N)`` and
``b_i ~ N(0, sigma_b^2)``, in the limit of infinite width ``N``. Every Gaussian integral
``∫Dz f(z)`` (``Dz`` the standard normal measure) is done by Gauss–Hermite quadrature in
float64; derivatives of the activation come from autograd, so any elementwise torch function
works (``torch.tanh``, ``torch.erf``, a lambda, or a name from :data:`depthlab.nets.ACTIVATIONS`).

Quantities (Poole et al. 2016; Schoenholz et al. 2017):

- **q-map** ``q^l = sigma_w^2 ∫Dz phi(sqrt(q^{l-1}) z)^2 + sigma_b^2``; its stable fixed point is
  ``q*`` (:func:`qstar`).
- **c-map** ``c^l = (sigma_w^2 ∫Dz1 Dz2 phi(u1) phi(u2) + sigma_b^2) / q*`` with
  ``u1 = sqrt(q*) z1``, ``u2 = sqrt(q*) (c z1 + sqrt(1 - c^2) z2)``; its stable fixed point is
  ``c*`` (:func:`cstar`).
- ``chi_1 = sigma_w^2 ∫Dz phi'(sqrt(q*) z)^2`` (:func:`chi1`), the slope of the c-map at
  ``c = 1``: ``chi_1 < 1`` is the ordered phase, ``chi_1 > 1`` the chaotic phase.
- ``chi_2 = sigma_w^2 ∫Dz phi''(sqrt(q*) z)^2`` (:func:`chi2`).
- Depth scales (:func:`depth_scale`): ``xi_q^{-1} = -log(chi_1 + sigma_w^2 ∫Dz phi'' phi)``
  (the slope of the q-map at ``q*``) and ``xi_c^{-1} = -log(sigma_w^2 ∫∫ phi'(u1) phi'(u2))``
  at ``(q*, c*)``; in the ordered phase ``c* = 1`` and ``xi_c = -1 / log chi_1``.
- Length of a great circle of radius ``sqrt(N q*)`` after ``l - 1`` further layers:
  ``2π sqrt(N q* chi_1^{l-1})`` (:func:`predicted_length`).
- Curvature recursion (:func:`curvature_recursion`), in units rescaled by ``sqrt(N)``
  (``kbar = sqrt(N) kappa``, so ``kbar^1 = 1 / sqrt(q*)`` for the circle):
  ``kbar_l^2 = 3 chi_2 / chi_1^2 + kbar_{l-1}^2 / chi_1``.

References
----------
Poole, Lahiri, Raghu, Sohl-Dickstein, Ganguli (2016), "Exponential expressivity in deep neural
networks through transient chaos", NeurIPS.
Schoenholz, Gilmer, Ganguli, Sohl-Dickstein (2017), "Deep information propagation", ICLR.

Examples
--------
>>> import torch
>>> from depthlab.theory import meanfield as mf
>>> round(mf.qstar(torch.tanh, 2.5**2, 0.3**2), 3), round(mf.chi1(torch.tanh, 2.5**2, 0.3**2), 3)
(4.079, 1.585)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
import pandas as pd
import torch

Activation = Callable[[torch.Tensor], torch.Tensor] | str


# --------------------------------------------------------------------------- quadrature


@lru_cache(maxsize=32)
def _gh(n: int) -> tuple[np.ndarray, np.ndarray]:
    if not 1 <= n <= 300:
        raise ValueError(f"Gauss-Hermite needs 1 <= n <= 300 nodes, got {n}")
    z, w = np.polynomial.hermite_e.hermegauss(n)
    return z, w / math.sqrt(2.0 * math.pi)


def gauss_hermite(n: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights for ``∫Dz f(z) ≈ sum_i w_i f(z_i)`` under the standard normal.

    Probabilists' Gauss–Hermite rule (``numpy.polynomial.hermite_e``) with the weights divided
    by ``sqrt(2π)`` so they sum to one. Exact for polynomials of degree ``<= 2n - 1``, but slow
    to converge for ``phi(sqrt(q) z)`` at large ``q`` (``tanh`` at ``q = 12.6`` needs more than
    200 nodes for 3 digits of ``chi_1``), which is why :func:`gaussian_rule` is the default.

    Returns
    -------
    z, w : arrays of shape ``(n,)``.
    """
    z, w = _gh(int(n))
    return z.copy(), w.copy()


@dataclass(frozen=True)
class Quadrature:
    """How Gaussian integrals are done.

    ``method="panel"`` (default): composite Gauss–Legendre on ``mean ± span·std`` of the
    Gaussian. Panel edges: a uniform grid in std units, a grid of width ``h`` in the
    activation's own units over ``|u| <= u_fine`` (where activations bend), and the ``kinks``
    (where ReLU, leaky ReLU, abs and hard-tanh bend), so the integrand is smooth on every panel
    and the rule converges fast for any activation and any ``q``, with a node count that does
    not depend on ``q``.
    ``method="hermite"``: ``n``-point Gauss–Hermite (fast for smooth ``phi`` at small ``q``).
    """

    method: Literal["panel", "hermite"] = "panel"
    h: float = 0.25
    order: int = 10
    span: float = 9.0
    kinks: tuple[float, ...] = (-1.0, 0.0, 1.0)
    u_fine: float = 8.0
    n: int = 100

    def __post_init__(self) -> None:
        if self.method not in ("panel", "hermite"):
            raise ValueError(f"quadrature method must be 'panel' or 'hermite', got {self.method!r}")


DEFAULT = Quadrature()
#: A coarser rule for the 2-D (c-map) integrals, which cost the square of a 1-D one.
DEFAULT_2D = Quadrature(h=1.0, order=8)


def gaussian_rule(
    mean: np.ndarray, var: np.ndarray, quad: Quadrature = DEFAULT
) -> tuple[np.ndarray, np.ndarray]:
    """Nodes ``u`` and weights ``w``, each ``(..., K)``, with ``sum_k w f(u) ≈ E f(U)``,
    ``U ~ N(mean, var)``; ``mean`` and ``var`` broadcast (``var = 0`` gives ``f(mean)``)."""
    mean, var = np.broadcast_arrays(np.asarray(mean, float), np.asarray(var, float))
    s = np.sqrt(np.maximum(var, 0.0))
    if quad.method == "hermite":
        z, w = _gh(quad.n)
        return mean[..., None] + s[..., None] * z, np.broadcast_to(w, (*mean.shape, len(z)))
    s_safe = np.maximum(s, 1e-300)[..., None]
    # panel edges in std units: a uniform grid over ±span std, a grid of width h in the
    # activation's units over |u| <= u_fine (where activations bend), and the kinks
    n_std = max(2, math.ceil(2 * quad.span / min(quad.h, 0.5)))
    base = np.broadcast_to(np.linspace(-quad.span, quad.span, n_std + 1), (*s.shape, n_std + 1))
    fine_u = np.concatenate([np.arange(-quad.u_fine, quad.u_fine + quad.h / 2, quad.h), quad.kinks])
    fine = (fine_u - mean[..., None]) / s_safe
    edges = np.sort(np.concatenate([base, np.clip(fine, -quad.span, quad.span)], -1), -1)
    a, b = edges[..., :-1], edges[..., 1:]  # (..., P)
    x, gw = np.polynomial.legendre.leggauss(quad.order)
    t = ((a + b) / 2)[..., None] + ((b - a) / 2)[..., None] * x  # (..., P, order)
    w = ((b - a) / 2)[..., None] * gw * np.exp(-0.5 * t**2) / math.sqrt(2 * math.pi)
    t = t.reshape(*s.shape, -1)
    return mean[..., None] + s[..., None] * t, w.reshape(*s.shape, -1)


def gaussian_expectation(
    f: Callable[[np.ndarray], np.ndarray], q: float = 1.0, quad: Quadrature = DEFAULT
) -> float:
    """``∫Dz f(sqrt(q) z)`` for a vectorised numpy function ``f``."""
    u, w = gaussian_rule(np.asarray(0.0), np.asarray(q, float), quad)
    return float(np.sum(np.asarray(f(u), dtype=float) * w))


# --------------------------------------------------------------------------- activations


def resolve_activation(phi: Activation) -> Callable[[torch.Tensor], torch.Tensor]:
    """A torch function from a callable or a name in :data:`depthlab.nets.ACTIVATIONS`."""
    if isinstance(phi, str):
        from depthlab.nets.activations import activation_fn

        return activation_fn(phi)
    if not callable(phi):
        raise TypeError(f"activation must be a torch function or a name, got {type(phi).__name__}")
    return phi


def derivatives(phi: Activation, u: torch.Tensor, order: int = 2) -> list[torch.Tensor]:
    """``[phi(u), phi'(u), ..., phi^(order)(u)]`` elementwise, by autograd (float64 in, out).

    Where autograd has no second derivative (ReLU, hard-tanh) the result is 0, the derivative
    almost everywhere.
    """
    fn = resolve_activation(phi)
    u = u.detach().to(torch.float64).requires_grad_(True)
    with torch.enable_grad():
        out = [fn(u)]
        cur = out[0]
        for k in range(order):
            if not cur.requires_grad:
                cur = torch.zeros_like(u)
            else:
                (cur,) = torch.autograd.grad(
                    cur.sum(), u, create_graph=k < order - 1, allow_unused=True
                )
                if cur is None:
                    cur = torch.zeros_like(u)
            out.append(cur)
    return [t.detach() for t in out]


def _phi_values(phi: Activation, u: np.ndarray, order: int) -> list[np.ndarray]:
    if order == 0:
        with torch.no_grad():
            return [resolve_activation(phi)(torch.from_numpy(np.asarray(u, float))).numpy()]
    return [t.numpy() for t in derivatives(phi, torch.from_numpy(np.asarray(u, float)), order)]


def _scalar(x: np.ndarray) -> float | np.ndarray:
    return float(x) if np.ndim(x) == 0 else x


# --------------------------------------------------------------------------- the maps


def _moments(phi: Activation, q: np.ndarray, quad: Quadrature, order: int) -> list[np.ndarray]:
    """``[E phi(u)^2, E phi'(u)^2, E phi''(u)^2, E phi(u) phi''(u)]`` (first ``order + 1`` of them
    as needed) for ``u = sqrt(q) z``, each of the shape of ``q``."""
    u, w = gaussian_rule(np.zeros_like(q), q, quad)
    vals = _phi_values(phi, u, order)
    out = [np.sum(vals[0] ** 2 * w, -1)]
    if order >= 1:
        out.append(np.sum(vals[1] ** 2 * w, -1))
    if order >= 2:
        out.append(np.sum(vals[2] ** 2 * w, -1))
        out.append(np.sum(vals[0] * vals[2] * w, -1))
    return out


def q_map(
    q: float | np.ndarray,
    phi: Activation,
    sigma_w2: float | np.ndarray,
    sigma_b2: float | np.ndarray,
    quad: Quadrature = DEFAULT,
) -> float | np.ndarray:
    """One step of the length map ``q -> sigma_w^2 ∫Dz phi(sqrt(q) z)^2 + sigma_b^2``.

    ``q``, ``sigma_w2`` and ``sigma_b2`` broadcast together (arrays of any shape).
    """
    q, sw, sb = np.broadcast_arrays(
        np.asarray(q, float), np.asarray(sigma_w2, float), np.asarray(sigma_b2, float)
    )
    return _scalar(sw * _moments(phi, np.maximum(q, 0.0), quad, 0)[0] + sb)


def qstar(
    phi: Activation,
    sigma_w2: float | np.ndarray,
    sigma_b2: float | np.ndarray,
    q0: float = 1.0,
    tol: float = 1e-13,
    max_iter: int = 5000,
    quad: Quadrature = DEFAULT,
) -> float | np.ndarray:
    """The stable fixed point ``q*`` of the length map, by iterating it from ``q0``.

    Iterating the monotone q-map converges to the stable fixed point reached from ``q0``.
    Returns ``inf`` where the iterates grow without bound (e.g. ReLU with ``sigma_w^2 > 2``)
    and the last iterate, with a ``RuntimeWarning``, where ``max_iter`` is reached first (near a
    critical point convergence is algebraic, not geometric). Broadcasts over arrays.
    """
    sw, sb = np.broadcast_arrays(np.asarray(sigma_w2, float), np.asarray(sigma_b2, float))
    if np.any(sw < 0) or np.any(sb < 0):
        raise ValueError("sigma_w2 and sigma_b2 must be >= 0")
    q = np.full(sw.shape, float(q0))
    done = np.zeros(sw.shape, bool)
    for _ in range(max_iter):
        live = ~done
        new = np.asarray(q_map(q[live], phi, sw[live], sb[live], quad))
        blown = new > 1e12
        new = np.where(blown, np.inf, new)
        step = np.abs(new - q[live]) <= tol * np.maximum(1.0, np.abs(new))
        q[live] = new
        done[live] = step | blown
        if done.all():
            break
    else:
        warnings.warn(
            f"qstar: {int((~done).sum())} point(s) not converged in {max_iter} iterations "
            "(near a critical point?)",
            RuntimeWarning,
            stacklevel=2,
        )
    return _scalar(q)


def _pair_moment(phi: Activation, q: float, c: float, quad: Quadrature, derivative: int) -> float:
    """``E[phi^(k)(u1) phi^(k)(u2)]`` for unit-correlation ``c`` pairs of variance ``q``.

    Nested 1-D rules: ``u1 ~ N(0, q)``, then ``u2 | u1 ~ N(c u1, q (1 - c^2))``, so the kinks of
    ``phi`` are panel edges in both integrals.
    """
    c = float(np.clip(c, -1.0, 1.0))
    u1, w1 = gaussian_rule(np.asarray(0.0), np.asarray(q), quad)  # (K,)
    u2, w2 = gaussian_rule(c * u1, np.full(u1.shape, q * (1.0 - c * c)), quad)  # (K, K2)
    f1 = _phi_values(phi, u1, derivative)[derivative]
    f2 = _phi_values(phi, u2, derivative)[derivative]
    return float(np.sum(w1 * f1 * np.sum(w2 * f2, -1)))


def c_map(
    c: float,
    phi: Activation,
    sigma_w2: float,
    sigma_b2: float,
    q: float | None = None,
    quad: Quadrature = DEFAULT_2D,
) -> float:
    """One step of the correlation map at ``q`` (default ``q*``).

    ``c -> (sigma_w^2 ∫Dz1 Dz2 phi(u1) phi(u2) + sigma_b^2) / q``.
    """
    if q is None:
        q = float(qstar(phi, sigma_w2, sigma_b2))
    return (sigma_w2 * _pair_moment(phi, q, c, quad, 0) + sigma_b2) / q


def cstar(
    phi: Activation,
    sigma_w2: float,
    sigma_b2: float,
    tol: float = 1e-12,
    quad: Quadrature = DEFAULT_2D,
) -> float:
    """The stable fixed point ``c*`` of the correlation map in ``[-1, 1]``.

    ``c* = 1`` in the ordered phase (``chi_1 <= 1``). In the chaotic phase ``c = 1`` is unstable
    and ``c*`` is the root of ``c_map(c) - c`` below 1, found by Brent's method.
    """
    from scipy.optimize import brentq

    q = float(qstar(phi, sigma_w2, sigma_b2))
    if not math.isfinite(q) or q <= 0:
        return float("nan")
    if float(chi1(phi, sigma_w2, sigma_b2, q=q)) <= 1.0:
        return 1.0
    g = lambda c: c_map(c, phi, sigma_w2, sigma_b2, q=q, quad=quad) - c  # noqa: E731
    hi = 1.0 - 1e-6
    while g(hi) >= 0 and hi > 0.5:  # step back until below the unstable root at 1
        hi = 1.0 - 10 * (1.0 - hi)
    lo = -1.0 + 1e-6  # c = -1 is a fixed point too when phi is odd and sigma_b = 0
    if g(lo) <= 0:
        return -1.0
    return float(brentq(g, lo, hi, xtol=tol))


def _chi(
    phi: Activation,
    sigma_w2: float | np.ndarray,
    sigma_b2: float | np.ndarray,
    which: str,
    q: float | np.ndarray | None,
    quad: Quadrature,
) -> float | np.ndarray:
    sw, sb = np.broadcast_arrays(np.asarray(sigma_w2, float), np.asarray(sigma_b2, float))
    qq = np.broadcast_to(
        np.asarray(qstar(phi, sw, sb, quad=quad) if q is None else q, float), sw.shape
    )
    ok = np.isfinite(qq)
    _, e1, e2, e02 = _moments(phi, np.where(ok, qq, 0.0), quad, 2)
    val = {"chi1": e1, "chi2": e2, "qslope": e1 + e02}[which]
    return _scalar(np.where(ok, sw * val, np.nan))


def chi1(
    phi: Activation,
    sigma_w2: float | np.ndarray,
    sigma_b2: float | np.ndarray,
    q: float | np.ndarray | None = None,
    quad: Quadrature = DEFAULT,
) -> float | np.ndarray:
    """``chi_1 = sigma_w^2 ∫Dz phi'(sqrt(q*) z)^2``: the squared per-layer stretch of a curve.

    ``chi_1 > 1`` is the chaotic phase (lengths grow like ``chi_1^{l/2}``), ``< 1`` the ordered
    one. Broadcasts over arrays of ``sigma_w2`` / ``sigma_b2``. ``q`` defaults to ``q*``.
    """
    return _chi(phi, sigma_w2, sigma_b2, "chi1", q, quad)


def chi2(
    phi: Activation,
    sigma_w2: float | np.ndarray,
    sigma_b2: float | np.ndarray,
    q: float | np.ndarray | None = None,
    quad: Quadrature = DEFAULT,
) -> float | np.ndarray:
    """``chi_2 = sigma_w^2 ∫Dz phi''(sqrt(q*) z)^2``, which drives the curvature recursion."""
    return _chi(phi, sigma_w2, sigma_b2, "chi2", q, quad)


def q_slope(
    phi: Activation, sigma_w2: float, sigma_b2: float, quad: Quadrature = DEFAULT
) -> float | np.ndarray:
    """``d q^l / d q^{l-1}`` at ``q*``: ``chi_1 + sigma_w^2 ∫Dz phi'' phi`` (Stein's lemma)."""
    return _chi(phi, sigma_w2, sigma_b2, "qslope", None, quad)


def chi_c(
    phi: Activation, sigma_w2: float, sigma_b2: float, quad: Quadrature = DEFAULT_2D
) -> float:
    """Slope of the c-map at ``c*``: ``sigma_w^2 ∫∫ phi'(u1) phi'(u2)`` at ``(q*, c*)``."""
    q = float(qstar(phi, sigma_w2, sigma_b2))
    c = cstar(phi, sigma_w2, sigma_b2, quad=quad)
    if not math.isfinite(q) or not math.isfinite(c):
        return float("nan")
    return sigma_w2 * _pair_moment(phi, q, c, quad, 1)


def depth_scale(
    phi: Activation,
    sigma_w2: float,
    sigma_b2: float,
    kind: Literal["c", "q"] = "c",
) -> float:
    """The depth scale over which correlations (``kind="c"``) or lengths (``"q"``) converge.

    ``xi_c = -1 / log(chi_c)`` with ``chi_c`` the c-map slope at ``c*`` (in the ordered phase
    ``c* = 1`` and ``xi_c = -1 / log chi_1``, which diverges at ``chi_1 = 1``);
    ``xi_q = -1 / log(chi_1 + sigma_w^2 ∫Dz phi'' phi)``. Schoenholz et al. (2017): networks
    train when their depth is below about ``6 xi_c``. [recalled in THEORY.md]
    """
    if kind == "c":
        slope = chi_c(phi, sigma_w2, sigma_b2)
    elif kind == "q":
        slope = float(q_slope(phi, sigma_w2, sigma_b2))
    else:
        raise ValueError(f"kind must be 'c' or 'q', got {kind!r}")
    if not math.isfinite(slope) or slope <= 0:
        return float("nan")
    if slope >= 1.0:
        return math.inf
    return -1.0 / math.log(slope)


def critical_sigma_w2(
    phi: Activation, sigma_b2: float, lo: float = 0.1, hi: float = 20.0, tol: float = 1e-10
) -> float:
    """The ``sigma_w^2`` at which ``chi_1 = 1`` (the order-to-chaos edge), by bisection."""
    from scipy.optimize import brentq

    f = lambda s: float(chi1(phi, s, sigma_b2)) - 1.0  # noqa: E731
    if f(lo) * f(hi) > 0:
        raise ValueError(f"chi_1 - 1 does not change sign on sigma_w2 in [{lo}, {hi}]")
    return float(brentq(f, lo, hi, xtol=tol))


# --------------------------------------------------------------------------- predictions


def predicted_length(
    layer: int | np.ndarray, width: int, q_star: float, chi_1: float
) -> float | np.ndarray:
    """``2π sqrt(N q* chi_1^{l-1})``: length at layer ``l`` of a great circle of radius
    ``sqrt(N q*)`` placed at layer 1 (Poole et al. 2016)."""
    layer = np.asarray(layer, float)
    return _scalar(2 * math.pi * np.sqrt(width * q_star * chi_1 ** (layer - 1)))


def shallow_length_bound(width: int, arcs: int = 2, output_range: float = 2.0) -> float:
    """Largest length of the image of a curve under one hidden layer of ``width`` bounded units.

    Each unit's output ``phi(w . x(t) + b)`` has total variation at most ``output_range`` per
    monotone arc of ``w . x(t)``; a great circle has ``arcs = 2`` (one rise, one fall) for every
    ``w``. The Euclidean length is at most the sum of the coordinates' total variations, so it is
    at most ``arcs * output_range * width`` (``4 * width`` for tanh on a circle) whatever the
    weights: linear in the width. The bound is approached as the weights grow with the units'
    transitions at distinct points of the curve (lecture slide 17).
    """
    if width < 1 or arcs < 1 or not output_range > 0:
        raise ValueError(f"need width >= 1, arcs >= 1, output_range > 0; got {width}, {arcs}")
    return float(arcs * output_range * width)


def curvature_recursion(depth: int, chi_1: float, chi_2: float, kbar1: float) -> np.ndarray:
    """Rescaled curvature ``kbar_l = sqrt(N) kappa_l`` for ``l = 1..depth``.

    ``kbar_l^2 = 3 chi_2 / chi_1^2 + kbar_{l-1}^2 / chi_1`` starting from ``kbar1`` (``1/sqrt(q*)``
    for the great circle of radius ``sqrt(N q*)``). Returns shape ``(depth,)``.
    """
    out = np.empty(depth)
    k2 = kbar1**2
    for i in range(depth):
        if i > 0:
            k2 = 3.0 * chi_2 / chi_1**2 + k2 / chi_1
        out[i] = math.sqrt(k2)
    return out


@dataclass(frozen=True)
class MeanField:
    """All mean-field quantities of one ``(activation, sigma_w^2, sigma_b^2)``.

    Attributes
    ----------
    activation : name (or repr) of phi.
    sigma_w2, sigma_b2 : weight and bias variances.
    q_star, c_star : fixed points of the length and correlation maps.
    chi_1, chi_2 : see :func:`chi1`, :func:`chi2`.
    chi_c : slope of the c-map at ``c*``.
    xi_q, xi_c : depth scales (``inf`` at criticality).
    phase : ``"ordered"``, ``"chaotic"`` or ``"critical"`` (``|chi_1 - 1| < 1e-9``).
    """

    activation: str
    sigma_w2: float
    sigma_b2: float
    q_star: float
    c_star: float
    chi_1: float
    chi_2: float
    chi_c: float
    xi_q: float
    xi_c: float
    phase: str

    @property
    def length_ratio(self) -> float:
        """Predicted per-layer length ratio ``sqrt(chi_1)``."""
        return math.sqrt(self.chi_1)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([asdict(self) | {"length_ratio": self.length_ratio}])

    def __repr__(self) -> str:
        return (
            f"MeanField({self.activation}, sigma_w2={self.sigma_w2:g}, sigma_b2={self.sigma_b2:g}: "
            f"q*={self.q_star:.4g}, chi_1={self.chi_1:.4g}, {self.phase})"
        )


def mean_field(phi: Activation, sigma_w2: float, sigma_b2: float) -> MeanField:
    """Compute every quantity of :class:`MeanField` at one point of the phase diagram."""
    name = phi if isinstance(phi, str) else getattr(phi, "__name__", repr(phi))
    q = float(qstar(phi, sigma_w2, sigma_b2))
    c1 = float(chi1(phi, sigma_w2, sigma_b2, q=q))
    c2 = float(chi2(phi, sigma_w2, sigma_b2, q=q))
    phase = "critical" if abs(c1 - 1) < 1e-9 else ("chaotic" if c1 > 1 else "ordered")
    return MeanField(
        activation=str(name),
        sigma_w2=float(sigma_w2),
        sigma_b2=float(sigma_b2),
        q_star=q,
        c_star=cstar(phi, sigma_w2, sigma_b2),
        chi_1=c1,
        chi_2=c2,
        chi_c=chi_c(phi, sigma_w2, sigma_b2),
        xi_q=depth_scale(phi, sigma_w2, sigma_b2, "q"),
        xi_c=depth_scale(phi, sigma_w2, sigma_b2, "c"),
        phase=phase,
    )


__all__ = [
    "MeanField",
    "c_map",
    "chi1",
    "chi2",
    "chi_c",
    "critical_sigma_w2",
    "cstar",
    "curvature_recursion",
    "depth_scale",
    "derivatives",
    "gauss_hermite",
    "gaussian_expectation",
    "mean_field",
    "predicted_length",
    "q_map",
    "q_slope",
    "qstar",
    "shallow_length_bound",
]
