"""Core result types: a claim is data, a result is what an experiment returns and a run stores."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import pandas as pd

Verdict = Literal["holds", "fails", "inconclusive"]
VERDICTS: tuple[str, ...] = ("holds", "fails", "inconclusive")


def _jsonable(value: Any) -> Any:
    """Turn numpy / torch scalars into plain Python so results serialise to JSON."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        return _jsonable(value.item())
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return str(value)


Kind = Literal["empirical", "construction"]
KINDS: tuple[str, ...] = ("empirical", "construction")


def _num(x: Any) -> float | None:
    """``None`` stays ``None``; strings such as ``"inf"`` (how JSON stores them) become floats."""
    if x is None or x == "":
        return None
    return float(x)


@dataclass(frozen=True)
class Region:
    """A tolerance region ``[lo, hi]`` for a claim's statistic; ``None`` leaves a side open.

    The region is fixed before the run (it comes from the theory, a paper's figure or a stated
    effect size) and :func:`decide` compares a 95 % interval with it.
    """

    lo: float | None = None
    hi: float | None = None

    def __post_init__(self) -> None:
        for side in ("lo", "hi"):
            v = getattr(self, side)
            if v is not None and math.isnan(float(v)):
                raise ValueError(f"Region.{side} must be a number or None, got nan")
        if self.lo is not None and self.hi is not None and float(self.lo) > float(self.hi):
            raise ValueError(f"Region needs lo <= hi, got lo={self.lo}, hi={self.hi}")

    @classmethod
    def around(cls, center: float, tol: float) -> Region:
        """``[center - tol, center + tol]``."""
        if not tol >= 0:
            raise ValueError(f"tolerance must be >= 0, got {tol}")
        return cls(center - tol, center + tol)

    @classmethod
    def at_least(cls, lo: float) -> Region:
        return cls(lo, None)

    @classmethod
    def at_most(cls, hi: float) -> Region:
        return cls(None, hi)

    def contains(self, lo: float, hi: float) -> bool:
        """The whole interval ``[lo, hi]`` lies inside the region."""
        return (self.lo is None or lo >= self.lo) and (self.hi is None or hi <= self.hi)

    def disjoint(self, lo: float, hi: float) -> bool:
        """The interval ``[lo, hi]`` lies wholly outside the region."""
        return (self.lo is not None and hi < self.lo) or (self.hi is not None and lo > self.hi)

    def describe(self) -> str:
        if self.lo is None and self.hi is None:
            return "any value"
        if self.lo is None:
            return f"<= {self.hi:.4g}"
        if self.hi is None:
            return f">= {self.lo:.4g}"
        return f"[{self.lo:.4g}, {self.hi:.4g}]"

    def to_dict(self) -> dict[str, Any]:
        return {"lo": _jsonable(self.lo), "hi": _jsonable(self.hi)}

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> Region | None:
        if d is None:
            return None
        return cls(_num(d.get("lo")), _num(d.get("hi")))


@dataclass(frozen=True)
class Change:
    """One change to a claim's design after a result was seen: what, from what, to what, when, why."""

    date: str
    field: str
    old: Any
    new: Any
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))


def decide(interval: tuple[float, float] | None, region: Region | None) -> Verdict:
    """The one decision rule: **holds** if the 95 % interval lies inside the tolerance region,
    **fails** if it lies wholly outside, **inconclusive** otherwise (or when there is no interval,
    e.g. from a single sample, or it is not finite)."""
    if interval is None or region is None:
        return "inconclusive"
    lo, hi = (float(v) for v in interval)
    if math.isnan(lo) or math.isnan(hi) or lo > hi:
        return "inconclusive"
    if region.contains(lo, hi):
        return "holds"
    if region.disjoint(lo, hi):
        return "fails"
    return "inconclusive"


