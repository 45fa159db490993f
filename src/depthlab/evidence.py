"""Evidence for claims: intervals over the independent unit, and the claim builders that use them.

Every empirical claim is decided by one rule (:func:`depthlab.core.decide`): a 95 % interval of its
statistic, computed over the *independent unit* (seeds, nets, datasets), against a tolerance region
fixed before the run. This module computes those intervals for the shapes that repeat across the
experiments (a mean, a log-log slope, a difference, a ratio, a trend over a series, a fraction) and
builds the claims, so no experiment computes a verdict string itself.

>>> from depthlab.core import Region
>>> est = mean([1.02, 0.97, 1.01, 0.99, 1.03], unit="seeds", statistic="ratio")
>>> round(est.value, 3), est.n
(1.004, 5)
>>> empirical("demo-2026.ratio-near-one", "A ratio is near 1.", "demo", est,
...           Region.around(1.0, 0.1), predicted=1.0, tolerance="|r - 1| <= 0.1").verdict
'holds'
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from depthlab.core import Change, Claim, Region, decide

LEVEL = 0.95


@dataclass(frozen=True)
class Estimate:
    """A statistic over ``n`` independent units with its 95 % interval (``None`` when n < 2)."""

    value: float
    lo: float | None
    hi: float | None
    n: int
    method: str
    unit: str = "seeds"
    statistic: str = ""
    samples: tuple[float, ...] = ()

    @property
    def interval(self) -> tuple[float, float] | None:
        if self.lo is None or self.hi is None:
            return None
        if not (math.isfinite(self.lo) and math.isfinite(self.hi)):
            return None
        return (float(self.lo), float(self.hi))

    def __str__(self) -> str:
        iv = self.interval
        span = "no interval" if iv is None else f"95% [{iv[0]:.4g}, {iv[1]:.4g}]"
        return f"{self.value:.4g} ({span}, n={self.n} {self.unit})"


def _clean(samples: Sequence[float] | np.ndarray) -> np.ndarray:
    a = np.asarray(samples, dtype=np.float64).ravel()
    if a.size and not np.all(np.isfinite(a)):
        raise ValueError(f"samples must be finite, got {a.tolist()}")
    return a


def t_interval(samples: Sequence[float], level: float = LEVEL) -> tuple[float, float] | None:
    """Student-t interval of the mean; ``None`` for fewer than 2 samples."""
    a = _clean(samples)
    if a.size < 2:
        return None
    m, se = float(a.mean()), float(a.std(ddof=1) / math.sqrt(a.size))
    q = float(stats.t.ppf(0.5 + level / 2, a.size - 1))
    return (m - q * se, m + q * se)


def bootstrap(
    units: Sequence[Any] | np.ndarray,
    statistic: Callable[[np.ndarray], float],
    *,
    resamples: int = 2000,
    seed: int | np.random.SeedSequence = 0,
    level: float = LEVEL,
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of ``statistic`` resampling the rows of ``units``.

    ``units`` has one row per independent unit (a seed's whole curve, a net's whole profile), so
    values computed from the same unit are resampled together. ``None`` for fewer than 2 units.
    """
    a = np.asarray(units, dtype=np.float64)
    if a.shape[0] < 2:
        return None
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, a.shape[0], size=(resamples, a.shape[0]))
    vals = np.array([statistic(a[i]) for i in idx], dtype=np.float64)
    vals = vals[np.isfinite(vals)]
    if vals.size < resamples // 2:
        return None
    alpha = (1 - level) / 2
    return (float(np.quantile(vals, alpha)), float(np.quantile(vals, 1 - alpha)))


