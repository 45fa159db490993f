"""Sweeps: one experiment over a grid of config values and seeds, resumable, local or on Ray.

A spec (YAML, read by :func:`depthlab.validate.read_config_file`: safe, no aliases or tags) names a registered experiment and what to vary::

    experiment: universal-approximation
    quick: true                  # start from the --quick config
    set: {finetune_steps: 50}    # fixed overrides for every cell
    grid:                        # Cartesian product over config keys
      n_train: [256, 512]
      seeds: [1, 2]              # (a config key that happens to be called "seeds")
    cases:                       # optional explicit list, crossed with the grid
      - {widths: [1, 2, 4]}
      - {widths: [1, 2, 4, 8]}
    seeds: [0, 1, 2]             # run seeds (or an int n for 0..n-1)
    resources: {num_cpus: 1, num_gpus: 0}   # per cell, for the Ray backend

A spec may name a probe instead (``probe: signal-moments`` or ``probe: regions-1d``): the cells
run the probe run ``probe.NAME`` (``depthlab.experiments.probe_runs``) and the probe's tidy table
goes to ``OUT/tables/<name>/``, so depth x width x init x seed grids over a probe need no code.

Every cell's config is validated before anything is written, so a malformed spec leaves no
directory behind. A cell is identified by the hash of its *resolved* config, seed and quick flag:
two cells that resolve to the same config are one cell, and re-running a spec skips the cells
whose run directory says ``done``.

Layout of a sweep directory::

    OUT/sweep.json                    the spec and the planned cells
    OUT/cells/<key>/                  one run directory per cell (written atomically)
    OUT/table/cell-<key>.parquet      one row per finished cell: swept values, seed, metrics, verdicts
    OUT/tables/<name>/cell-<key>.parquet   each experiment table, with the cell's columns prepended

``OUT/table`` is a Parquet dataset: ``pandas.read_parquet(OUT/"table")``,
``duckdb.sql("select * from 'OUT/table/*.parquet'")`` or ``polars.read_parquet("OUT/table/*.parquet")``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from depthlab.atomic import atomic_write_json, atomic_write_parquet
from depthlab.config import ConfigError
from depthlab.parallel.executors import Event, Executor, Resources, make_executor
from depthlab.runs.spec import (
    DEVICES,
    MAX_CELLS,
    ResourceSpec,
    SpecError,
    SweepSpec,
    check_cell_cap,
    count_cells,
    load_spec,
    parse_spec,
)
from depthlab.runs.store import read_status

SPEC_VERSION = 1


@dataclass(frozen=True)
class Cell:
    """One point of a sweep: the overrides, the seed, and the key of its resolved config."""

    key: str
    experiment: str
    overrides: dict[str, Any]
    seed: int
    quick: bool
    device: str
    columns: dict[str, Any]  # swept values as table columns (typed consistently across cells)
    dtypes: dict[str, str] = field(default_factory=dict)  # pandas dtype of each swept column


@dataclass(frozen=True)
class CellOutcome:
    """What a worker reports for one cell."""

    key: str
    status: str  # "done" | "failed" | "skipped"
    wall_s: float = 0.0
    error: str = ""


@dataclass
class SweepSummary:
    """The counts after a sweep, and where its table is."""

    out: Path
    total: int
    done: int = 0
    failed: int = 0
    skipped: int = 0
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def table_path(self) -> Path:
        return self.out / "table"

    def __repr__(self) -> str:
        return (
            f"SweepSummary({str(self.out)!r}: {self.total} cells, {self.done} done, "
            f"{self.skipped} already done, {self.failed} failed)"
        )


# ----------------------------------------------------------------------------- plan


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def cell_key(experiment: str, config: dict[str, Any], seed: int, quick: bool) -> str:
    """16 hex digits identifying a resolved config; equal configs give equal keys."""
    blob = _canonical({"experiment": experiment, "config": config, "seed": seed, "quick": quick})
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _column_encoder(values: list[Any]) -> tuple[Callable[[Any], Any], str]:
    """One consistent Parquet type per swept key: bool, int, float, str, or JSON text.

    Returns the encoder and the pandas dtype the column is written with (nullable, so a cell that
    does not set the key writes a typed null, and every file of the dataset has one schema).
    """
    if all(isinstance(v, bool) for v in values):
        return bool, "boolean"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return int, "Int64"
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return float, "float64"
    if all(isinstance(v, str) for v in values):
        return str, "string"
    return (lambda v: json.dumps(v, sort_keys=True, default=str)), "string"


def plan(spec: SweepSpec, max_cells: int = MAX_CELLS) -> list[Cell]:
    """Expand a spec into cells, validating every cell's config (nothing is written).

    Raises
    ------
    SpecError
        On an unknown experiment, or a cell whose config is invalid (the message names the cell).
    """
    from depthlab.experiments import registry

    reg = registry(include_probes=True)
    if spec.experiment not in reg:
        raise SpecError(
            f"spec error: unknown experiment {spec.experiment!r}; available: {', '.join(reg)}"
        )
    exp = reg[spec.experiment]
    check_cell_cap(spec, max_cells)
    grid_keys = list(spec.grid)
    combos = [
        dict(zip(grid_keys, vals, strict=True)) for vals in itertools.product(*spec.grid.values())
    ]
    cases = spec.cases or [{}]
    swept: list[dict[str, Any]] = [{**case, **combo} for case in cases for combo in combos]
    swept_keys = list(dict.fromkeys(k for s in swept for k in s))
    coders = {k: _column_encoder([s[k] for s in swept if k in s]) for k in swept_keys}
    encoders = {k: fn for k, (fn, _) in coders.items()}
    dtypes = {k: dtype for k, (_, dtype) in coders.items()}
    cells: dict[str, Cell] = {}
    for values in swept:
        overrides = {**spec.fixed, **values}
        try:
            config = exp.Config.build(overrides, quick=spec.quick)
        except ConfigError as exc:
            shown = _canonical(values) if values else "(no swept values)"
            raise SpecError(f"{exc} [in cell {shown}]") from None
        resolved = config.model_dump(mode="json")
        columns = {k: (encoders[k](values[k]) if k in values else None) for k in swept_keys}
        for seed in spec.seeds:
            key = cell_key(spec.experiment, resolved, seed, spec.quick)
            cells.setdefault(
                key,
                Cell(
                    key, spec.experiment, overrides, seed, spec.quick, spec.device, columns, dtypes
                ),
            )
    return list(cells.values())


# ----------------------------------------------------------------------------- one cell


@contextmanager
def _cell_lock(cell_dir: Path) -> Iterator[None]:
    """An exclusive lock on a cell, so two processes never run the same cell at once."""
    cell_dir.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; one driver per sweep directory
        yield
        return
    fd = os.open(cell_dir / ".lock", os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def cell_dir(out: Path, key: str) -> Path:
    return Path(out) / "cells" / key


def run_cell(cell: Cell, out: str) -> CellOutcome:
    """Run one cell into ``OUT/cells/<key>`` (a worker entry point; never raises for cell errors)."""
    from depthlab.runs.runner import run_experiment

    out_p = Path(out)
    d = cell_dir(out_p, cell.key)
    t0 = time.perf_counter()
    with _cell_lock(d):
        if read_status(d) == "done":  # finished by an earlier (or concurrent) run
            write_parts(out_p, cell)
            return CellOutcome(cell.key, "skipped")
        try:
            run_experiment(
                cell.experiment,
                cell.overrides,
                out_dir=d,
                quick=cell.quick,
                seed=cell.seed,
                device=cell.device,
            )
        except Exception as exc:
            text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            return CellOutcome(cell.key, "failed", time.perf_counter() - t0, text)
        write_parts(out_p, cell)
    return CellOutcome(cell.key, "done", time.perf_counter() - t0)


def _cell_frame(cell: Cell, n: int = 1) -> pd.DataFrame:
    """The cell's identifying columns, ``n`` rows, with the same dtypes in every cell."""
    cols: dict[str, Any] = {
        "cell": pd.array([cell.key] * n, dtype="string"),
        "experiment": pd.array([cell.experiment] * n, dtype="string"),
        "seed": pd.array([cell.seed] * n, dtype="int64"),
    }
    for k, v in cell.columns.items():
        cols[k] = pd.array([v] * n, dtype=cell.dtypes.get(k, "string"))
    return pd.DataFrame(cols)


