"""Run directories.

A run directory holds ``config.yaml``, ``result.json``, ``tables/*.parquet``, ``figures/*`` and
``status`` (``running|done|failed``). Every file is written atomically and ``status`` is written
last, so a killed run never leaves a directory that looks done.
"""

from __future__ import annotations

import json
import platform
import subprocess
import time
import traceback
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from depthlab._version import __version__
from depthlab.atomic import (
    atomic_write_json,
    atomic_write_parquet,
    atomic_write_text,
)
from depthlab.core import Claim, Result

STATUSES = ("running", "done", "failed")


def read_status(run_dir: str | Path) -> str | None:
    p = Path(run_dir) / "status"
    return p.read_text().strip() if p.exists() else None


def write_status(run_dir: str | Path, status: str) -> None:
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
    atomic_write_text(Path(run_dir) / "status", status + "\n")


def git_revision() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def environment_meta(device=None, dtype=None) -> dict[str, Any]:
    import numpy
    import torch

    return {
        "depthlab": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "platform": platform.platform(),
        "device": str(device) if device is not None else None,
        "device_name": (
            torch.cuda.get_device_name(device)
            if device is not None and str(device).startswith("cuda")
            else platform.processor() or platform.machine()
        ),
        "dtype": str(dtype).replace("torch.", "") if dtype is not None else None,
        "threads": torch.get_num_threads(),
        "git_revision": git_revision(),
    }


def begin_run(run_dir: str | Path, experiment: str, config: dict[str, Any]) -> Path:
    """Create the run directory, write the resolved config and mark it running."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    # A previous result in this directory no longer describes it.
    for stale in ("result.json", "error.txt"):
        (run_dir / stale).unlink(missing_ok=True)
    write_status(run_dir, "running")
    atomic_write_text(
        run_dir / "config.yaml",
        yaml.safe_dump({"experiment": experiment, **config}, sort_keys=False),
    )
    return run_dir


def save_result(run_dir: str | Path, result: Result) -> None:
    """Write tables, then result.json, then ``status=done`` (last)."""
    run_dir = Path(run_dir)
    for name, frame in result.tables.items():
        atomic_write_parquet(run_dir / "tables" / f"{name}.parquet", frame)
    atomic_write_json(run_dir / "result.json", result.to_json_dict())
    write_status(run_dir, "done")


def save_failure(run_dir: str | Path, exc: BaseException, meta: dict[str, Any] | None = None) -> None:
    run_dir = Path(run_dir)
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    atomic_write_text(run_dir / "error.txt", text)
    atomic_write_json(
        run_dir / "failure.json",
        {"error": f"{type(exc).__name__}: {exc}", "meta": meta or {}},
    )
    write_status(run_dir, "failed")


def load_result(run_dir: str | Path) -> Result:
    """Load a finished run. Raises if the run is not ``done``."""
    run_dir = Path(run_dir)
    status = read_status(run_dir)
    if status != "done":
        raise FileNotFoundError(f"{run_dir} is not a finished run (status: {status or 'missing'})")
    data = json.loads((run_dir / "result.json").read_text())
    config = yaml.safe_load((run_dir / "config.yaml").read_text()) or {}
    config.pop("experiment", None)
    tables = {
        name: pd.read_parquet(run_dir / "tables" / f"{name}.parquet") for name in data.get("tables", [])
    }
    return Result(
        experiment=data["experiment"],
        config=config,
        claims=[Claim.from_dict(c) for c in data.get("claims", [])],
        tables=tables,
        figures=data.get("figures", {}),
        metrics=data.get("metrics", {}),
        meta=data.get("meta", {}),
        run_dir=str(run_dir),
    )


class Timer:
    def __enter__(self) -> Timer:
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.t0
