"""Intervals over nets for the init experiments: a vectorised percentile bootstrap.

A row of ``units`` is one net (one initialization) and every column of it (its depths, its
profiles' statistics) is resampled together, so an interval of any statistic of the column means
is over the independent unit.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from depthlab.evidence import LEVEL, Estimate

RESAMPLES = 2000


def resampled_means(
    units: np.ndarray, rng: np.random.Generator, resamples: int = RESAMPLES
) -> np.ndarray:
    """``(resamples, C)``: the column means of ``units`` ``(K, C)`` over bootstrap resamples of
    its rows. A row is one net (all its columns resampled together), so the interval of any
    statistic of the means is over the independent unit."""
    a = np.asarray(units, dtype=np.float64)
    k = a.shape[0]
    out = np.empty((resamples, a.shape[1]))
    chunk = max(1, (1 << 22) // max(k, 1))
    for start in range(0, resamples, chunk):
        r = min(chunk, resamples - start)
        idx = rng.integers(0, k, size=(r, k))
        counts = np.zeros((r, k))
        np.add.at(counts, (np.repeat(np.arange(r), k), idx.ravel()), 1.0)
        out[start : start + r] = counts @ a / k
    return out


def net_bootstrap(
    units: np.ndarray,
    statistic: Callable[[np.ndarray], np.ndarray],
    rng: np.random.Generator,
    *,
    statistic_name: str,
    resamples: int = RESAMPLES,
) -> Estimate:
    """``statistic`` of the column means of ``units`` (one row per net), with a percentile
    bootstrap interval over nets. ``statistic`` maps ``(R, C)`` means to ``(R,)`` values."""
    a = np.asarray(units, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] < 2:
        raise ValueError(f"need (K >= 2 nets, C) units, got shape {a.shape}")
    value = float(statistic(a.mean(0, keepdims=True))[0])
    vals = statistic(resampled_means(a, rng, resamples))
    vals = vals[np.isfinite(vals)]
    lo = hi = None
    if vals.size >= resamples // 2:
        alpha = (1 - LEVEL) / 2
        lo, hi = float(np.quantile(vals, alpha)), float(np.quantile(vals, 1 - alpha))
    method = f"percentile bootstrap over nets ({resamples} resamples)"
    return Estimate(value, lo, hi, int(a.shape[0]), method, "nets", statistic_name, ())


def origin_slope(x: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """Least-squares slope through the origin of each row of ``y`` on ``x`` (weights ``w``)."""
    x = np.asarray(x, dtype=np.float64)
    w = np.ones_like(x) if w is None else np.asarray(w, dtype=np.float64)
    return (np.atleast_2d(y) * (w * x)).sum(1) / float(np.sum(w * x * x))


def log_pos(m: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(m > 0, np.log(np.where(m > 0, m, 1.0)), np.nan)
