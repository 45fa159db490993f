"""Closed forms for exploding and vanishing signals at initialization (THEORY.md §2).

Setup (Hanin & Rolnick 2018): a ReLU net with widths ``[n_0, n_1, ..., n_d]``, zero biases,
symmetric weights with ``Var W^(j) = v_j`` i.i.d., input ``x_0`` and

    M_j = ||x_j||^2 / n_j,      x_j = relu(W^(j) x_{j-1}),      M_0 = ||x_0||^2 / n_0.

Everything here is a formula; nothing samples or trains. The Monte Carlo probe
:func:`depthlab.signal.moments` measures the same quantities, and ``tests/theory`` compares the
two in float64.

Formulas (tags as in THEORY.md)
-------------------------------
* mean (FM1) [derived]: ``E[M_d] = M_0 prod_j (n_{j-1} v_j / 2)``. Depth-independent iff
  ``v_j = 2 / n_{j-1}`` (He); LeCun ``v_j = 1 / n_{j-1}`` gives ``2^-d``.
* second moment, Gaussian He [derived]: ``E[M_d^2] = M_0^2 prod_{j=1}^d (1 + 5 / n_j)``.
  It is exact: given ``x_{j-1}`` the pre-activations are i.i.d. ``N(0, 2 M_{j-1})`` and
  ``Var relu(z)^2 = (5/4) sigma^4``, so ``E[M_j^2 | M_{j-1}] = M_{j-1}^2 (1 + 5/n_j)``. For
  general Gaussian variances the same argument gives
  ``E[M_d^2] = M_0^2 prod_j (n_{j-1} v_j / 2)^2 (1 + 5 / n_j)``.
* ``beta = sum_j 1 / n_j`` over the hidden layers; ``prod (1 + 5/n_j) <= exp(5 beta)`` (FM2).
* Jacobian entries [derived here, confirmed by Monte Carlo in ``tests/theory``]: let
  ``Z = d z_d[q] / d x_0[p]`` with ``z_d = W^(d) x_{d-1}`` the last layer's pre-activation (the
  input-output Jacobian of an MLP whose last Linear has no activation; Hanin 2018). Given the
  forward pass and tangent ``t_{d-1} = d x_{d-1} / d x_0[p]``, ``Z ~ N(0, v_d ||t_{d-1}||^2)``, and
  the pair ``(W x, W t)`` row by row obeys the same recursion as ``M_j``. Hence for Gaussian
  weights

      E[Z^2] = v_d prod_{j=1}^{d-1} (n_j v_j / 2)          (= 2 / n_0 for He: depth-independent)
      E[Z^4] / E[Z^2]^2 = 3 prod_{j=1}^{d-1} (1 + 5 / n_j)  (grows like exp(5 beta_hidden)).

  Hanin 2018 states the growth as ``exp(C beta)`` [recalled]; the constant 5 and the factor 3
  are derived here.
* truncated normal [derived]: ``N(0, s^2)`` cut at ``±2s`` keeps variance ``0.7737 s^2``; the
  naive "He truncated" init thus gives ``E[M_d] = 0.7737^d M_0``.
* residual [derived]: ``x_l = x_{l-1} + eta_l N_l(x_{l-1})`` with ``E||N_l(x)||^2 = ||x||^2`` and
  ``E[N_l(x)] = 0`` gives ``E[M_L] = M_0 prod_l (1 + eta_l^2)``.

References
----------
B. Hanin and D. Rolnick, "How to start training: the effect of initialization and architecture",
NeurIPS 2018. B. Hanin, "Which neural net architectures give rise to exploding and vanishing
gradients?", NeurIPS 2018.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from depthlab.init import TRUNC2_STD, TRUNC2_VARIANCE, scheme_variance

__all__ = [
    "TRUNC2_STD",
    "TRUNC2_VARIANCE",
    "beta",
    "jacobian_kurtosis",
    "jacobian_second_moment",
    "mean_ratio",
    "mean_slope",
    "residual_mean_ratio",
    "scheme_gain",
    "second_moment_ratio",
    "truncated_variance_factor",
]

GAUSSIAN_SCHEMES = ("he_normal", "lecun_normal", "xavier_normal", "custom")


def _check(widths: Sequence[int]) -> list[int]:
    w = [int(n) for n in widths]
    if len(w) < 2 or any(n < 1 for n in w):
        raise ValueError(f"widths must be [n_0, n_1, ..., n_d] with d >= 1 and n_j >= 1, got {w}")
    return w


def _variances(widths: list[int], variances: Sequence[float] | None) -> list[float]:
    if variances is None:
        return [2.0 / n for n in widths[:-1]]  # He
    v = [float(x) for x in variances]
    if len(v) != len(widths) - 1:
        raise ValueError(
            f"need {len(widths) - 1} layer variances for widths {widths}, got {len(v)}"
        )
    return v


def beta(hidden_widths: Sequence[int]) -> float:
    """``beta = sum_j 1 / n_j`` over the given (hidden) widths (Hanin & Rolnick 2018, Thm 2)."""
    return float(sum(1.0 / int(n) for n in hidden_widths))


def scheme_gain(scheme: str, fan_in: int, fan_out: int | None = None) -> float:
    """``fan_in * Var(W) / 2``: the factor one ReLU layer multiplies ``E[M]`` by (1 for He)."""
    return fan_in * scheme_variance(scheme, fan_in, fan_out or fan_in) / 2.0


def mean_ratio(widths: Sequence[int], variances: Sequence[float] | None = None) -> list[float]:
    """``E[M_j] / M_0`` for ``j = 0..d``: ``prod_{i<=j} (n_{i-1} v_i / 2)`` (He when ``variances`` is None).

    Parameters
    ----------
    widths : ``[n_0, ..., n_d]``.
    variances : ``[v_1, ..., v_d]``, the weight variance of each layer.

    Returns
    -------
    list of ``d + 1`` floats, starting with 1.
    """
    w = _check(widths)
    v = _variances(w, variances)
    out = [1.0]
    for n_prev, vj in zip(w[:-1], v, strict=True):
        out.append(out[-1] * n_prev * vj / 2.0)
    return out


def mean_slope(scheme: str, width: int = 100) -> float:
    """Predicted slope of ``log E[M_d]`` per layer for a constant-width net: ``log(n v / 2)``.

    0 for He, ``log(1/2)`` for LeCun, ``log(0.7737)`` for the naively truncated normal.
    """
    return math.log(scheme_gain(scheme, width, width))


def second_moment_ratio(
    widths: Sequence[int], variances: Sequence[float] | None = None
) -> list[float]:
    """``E[M_j^2] / M_0^2`` for ``j = 0..d`` under Gaussian weights (exact).

    ``prod_{i<=j} (n_{i-1} v_i / 2)^2 (1 + 5 / n_i)``; for He this is ``prod (1 + 5 / n_i)``,
    e.g. ``1.5, 2.25, 3.375`` for widths 10 and ``d = 1, 2, 3``.
    """
    w = _check(widths)
    v = _variances(w, variances)
    out = [1.0]
    for n_prev, n, vj in zip(w[:-1], w[1:], v, strict=True):
        out.append(out[-1] * (n_prev * vj / 2.0) ** 2 * (1.0 + 5.0 / n))
    return out


def jacobian_second_moment(
    widths: Sequence[int], variances: Sequence[float] | None = None
) -> list[float]:
    """``E[Z_j^2]`` for ``j = 1..d``, ``Z_j`` an entry of ``d z_j / d x_0`` (Gaussian weights).

    ``v_j prod_{i<j} (n_i v_i / 2)``; ``2 / n_0`` at every depth for He.
    """
    w = _check(widths)
    v = _variances(w, variances)
    out, acc = [], 1.0
    for j in range(1, len(w)):
        out.append(v[j - 1] * acc)
        acc *= w[j] * v[j - 1] / 2.0
    return out


def jacobian_kurtosis(widths: Sequence[int]) -> list[float]:
    """``E[Z_j^4] / E[Z_j^2]^2 = 3 prod_{i<j} (1 + 5 / n_i)`` for ``j = 1..d`` (Gaussian weights).

    Only the hidden layers below ``j`` count; ``3`` (a Gaussian) for ``j = 1``.
    """
    w = _check(widths)
    out, acc = [], 3.0
    for j in range(1, len(w)):
        out.append(acc)
        acc *= 1.0 + 5.0 / w[j]
    return out


def truncated_variance_factor(c: float = 2.0) -> float:
    """Var of ``N(0, 1)`` conditioned on ``|z| <= c``: ``1 - 2 c phi(c) / (2 Phi(c) - 1)``.

    ``0.7737`` at ``c = 2``; its square root ``0.87962566`` is the std correction.
    """
    if c <= 0:
        raise ValueError(f"the truncation point c must be positive, got {c}")
    phi = math.exp(-0.5 * c * c) / math.sqrt(2 * math.pi)
    return 1.0 - 2.0 * c * phi / math.erf(c / math.sqrt(2))


def residual_mean_ratio(etas: Sequence[float]) -> list[float]:
    """``E[M_l] / M_0 = prod_{i<=l} (1 + eta_i^2)`` for ``l = 0..L`` (normalized branches)."""
    out = [1.0]
    for e in etas:
        out.append(out[-1] * (1.0 + float(e) ** 2))
    return out