def clopper_pearson(k: int, n: int, level: float = LEVEL) -> tuple[float, float]:
    """Exact binomial interval for ``k`` successes in ``n`` trials."""
    if n < 1 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n and n >= 1, got k={k}, n={n}")
    alpha = 1 - level
    lo = 0.0 if k == 0 else float(stats.beta.ppf(alpha / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(stats.beta.ppf(1 - alpha / 2, k + 1, n - k))
    return (lo, hi)


def welch(
    a: Sequence[float], b: Sequence[float], level: float = LEVEL
) -> tuple[float, float] | None:
    """Welch interval for ``mean(a) - mean(b)``; ``None`` unless both have 2 or more samples."""
    x, y = _clean(a), _clean(b)
    if x.size < 2 or y.size < 2:
        return None
    vx, vy = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    d = float(x.mean() - y.mean())
    se = math.sqrt(vx + vy)
    if se == 0:
        return (d, d)
    dof = (vx + vy) ** 2 / (vx**2 / (x.size - 1) + vy**2 / (y.size - 1))
    q = float(stats.t.ppf(0.5 + level / 2, dof))
    return (d - q * se, d + q * se)


# ---------------------------------------------------------------- estimates of the shapes that repeat


def mean(samples: Sequence[float], *, unit: str = "seeds", statistic: str = "mean") -> Estimate:
    """The mean of one value per independent unit, with a t interval."""
    a = _clean(samples)
    if a.size == 0:
        raise ValueError("mean needs at least one sample")
    iv = t_interval(a)
    lo, hi = iv if iv else (None, None)
    return Estimate(float(a.mean()), lo, hi, int(a.size), "t", unit, statistic, tuple(a.tolist()))


def _fit_slope(x: np.ndarray, y: np.ndarray) -> float:
    ok = np.isfinite(y)
    if ok.sum() < 2:
        return float("nan")
    return float(np.polyfit(x[ok], y[ok], 1)[0])


def slope(
    x: Sequence[float],
    ys: Sequence[Sequence[float]] | np.ndarray,
    *,
    log_x: bool = False,
    log_y: bool = False,
    unit: str = "seeds",
    statistic: str = "",
) -> Estimate:
    """The slope of ``y`` on ``x`` fitted per unit (one row of ``ys`` per unit), with a t interval
    over the units' slopes. ``log_x``/``log_y`` fit on natural logs (a log-log slope is a power)."""
    xv = np.asarray(x, dtype=np.float64)
    y = np.atleast_2d(np.asarray(ys, dtype=np.float64))
    if y.shape[1] != xv.size:
        raise ValueError(f"ys rows need {xv.size} values (one per x), got {y.shape[1]}")
    if xv.size < 2:
        raise ValueError("a slope needs at least 2 x values")
    if log_x:
        xv = np.log(xv)
    if log_y:
        with np.errstate(divide="ignore", invalid="ignore"):
            y = np.where(y > 0, np.log(np.where(y > 0, y, 1.0)), np.nan)
    per = np.array([_fit_slope(xv, row) for row in y])
    per = per[np.isfinite(per)]
    if per.size == 0:
        raise ValueError("no unit gave a finite slope")
    stat = statistic or ("log-log slope" if log_x and log_y else "slope")
    est = mean(per, unit=unit, statistic=stat)
    return Estimate(
        est.value, est.lo, est.hi, est.n, "t over per-unit slopes", unit, stat, est.samples
    )


def difference(
    a: Sequence[float],
    b: Sequence[float],
    *,
    paired: bool = False,
    unit: str = "seeds",
    statistic: str = "difference of means",
) -> Estimate:
    """``mean(a) - mean(b)``: a paired t interval when the units are shared, else Welch's."""
    x, y = _clean(a), _clean(b)
    if paired:
        if x.size != y.size:
            raise ValueError(f"paired samples need equal lengths, got {x.size} and {y.size}")
        est = mean(x - y, unit=unit, statistic=statistic)
        return Estimate(est.value, est.lo, est.hi, est.n, "paired t", unit, statistic, est.samples)
    iv = welch(x, y)
    lo, hi = iv if iv else (None, None)
    n = int(min(x.size, y.size))
    return Estimate(float(x.mean() - y.mean()), lo, hi, n, "welch", unit, statistic, ())


def ratio(
    a: Sequence[float],
    b: Sequence[float],
    *,
    paired: bool = False,
    unit: str = "seeds",
    statistic: str = "ratio of means",
) -> Estimate:
    """``mean(a) / mean(b)`` for positive values. Paired: the geometric mean of per-unit ratios with
    a t interval on their logs. Unpaired: a t interval on the difference of mean logs."""
    x, y = _clean(a), _clean(b)
    if np.any(x <= 0) or np.any(y <= 0):
        raise ValueError("ratio needs positive values")
    d = difference(np.log(x), np.log(y), paired=paired, unit=unit, statistic=statistic)
    lo = None if d.lo is None else math.exp(d.lo)
    hi = None if d.hi is None else math.exp(d.hi)
    method = "paired t on logs" if paired else "welch on logs"
    return Estimate(math.exp(d.value), lo, hi, d.n, method, unit, statistic, d.samples)


def trend(
    x: Sequence[float],
    ys: Sequence[Sequence[float]] | np.ndarray,
    *,
    log_x: bool = False,
    unit: str = "seeds",
    statistic: str = "trend slope",
) -> Estimate:
    """A monotone trend over a whole series (for "grows with n"): the per-unit least-squares slope
    over every x, not two endpoints, with a t interval over units. Region ``at_least(0)`` or a
    stated minimum effect decides "grows"."""
    return slope(x, ys, log_x=log_x, unit=unit, statistic=statistic)


def fraction(k: int, n: int, *, unit: str = "nets", statistic: str = "fraction") -> Estimate:
    """``k`` of ``n`` units agree, with the exact Clopper-Pearson interval."""
    lo, hi = clopper_pearson(int(k), int(n))
    return Estimate(k / n, lo, hi, int(n), "clopper-pearson", unit, statistic, ())


def _signed_rank_null_cdf(n: int) -> list[float]:
    """``P(T <= t)`` for t = 0..n(n+1)/2 under the exact null of Wilcoxon's signed-rank statistic
    ``T`` (the rank sum of the positive signs among ``n`` continuous values symmetric about 0).

    Counts of subsets of {1..n} with each sum, in exact integers, over ``2**n``."""
    top = n * (n + 1) // 2
    counts = [1] + [0] * top
    for k in range(1, n + 1):
        for t in range(top, k - 1, -1):
            counts[t] += counts[t - k]
    total, run, out = 2**n, 0, []
    for c in counts:
        run += c
        out.append(run / total)
    return out


def hodges_lehmann(
    samples: Sequence[float],
    *,
    unit: str = "seeds",
    log: bool = False,
    statistic: str = "Hodges-Lehmann estimate",
    level: float = LEVEL,
) -> Estimate:
    """The Hodges-Lehmann estimate of the centre of one value per unit (the median of the
    ``n(n+1)/2`` Walsh averages ``(x_i + x_j) / 2``, ``i <= j``) with the distribution-free
    interval that inverts Wilcoxon's signed-rank test: ``[W_(C), W_(M+1-C)]`` of the sorted Walsh
    averages, ``C - 1`` the largest ``t`` with ``P(T <= t) <= (1 - level) / 2`` under the exact
    null (Hollander & Wolfe, *Nonparametric Statistical Methods*, §3.2; its coverage is at least
    ``level``). No interval (inconclusive) when ``n`` is too small for one: ``n <= 5`` at 95 %.

    Robust to a minority of wild units for the estimate (breakdown 29 %); each endpoint moves
    with a wild unit only through the Walsh averages that contain it (``n`` of ``M``), so at
    ``n = 8`` (``C = 4``) one unit far above the rest still sets the upper endpoint.

    ``log=True``: the values must be positive (e.g. per-unit ratios); the estimate and interval are
    computed on their logs and back-transformed (a ratio), and ``samples`` keeps the logs.
    """
    a = _clean(samples)
    if a.size == 0:
        raise ValueError("hodges_lehmann needs at least one sample")
    if log:
        if np.any(a <= 0):
            raise ValueError("hodges_lehmann(log=True) needs positive values")
        a = np.log(a)
    n = int(a.size)
    i, j = np.triu_indices(n)
    walsh = np.sort((a[i] + a[j]) / 2.0)
    m = walsh.size
    value = float(np.median(walsh))
    cdf = _signed_rank_null_cdf(n)
    alpha = (1 - level) / 2
    c = sum(1 for p in cdf if p <= alpha)  # C - 1 = largest t with P(T <= t) <= alpha
    lo = hi = None
    if c >= 1:
        lo, hi = float(walsh[c - 1]), float(walsh[m - c])
    back = math.exp if log else float
    method = "Hodges-Lehmann, exact Wilcoxon signed-rank interval" + (" on logs" if log else "")
    return Estimate(
        back(value),
        None if lo is None else back(lo),
        None if hi is None else back(hi),
        n,
        method,
        unit,
        statistic,
        tuple(a.tolist()),
    )


# ---------------------------------------------------------------- claim builders


def empirical(
    id: str,
    statement: str,
    source: str,
    estimate: Estimate,
    region: Region,
    *,
    predicted: float | str | None,
    tolerance: str,
    note: str = "",
    measured: float | str | None = None,
    history: Sequence[Change] = (),
) -> Claim:
    """An empirical claim decided by :func:`depthlab.core.decide` from ``estimate`` and ``region``."""
    iv = estimate.interval
    return Claim(
        id=id,
        statement=statement,
        source=source,
        predicted=predicted,
        measured=estimate.value if measured is None else measured,
        tolerance=tolerance,
        verdict=decide(iv, region),
        note=note,
        kind="empirical",
        statistic=estimate.statistic,
        estimate=estimate.value,
        interval=iv,
        method=estimate.method,
        n=estimate.n,
        unit=estimate.unit,
        samples=estimate.samples,
        region=region,
        history=tuple(history),
    )


def construction(
    id: str,
    statement: str,
    source: str,
    ok: bool,
    *,
    predicted: float | str | None,
    measured: float | str | None,
    tolerance: str,
    note: str = "",
) -> Claim:
    """An exact check of a construction, formula or identity: holds or fails, reported apart."""
    return Claim(
        id=id,
        statement=statement,
        source=source,
        predicted=predicted,
        measured=measured,
        tolerance=tolerance,
        verdict="holds" if ok else "fails",
        note=note,
        kind="construction",
    )


__all__ = [
    "LEVEL",
    "Estimate",
    "bootstrap",
    "clopper_pearson",
    "construction",
    "difference",
    "empirical",
    "fraction",
    "hodges_lehmann",
    "mean",
    "ratio",
    "slope",
    "t_interval",
    "trend",
    "welch",
]