def _fix_null_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """All-None object columns would be written as Parquet ``null``; write them as float64."""
    null = [c for c in frame.columns if frame[c].dtype == object and frame[c].isna().all()]
    return frame.astype({c: "float64" for c in null}) if null else frame


def write_parts(out: Path, cell: Cell) -> None:
    """Write this finished cell's rows into the sweep's Parquet datasets (atomic, idempotent)."""
    from depthlab.runs.store import load_result

    res = load_result(cell_dir(out, cell.key))
    for name, frame in res.tables.items():
        prefix = _cell_frame(cell, len(frame))
        clash = [c for c in frame.columns if c in prefix.columns]
        frame = _fix_null_columns(frame.rename(columns={c: f"{name}.{c}" for c in clash}))
        part = pd.concat([prefix, frame.reset_index(drop=True)], axis=1)
        atomic_write_parquet(Path(out) / "tables" / name / f"cell-{cell.key}.parquet", part)
    row = _cell_frame(cell)
    row["wall_s"] = pd.array([float(res.meta.get("wall_s", float("nan")))], dtype="float64")
    for k, v in res.metrics.items():
        numeric = isinstance(v, (int, float)) and not isinstance(v, bool)
        row[f"metric.{k}"] = pd.array([v], dtype="float64" if numeric else "string")
    for c in res.claims:
        row[f"verdict.{c.id}"] = pd.array([c.verdict], dtype="string")
    # The headline row goes last: its presence means every part of this cell is written.
    atomic_write_parquet(Path(out) / "table" / f"cell-{cell.key}.parquet", row)