@dataclass(frozen=True)
class Claim:
    """One claim of the lecture, measured.

    Attributes
    ----------
    id : stable identifier ``source.short-name``, e.g. ``"hanin-rolnick-2018.fm1.he-mean-flat"``.
    statement : the claim in one plain sentence.
    source : paper and theorem, or lecture slide.
    predicted : what theory predicts (number or short text).
    measured : what depthlab measured.
    tolerance : how agreement is judged, in words a reader can check, and where it comes from.
    verdict : ``"holds"``, ``"fails"`` or ``"inconclusive"``.
    note : the design (sizes, seeds, budget, why) and anything a reader should know.
    kind : ``"empirical"`` (a measurement with sampling error, decided by :func:`decide`) or
        ``"construction"`` (an exact check of a construction, formula or identity); ``None`` for
        claims built before kinds existed.
    statistic : what the interval is of, e.g. ``"log-log slope of error on width"``.
    estimate, interval : the point estimate and its 95 % interval.
    method : how the interval was computed (``"bootstrap"``, ``"t"``, ``"clopper-pearson"``, ...).
    n, unit : the number of independent units and what they are (``"seeds"``, ``"nets"``).
    samples : the per-unit values the interval was computed from.
    region : the tolerance region, fixed before the run.
    history : changes to the design after a result was seen (:class:`Change`).
    """

    id: str
    statement: str
    source: str
    predicted: float | str | None
    measured: float | str | None
    tolerance: str
    verdict: Verdict
    note: str = ""
    kind: Kind | None = None
    statistic: str = ""
    estimate: float | None = None
    interval: tuple[float, float] | None = None
    method: str = ""
    n: int | None = None
    unit: str = ""
    samples: tuple[float, ...] = ()
    region: Region | None = None
    history: tuple[Change, ...] = ()

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")
        if self.kind is not None and self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS} or None, got {self.kind!r}")
        if self.interval is not None:
            object.__setattr__(self, "interval", tuple(float(v) for v in self.interval))
        object.__setattr__(self, "samples", tuple(float(v) for v in self.samples))
        object.__setattr__(self, "history", tuple(self.history))
        if self.kind == "empirical":
            if self.region is None:
                raise ValueError(f"empirical claim {self.id!r} needs a tolerance region")
            rule = decide(self.interval, self.region)
            if self.verdict != rule:
                raise ValueError(
                    f"claim {self.id!r}: verdict {self.verdict!r} differs from the decision rule "
                    f"({rule!r} for interval {self.interval} and region {self.region.describe()})"
                )
        elif self.kind == "construction" and self.verdict == "inconclusive":
            raise ValueError(f"construction {self.id!r} is checked exactly: holds or fails")

    def to_dict(self) -> dict[str, Any]:
        d = _jsonable(asdict(self))
        d["region"] = None if self.region is None else self.region.to_dict()
        d["history"] = [c.to_dict() for c in self.history]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Claim:
        base = (
            "id",
            "statement",
            "source",
            "predicted",
            "measured",
            "tolerance",
            "verdict",
            "note",
        )
        kw: dict[str, Any] = {k: d.get(k, "") for k in base}
        kw["kind"] = d.get("kind")
        kw["statistic"] = d.get("statistic") or ""
        kw["estimate"] = _num(d.get("estimate"))
        iv = d.get("interval")
        kw["interval"] = None if iv is None else (float(iv[0]), float(iv[1]))
        kw["method"] = d.get("method") or ""
        kw["n"] = d.get("n")
        kw["unit"] = d.get("unit") or ""
        kw["samples"] = tuple(float(v) for v in d.get("samples") or ())
        kw["region"] = Region.from_dict(d.get("region"))
        kw["history"] = tuple(Change(**c) for c in d.get("history") or ())
        return cls(**kw)


def verdict_from(ok: bool | None) -> Verdict:
    """``True`` -> holds, ``False`` -> fails, ``None`` -> inconclusive."""
    if ok is None:
        return "inconclusive"
    return "holds" if ok else "fails"


@dataclass
class Result:
    """What an experiment returns and its run directory stores.

    Tables are tidy pandas frames (saved as Parquet); figures map a name to a file
    path relative to the run directory (written by ``depthlab.plots``).
    """

    experiment: str
    config: dict[str, Any]
    claims: list[Claim] = field(default_factory=list)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    run_dir: str | None = field(default=None, repr=False, compare=False)  # where it was saved

    def __repr__(self) -> str:
        found = [c for c in self.claims if c.kind != "construction"]
        counts = {v: sum(c.verdict == v for c in found) for v in VERDICTS}
        built = [c for c in self.claims if c.kind == "construction"]
        extra = f"; {len(built)} constructions checked" if built else ""
        return (
            f"Result({self.experiment!r}, claims: {counts['holds']} hold, {counts['fails']} fail, "
            f"{counts['inconclusive']} inconclusive{extra}; tables={list(self.tables)})"
        )

    def _repr_html_(self) -> str:
        """Jupyter view: verdict counts, the claims, the metrics and the first static figure."""
        from depthlab.report.notebook import result_html

        return result_html(self)

    def claims_frame(self) -> pd.DataFrame:
        """One row per claim; the interval and region as flat ``_lo``/``_hi`` columns."""
        rows = []
        for c in self.claims:
            d = c.to_dict()
            d.pop("samples")
            d.pop("history")
            iv, rg = d.pop("interval"), d.pop("region") or {}
            d["interval_lo"], d["interval_hi"] = (iv or (None, None))[0], (iv or (None, None))[1]
            d["region_lo"], d["region_hi"] = rg.get("lo"), rg.get("hi")
            d["changes"] = len(c.history)
            rows.append(dict(experiment=self.experiment, **d))
        return pd.DataFrame(rows)

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment,
            "claims": [c.to_dict() for c in self.claims],
            "metrics": _jsonable(self.metrics),
            "figures": dict(self.figures),
            "tables": sorted(self.tables),
            "meta": _jsonable(self.meta),
        }
