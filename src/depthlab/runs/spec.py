"""Sweep specs: the validated form of a sweep's YAML (see :mod:`depthlab.runs.sweep`).

Read with :func:`depthlab.validate.read_config_file` (safe YAML: no aliases, tags, duplicate
keys, tabs in the indentation or deep nesting); every field is checked before anything is
expanded or written, including the number of cells (grid product x cases x seeds) against a cap.
"""

from __future__ import annotations

import math
import os
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from depthlab.config import ConfigError
from depthlab.context import SEED_MAX
from depthlab.validate import InputError, read_config_file

MAX_CELLS = 100_000  # the default cap on a sweep's cells (``--max-cells`` changes it)
DEVICES = ("auto", "cpu", "cuda", "mps")


class SpecError(ConfigError):
    """A malformed sweep spec. The message is one line naming the bad key and what is allowed."""


class ResourceSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    num_cpus: float = Field(1.0, ge=0, allow_inf_nan=False)
    num_gpus: float = Field(0.0, ge=0, allow_inf_nan=False)


class SweepSpec(BaseModel):
    """A validated sweep spec (see the module docstring for the YAML form)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    experiment: str = Field(
        ..., min_length=1, description="registered experiment name (or give `probe: NAME`)"
    )
    grid: dict[str, list[Any]] = Field(default_factory=dict, description="key -> values (product)")
    cases: list[dict[str, Any]] = Field(default_factory=list, description="explicit overrides")
    fixed: dict[str, Any] = Field(default_factory=dict, alias="set", description="for every cell")
    seeds: list[int] = Field(default_factory=lambda: [0], description="run seeds, or an int n")
    quick: bool = False
    device: str = "auto"
    resources: ResourceSpec = Field(default_factory=ResourceSpec)
    out: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _probe_is_an_experiment(cls, data: Any) -> Any:
        """``probe: NAME`` names the probe run ``probe.NAME`` (see depthlab.experiments.probe_runs)."""
        if isinstance(data, dict) and "probe" in data:
            data = dict(data)
            name = data.pop("probe")
            if "experiment" in data:
                raise ValueError("give either experiment or probe, not both")
            if not isinstance(name, str) or not name:
                raise ValueError(f"probe must be a probe name, got {name!r}")
            data["experiment"] = name if name.startswith("probe.") else f"probe.{name}"
        return data

    @field_validator("seeds", mode="before")
    @classmethod
    def _seeds(cls, v: Any, info: ValidationInfo) -> Any:
        if isinstance(v, bool):
            raise ValueError("seeds must be a list of integers or a count")
        if isinstance(v, int):
            if v < 1:
                raise ValueError(f"seeds as a count must be >= 1, got {v}")
            cap = (info.context or {}).get("max_cells", MAX_CELLS)
            if v > cap:  # checked before range(v) is built: 10^12 seeds must not allocate
                raise ValueError(f"seeds count {v} is more than the cell cap {cap} (--max-cells)")
            return list(range(v))
        if isinstance(v, list):
            bad = [s for s in v if isinstance(s, bool) or not isinstance(s, int)]
            if bad:
                raise ValueError(f"seeds must be integers in 0..{SEED_MAX}, got {_short(bad[0])}")
        return v

    @field_validator("seeds")
    @classmethod
    def _seeds_ok(cls, v: list[int]) -> list[int]:
        if not v:
            raise ValueError("seeds is empty; give at least one seed")
        if any(s < 0 for s in v):
            raise ValueError(f"seeds must be >= 0, got {_short(min(v))}")
        if any(s > SEED_MAX for s in v):
            raise ValueError(f"seeds must be in 0..{SEED_MAX}, got {max(v)}")
        if len(set(v)) != len(v):
            raise ValueError(f"seeds has duplicates: {_short(v)}")
        return v

    @field_validator("device", mode="before")
    @classmethod
    def _device_ok(cls, v: Any) -> Any:
        if not isinstance(v, str) or (v not in DEVICES and not _is_cuda_index(v)):
            raise ValueError(f"device must be one of {', '.join(DEVICES)} (or cuda:N), got {v!r}")
        return v

    @field_validator("quick", mode="before")
    @classmethod
    def _quick_is_bool(cls, v: Any) -> Any:
        if not isinstance(v, bool):
            raise ValueError(f"quick must be true or false, got {_short(v)}")
        return v

    @field_validator("grid")
    @classmethod
    def _grid_ok(cls, v: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for key, values in v.items():
            if not values:
                raise ValueError(f"grid key {key!r} has no values; give at least one")
        return v


def _is_cuda_index(v: str) -> bool:
    head, _, idx = v.partition(":")
    return head == "cuda" and idx.isdigit() and idx.isascii()


def _short(value: Any, limit: int = 60) -> str:
    text = " ".join(repr(value).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def count_cells(spec: SweepSpec) -> int:
    """Cells before de-duplication: grid product x cases x seeds (no list is built)."""
    n = max(1, len(spec.cases)) * len(spec.seeds)
    for values in spec.grid.values():
        n *= len(values)
    return n


def check_cell_cap(spec: SweepSpec, max_cells: int = MAX_CELLS) -> int:
    """Raise :class:`SpecError` if ``spec`` expands to more than ``max_cells`` cells."""
    n = count_cells(spec)
    if n > max_cells:
        sizes = " x ".join(
            [f"{len(v)} {k}" for k, v in spec.grid.items()]
            + ([f"{len(spec.cases)} cases"] if spec.cases else [])
            + [f"{len(spec.seeds)} seeds"]
        )
        raise SpecError(
            f"spec error: {n} cells ({sizes}) is more than the cap of {max_cells}; "
            "shrink the grid or raise --max-cells"
        )
    return n


def _find_nan(value: Any, where: str) -> None:
    if isinstance(value, float) and math.isnan(value):
        raise SpecError(f"spec error: {where} is NaN; give a number")
    if isinstance(value, dict):
        for k, v in value.items():
            _find_nan(v, f"{where}.{k}")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _find_nan(v, f"{where}[{i}]")


def parse_spec(data: Any, max_cells: int = MAX_CELLS) -> SweepSpec:
    """Validate a spec mapping; raise :class:`SpecError` with one clear line if it is malformed.

    The number of cells (grid product x cases x seeds) is checked against ``max_cells`` before
    anything is expanded."""
    if not isinstance(data, dict):
        raise SpecError(
            f"spec error: a sweep spec is a mapping of key: value, got {type(data).__name__}"
        )
    try:
        spec = SweepSpec.model_validate(data, context={"max_cells": max_cells})
    except ValidationError as err:
        e = err.errors()[0]
        if e["type"] == "extra_forbidden":
            key = ".".join(str(p) for p in e["loc"])
            allowed = "experiment, grid, cases, set, seeds, quick, device, resources, out"
            if key.startswith("resources."):
                allowed = "num_cpus, num_gpus"
            raise SpecError(f"spec error: unknown key {key!r}; allowed keys: {allowed}") from None
        key = ".".join(str(p) for p in e["loc"]) or "<spec>"
        msg = " ".join(str(e["msg"]).removeprefix("Value error, ").split())
        got = e.get("input")
        shown = f" (got {_short(got)})" if not isinstance(got, (dict, list)) or not got else ""
        if "got " in msg:
            shown = ""
        raise SpecError(f"spec error: key {key!r}: {msg}{shown}") from None
    for part in ("grid", "cases", "fixed"):
        _find_nan(getattr(spec, part), "set" if part == "fixed" else part)
    sources: dict[str, str] = {}
    for part, keys in (
        ("set", list(spec.fixed)),
        ("grid", list(spec.grid)),
        ("cases", sorted({k for c in spec.cases for k in c})),
    ):
        for k in keys:
            if k == "seed":
                raise SpecError(f"spec error: {part} sets 'seed'; list run seeds under 'seeds:'")
            if k in sources:
                raise SpecError(f"spec error: key {k!r} is set in both {sources[k]} and {part}")
            sources[k] = part
    check_cell_cap(spec, max_cells)
    return spec


def load_spec(path: str | os.PathLike, max_cells: int = MAX_CELLS) -> SweepSpec:
    """Read a YAML spec with :func:`depthlab.validate.read_config_file` (safe YAML: no aliases,
    tags, duplicate keys, tabs or deep nesting) and validate it."""
    try:
        data = read_config_file(path, what="spec")
    except InputError as exc:
        raise SpecError(f"spec error: {exc}") from None
    return parse_spec(data, max_cells=max_cells)