# ----------------------------------------------------------------------------- the sweep


ProgressFn = Callable[[Event, dict[str, int]], None]


def _check_manifest(manifest: Path, spec: SweepSpec, out_p: Path) -> None:
    """Refuse a damaged ``sweep.json`` or one of another experiment (nothing is written)."""
    if not manifest.exists():
        return
    try:
        old = json.loads(manifest.read_text(encoding="utf-8"))
        if not isinstance(old, dict):
            raise ValueError("not a mapping")
    except (ValueError, OSError) as exc:
        raise SpecError(
            f"spec error: {manifest} is damaged ({type(exc).__name__}); remove it or choose "
            "another out directory"
        ) from None
    if old.get("experiment") != spec.experiment:
        raise SpecError(
            f"spec error: {out_p} holds a sweep of {old.get('experiment')!r}, not "
            f"{spec.experiment!r}; choose another out directory"
        )


def _begin_sweep(
    spec: SweepSpec, cells: list[Cell], out_p: Path
) -> tuple[SweepSummary, list[Cell]]:
    """Write ``sweep.json``, drop stale rows, and split the cells into finished and to do."""
    atomic_write_json(
        out_p / "sweep.json",
        {
            "version": SPEC_VERSION,
            "experiment": spec.experiment,
            "spec": spec.model_dump(mode="json", by_alias=True),
            "cells": [
                {"key": c.key, "seed": c.seed, "overrides": c.overrides, "columns": c.columns}
                for c in cells
            ],
        },
    )
    remove_stale_rows(out_p, {c.key for c in cells})
    summary = SweepSummary(out_p, total=len(cells))
    todo = []
    for c in cells:
        if read_status(cell_dir(out_p, c.key)) == "done":
            summary.skipped += 1
            if not (out_p / "table" / f"cell-{c.key}.parquet").exists():
                write_parts(out_p, c)  # the driver died between the run and its table row
        else:
            todo.append(c)
    return summary, todo


