"""Run directories.

A run directory holds ``config.yaml``, ``result.json``, ``tables/*.parquet``, ``figures/*`` and
``status`` (``running|done|failed``). Every file is written atomically (temp file, fsync, rename).
``status=done`` is written last, after ``result.json``; a re-run writes ``status=running`` FIRST
and only then removes the old result. So at no instant does a directory without ``result.json``
say ``done``, whatever moment a run is killed at (tests/cli/test_kill_every_write.py kills a run at
every write). Temp files orphaned by a kill (``.NAME.XXXX.tmp``) are removed when the next run
starts in the directory.
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
from depthlab.validate import InputError, load_yaml

STATUSES = ("running", "done", "failed")


class DamagedRunError(InputError, FileNotFoundError):
    """A run directory whose files cannot be read back; the message is one line naming the file."""


def read_status(run_dir: str | Path) -> str | None:
    """``running``, ``done`` or ``failed``; None when there is no status, or it is unreadable
    (not UTF-8, not one of the three words), so a damaged directory never counts as done."""
    p = Path(run_dir) / "status"
    try:
        text = p.read_bytes().decode("utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text if text in STATUSES else None


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


def remove_orphan_temps(run_dir: str | Path) -> list[Path]:
    """Remove temp files (``.NAME.XXXX.tmp``) a killed atomic write left in ``run_dir``."""
    run_dir = Path(run_dir)
    orphans = [p for p in run_dir.rglob(".*.tmp") if p.is_file()]
    for p in orphans:
        p.unlink(missing_ok=True)
    return orphans


class _PlainDumper(yaml.SafeDumper):
    """Never writes anchors or aliases (which :func:`depthlab.validate.load_yaml` refuses)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def begin_run(run_dir: str | Path, experiment: str, config: dict[str, Any]) -> Path:
    """Create the run directory, mark it running, then clear the old result and write the config.

    ``status=running`` is written FIRST: a kill at any later point leaves a directory that says
    ``running`` (never ``done`` without its ``result.json``).
    """
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise DamagedRunError(f"{run_dir} exists and is not a directory; give a directory")
    run_dir.mkdir(parents=True, exist_ok=True)
    if (run_dir / "status").is_dir():
        raise DamagedRunError(f"{run_dir}/status is a directory; this is not a run directory")
    write_status(run_dir, "running")
    # A previous result in this directory no longer describes it.
    for stale in ("result.json", "error.txt", "failure.json"):
        (run_dir / stale).unlink(missing_ok=True)
    remove_orphan_temps(run_dir)
    atomic_write_text(
        run_dir / "config.yaml",
        yaml.dump({"experiment": experiment, **config}, Dumper=_PlainDumper, sort_keys=False),
    )
    return run_dir


def save_result(run_dir: str | Path, result: Result) -> None:
    """Write tables, then result.json, then ``status=done`` (last)."""
    run_dir = Path(run_dir)
    for name, frame in result.tables.items():
        atomic_write_parquet(run_dir / "tables" / f"{name}.parquet", frame)
    atomic_write_json(run_dir / "result.json", result.to_json_dict())
    write_status(run_dir, "done")


def save_failure(
    run_dir: str | Path, exc: BaseException, meta: dict[str, Any] | None = None
) -> None:
    run_dir = Path(run_dir)
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    atomic_write_text(run_dir / "error.txt", text)
    atomic_write_json(
        run_dir / "failure.json",
        {"error": f"{type(exc).__name__}: {exc}", "meta": meta or {}},
    )
    write_status(run_dir, "failed")


def _damaged(run_dir: Path, what: str) -> DamagedRunError:
    return DamagedRunError(f"run directory {run_dir} is damaged: {what}")


def _read_run_files(run_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """``result.json`` and ``config.yaml`` of a done run, checked; :class:`DamagedRunError`."""
    try:
        data = json.loads((run_dir / "result.json").read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise _damaged(run_dir, "status says done but result.json is missing") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise _damaged(run_dir, f"result.json cannot be read ({type(exc).__name__})") from None
    if not isinstance(data, dict) or not isinstance(data.get("experiment"), str):
        raise _damaged(run_dir, "result.json is not a result (no experiment name)")
    meta = data.get("meta", {})
    if not isinstance(meta, dict):
        raise _damaged(run_dir, "result.json meta is not a mapping")
    wall = meta.get("wall_s")
    if wall is not None and (isinstance(wall, bool) or not isinstance(wall, (int, float))):
        raise _damaged(run_dir, f"result.json meta.wall_s is not a number (got {wall!r:.40})")
    for key in ("claims", "tables"):
        if not isinstance(data.get(key, []), list):
            raise _damaged(run_dir, f"result.json {key} is not a list")
    for key in ("metrics", "figures"):
        if not isinstance(data.get(key, {}), dict):
            raise _damaged(run_dir, f"result.json {key} is not a mapping")
    try:
        config = load_yaml((run_dir / "config.yaml").read_bytes(), str(run_dir / "config.yaml"))
    except FileNotFoundError:
        raise _damaged(run_dir, "config.yaml is missing") from None
    except OSError as exc:
        raise _damaged(run_dir, f"config.yaml cannot be read ({exc.strerror})") from None
    except InputError as exc:
        raise _damaged(run_dir, str(exc)) from None
    config = config or {}
    if not isinstance(config, dict):
        raise _damaged(run_dir, "config.yaml is not a mapping")
    return data, config


def load_result(run_dir: str | Path) -> Result:
    """Load a finished run. Raises if the run is not ``done``, and :class:`DamagedRunError` (one
    line naming the file) if its files cannot be read back."""
    run_dir = Path(run_dir)
    status = read_status(run_dir)
    if status != "done":
        raise FileNotFoundError(f"{run_dir} is not a finished run (status: {status or 'missing'})")
    data, config = _read_run_files(run_dir)
    config.pop("experiment", None)
    tables = {}
    for name in data.get("tables", []):
        try:
            tables[name] = pd.read_parquet(run_dir / "tables" / f"{name}.parquet")
        except Exception as exc:
            raise _damaged(
                run_dir, f"tables/{name}.parquet cannot be read ({type(exc).__name__})"
            ) from None
    try:
        claims = [Claim.from_dict(c) for c in data.get("claims", [])]
    except Exception as exc:
        raise _damaged(
            run_dir, f"result.json claims cannot be read ({type(exc).__name__})"
        ) from None
    return Result(
        experiment=data["experiment"],
        config=config,
        claims=claims,
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
