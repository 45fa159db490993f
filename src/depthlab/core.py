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


@dataclass(frozen=True)
class Claim:
    """One claim of the lecture, measured.

    Attributes
    ----------
    id : stable identifier, e.g. ``"hanin-rolnick-2018.fm1.he-mean-flat"``.
    statement : the claim in one plain sentence.
    source : paper and theorem, or lecture slide.
    predicted : what theory predicts (number or short text).
    measured : what depthlab measured.
    tolerance : how agreement is judged, in words a reader can check.
    verdict : ``"holds"``, ``"fails"`` or ``"inconclusive"``.
    """

    id: str
    statement: str
    source: str
    predicted: float | str | None
    measured: float | str | None
    tolerance: str
    verdict: Verdict
    note: str = ""

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Claim:
        return cls(**{k: d.get(k, "") for k in cls.__dataclass_fields__})


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
        counts = {v: sum(c.verdict == v for c in self.claims) for v in VERDICTS}
        return (
            f"Result({self.experiment!r}, claims: {counts['holds']} hold, {counts['fails']} fail, "
            f"{counts['inconclusive']} inconclusive; tables={list(self.tables)})"
        )

    def _repr_html_(self) -> str:
        """Jupyter view: verdict counts, the claims, the metrics and the first static figure."""
        from depthlab.report.notebook import result_html

        return result_html(self)

    def claims_frame(self) -> pd.DataFrame:
        rows = [dict(experiment=self.experiment, **c.to_dict()) for c in self.claims]
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
