"""The smallest width that passes a test: doubling, then bisection on a log scale.

A width search asks "what is the smallest ``w`` in ``[1, cap]`` for which ``passes(w)``?" when
each question is expensive (train nets of width ``w`` and see whether one reaches a target
error). :class:`WidthSearch` brackets the answer by doubling (``1, 2, 4, ..., ladder`` together
in the first round, then one doubling per round) and then bisects the bracket ``(lo, hi]`` at
its geometric midpoint, probing a bracket whole once it holds at most ``exact_below`` untried
widths. It stops when ``hi - lo <= max(1, resolution * hi)``: the answer is exact up to
``1 / resolution`` and within ``resolution`` (relative) above that. A search whose cap fails is
*censored* (``result`` is None), never a made-up number; a ``plateau`` rule can also stop a
search whose best error no longer falls with width.

The search holds no model and trains nothing: the caller answers its questions. Drive one
search with :func:`search_min_width` (a callable oracle), or many at once through
:meth:`WidthSearch.propose` / :meth:`WidthSearch.update` so that the probes of a round can be
batched together (``depthlab.experiments.multiplication`` trains every search's probes of a
round in one batched call).

Examples
--------
>>> found, s = search_min_width(lambda w: w >= 13, cap=4096)
>>> found, s.lo, s.stop_reason
(13, 12, 'found')
>>> search_min_width(lambda w: False, cap=20)[0] is None
True
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class WidthSearch:
    """Smallest width ``w`` in ``[1, cap]`` that passes, by doubling then bisection.

    Drive it with :meth:`propose` (the widths to probe next, together) and :meth:`update`
    (their outcomes) until :attr:`done`; :func:`search_min_width` does this for one oracle.
    Passing is assumed monotone in ``w``; when noise breaks that, ``hi`` is the smallest
    passing width seen and ``lo`` the largest failing width below it.

    Parameters
    ----------
    cap : largest width tried; if it fails the search is censored (``result`` is None).
    ladder : the first round probes 1, 2, 4, ... up to ``ladder`` together; later rounds
        double the largest failing width, one width per round.
    exact_below : a bracket with at most this many untried widths inside is probed whole.
    resolution : stop when ``hi − lo ≤ max(1, resolution · hi)``; otherwise bisect at the
        geometric midpoint ``round(sqrt(lo · hi))`` (one width per round, log2 steps).
    plateau : while doubling (nothing passed yet), once the largest failing width is at
        least ``plateau_from``, stop as censored when the best error of the last two doublings
        is not at least this fraction below the best error at a quarter of that width or less:
        more width is not helping at this training budget. None: always double up to ``cap``.
        Needs the errors passed to :meth:`update`.
    plateau_from : the width from which the plateau rule applies (default ``2 · ladder``).
    """

    cap: int
    ladder: int = 16
    exact_below: int = 8
    resolution: float = 0.125
    plateau: float | None = None
    plateau_from: int | None = None
    lo: int = 0
    hi: int | None = None
    probed: dict[int, bool] = field(default_factory=dict)
    errors: dict[int, float] = field(default_factory=dict)
    stalled: bool = False
    rounds: int = 0

    def __post_init__(self) -> None:
        if self.cap < 1:
            raise ValueError(f"cap must be a width >= 1, got {self.cap}")

    @property
    def done(self) -> bool:
        if self.hi is None:
            return self.lo >= self.cap or self.stalled
        gap = self.hi - self.lo
        return gap <= 1 or gap <= self.resolution * self.hi

    @property
    def censored(self) -> bool:
        return self.done and self.hi is None

    @property
    def stop_reason(self) -> str:
        """``found``, ``cap`` (the cap failed), ``plateau`` (error stopped falling) or ``running``."""
        if not self.done:
            return "running"
        if self.hi is not None:
            return "found"
        return "plateau" if self.stalled and self.lo < self.cap else "cap"

    @property
    def result(self) -> int | None:
        """The smallest passing width found (exact or within ``resolution``), None if censored."""
        return self.hi if self.done else None

    def propose(self) -> list[int]:
        """Widths to probe next (empty when done)."""
        if self.done:
            return []
        if self.hi is None:
            if not self.probed:
                return sorted({min(2**i, self.cap) for i in range(self.ladder.bit_length())})
            return [min(2 * self.lo, self.cap)]
        inside = [w for w in range(self.lo + 1, self.hi) if w not in self.probed]
        if len(inside) <= self.exact_below:
            return inside
        mid = round(math.sqrt(self.lo * self.hi)) if self.lo else self.hi // 2
        return [min(max(mid, self.lo + 1), self.hi - 1)]

    def update(self, outcomes: dict[int, bool], errors: dict[int, float] | None = None) -> None:
        """Record pass/fail (and optionally the best error) for probed widths; narrow (lo, hi]."""
        self.rounds += 1
        self.probed.update({int(w): bool(ok) for w, ok in outcomes.items()})
        self.errors.update({int(w): float(e) for w, e in (errors or {}).items()})
        passing = [w for w, ok in self.probed.items() if ok]
        self.hi = min(passing) if passing else None
        below = [w for w, ok in self.probed.items() if not ok and (self.hi is None or w < self.hi)]
        self.lo = max(below, default=0)
        start = self.plateau_from if self.plateau_from is not None else 2 * self.ladder
        if self.hi is None and self.plateau is not None and self.lo >= max(start, 4):
            w = self.lo
            recent = [self.errors[v] for v in (w, w // 2) if v in self.errors]
            before = [e for v, e in self.errors.items() if v <= w // 4]
            if recent and before and min(recent) > (1 - self.plateau) * min(before):
                self.stalled = True


def search_min_width(
    passes: Callable[[int], bool], cap: int, **kwargs
) -> tuple[int | None, WidthSearch]:
    """Run a :class:`WidthSearch` against one oracle ``passes(width) -> bool``.

    Returns ``(smallest passing width or None if the cap fails, the finished search)``; the
    search's ``probed`` dict lists every width tried and ``rounds`` the number of rounds.
    """
    s = WidthSearch(cap=cap, **kwargs)
    while not s.done:
        s.update({w: passes(w) for w in s.propose()})
    return s.result, s


__all__ = ["WidthSearch", "search_min_width"]