def run_sweep(
    spec: SweepSpec,
    out: str | os.PathLike | None = None,
    *,
    backend: str = "local",
    jobs: int = 1,
    address: str | None = None,
    executor: Executor | None = None,
    on_event: ProgressFn | None = None,
    max_cells: int = MAX_CELLS,
) -> SweepSummary:
    """Plan, skip finished cells, run the rest, and keep the sweep table in step.

    Parameters
    ----------
    spec : a validated :class:`SweepSpec` (see :func:`load_spec`).
    out : the sweep directory (default: ``spec.out`` or ``runs/sweep-<experiment>``).
    backend : ``local`` (``jobs`` processes), ``serial`` or ``ray``.
    address : Ray cluster address (``--address``); None starts a local Ray.
    executor : use this executor instead of building one from ``backend``.
    on_event : called with each :class:`Event` and the counts
        ``{"total", "done", "failed", "running", "skipped"}``, for progress bars.
    max_cells : refuse a spec of more cells than this (checked before expanding it).

    Local workers are capped at the number of cells left to run. Rows of ``OUT/table`` and
    ``OUT/tables/*`` whose cell is not in this spec (left by an earlier, edited spec) are removed,
    so the table always matches ``sweep.json``; the earlier cells' run directories are kept and are
    reused if a later spec plans them again.

    Returns
    -------
    SweepSummary
        Counts; failed cells' one-line errors are in ``errors`` and tracebacks in their run
        directory's ``error.txt``.
    """
    cells = plan(spec, max_cells=max_cells)
    out_p = Path(out or spec.out or f"runs/sweep-{spec.experiment}")
    _check_manifest(out_p / "sweep.json", spec, out_p)
    ray_ex = None
    if backend == "ray" and executor is None:
        # Connect before anything is written: a cluster that is not there is one line, no files.
        if address:
            check_ray_address(address)
        ray_ex = make_executor(
            "ray",
            jobs=jobs,
            address=address,
            resources=Resources(spec.resources.num_cpus, spec.resources.num_gpus),
        )
        try:
            ray_ex.start()
        except ConnectionError as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise SpecError(f"--address {address}: no Ray cluster found ({first})") from None
    try:
        summary, todo = _begin_sweep(spec, cells, out_p)
    except BaseException:
        if ray_ex is not None:
            ray_ex.close()
        raise
    counts = {"total": len(todo), "done": 0, "failed": 0, "running": 0, "skipped": summary.skipped}
    if not todo:
        if ray_ex is not None:
            ray_ex.close()
        return summary
    ex = (
        executor
        or ray_ex
        or make_executor(
            backend,
            jobs=max(1, min(jobs, len(todo))),
            address=address,
            resources=Resources(spec.resources.num_cpus, spec.resources.num_gpus),
        )
    )
    tasks = [(c.key, run_cell, (c, str(out_p))) for c in todo]
    try:
        for ev in ex.run(tasks):
            if ev.kind == "start":
                counts["running"] += 1
            else:
                counts["running"] -= 1
                outcome = ev.value if ev.kind == "result" else None
                if outcome is not None and outcome.status in ("done", "skipped"):
                    counts["done"] += 1
                    summary.done += 1
                else:
                    counts["failed"] += 1
                    summary.failed += 1
                    msg = outcome.error if outcome is not None else f"{ev.value!r}"
                    summary.errors[ev.key] = msg
            if on_event is not None:
                on_event(ev, dict(counts))
    finally:
        if executor is None:
            ex.close()
    return summary


def remove_stale_rows(out: str | os.PathLike, keep: set[str]) -> list[Path]:
    """Remove ``OUT/table`` and ``OUT/tables/*`` parts of cells not in ``keep``; return them."""
    out = Path(out)
    removed = []
    for part in [*out.glob("table/cell-*.parquet"), *out.glob("tables/*/cell-*.parquet")]:
        key = part.name.removeprefix("cell-").removesuffix(".parquet")
        if key not in keep:
            part.unlink(missing_ok=True)
            removed.append(part)
    return removed


def check_ray_address(address: str, timeout: float = 3.0) -> None:
    """Fail fast, with one line, when a Ray ``--address`` cannot be reached.

    ``auto`` / ``local`` are left to Ray (it finds or starts the cluster itself). Anything else is
    ``[ray://]host:port``: a TCP connection to it must open within ``timeout`` seconds.
    """
    import socket

    if address in ("auto", "local"):
        return
    hostport = address.removeprefix("ray://")
    host, sep, port = hostport.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise SpecError(f"--address {address!r} is not host:port (or ray://host:port, or auto)")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise SpecError(
            f"--address {address}: no Ray cluster answers there ({reason}); start one with "
            "`ray start --head` or check the address"
        ) from None


def read_table(out: str | os.PathLike, name: str | None = None) -> pd.DataFrame:
    """The sweep table (one row per finished cell), or experiment table ``name`` of every cell."""
    d = Path(out) / ("table" if name is None else f"tables/{name}")
    parts = sorted(d.glob("cell-*.parquet"))
    if not parts:
        return pd.DataFrame()
    return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)


__all__ = [
    "DEVICES",
    "MAX_CELLS",
    "Cell",
    "CellOutcome",
    "ResourceSpec",
    "SpecError",
    "SweepSpec",
    "SweepSummary",
    "cell_dir",
    "cell_key",
    "check_cell_cap",
    "check_ray_address",
    "count_cells",
    "load_spec",
    "parse_spec",
    "plan",
    "read_table",
    "remove_stale_rows",
    "run_cell",
    "run_sweep",
    "write_parts",
]
