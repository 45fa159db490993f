"""Figures are drawn from saved results.

An experiment that defines ``figures(result, fig_dir) -> {name: path}`` leaves drawing out of
``run``: the runner saves the result, loads it back from disk and calls ``figures`` on it, so every
figure is reproducible from the run directory alone. :func:`replot` redraws the figures of saved
runs without recomputing anything (``depthlab report --replot DIR``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from depthlab.atomic import atomic_write_json
from depthlab.runs.store import load_result, read_status

log = logging.getLogger("depthlab")


def draws_from_results(exp: Any) -> bool:
    """True when the experiment draws its figures from a saved result (has ``figures``)."""
    return callable(getattr(exp, "figures", None))


def draw_figures(exp: Any, run_dir: str | Path) -> dict[str, str]:
    """Load the saved result of ``run_dir``, draw ``exp``'s figures from it, and record them in
    ``result.json`` (written atomically). Returns ``{name: path relative to run_dir}``."""
    run_dir = Path(run_dir)
    saved = load_result(run_dir)
    fig_dir = run_dir / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    drawn = exp.figures(saved, fig_dir) or {}
    figures: dict[str, str] = {}
    for name, path in drawn.items():
        p = Path(path)
        figures[str(name)] = str(p.relative_to(run_dir)) if p.is_absolute() else str(p)
    data = json.loads((run_dir / "result.json").read_text(encoding="utf-8"))
    data["figures"] = {**data.get("figures", {}), **figures}
    atomic_write_json(run_dir / "result.json", data)
    return figures


def replot(root: str | Path) -> dict[str, dict[str, str]]:
    """Redraw the figures of every finished run under ``root`` (a run directory or a directory of
    them, as ``depthlab reproduce`` writes). Runs of experiments that draw during ``run`` are
    listed with an empty dict and a log line. Returns ``{run_dir: figures}``."""
    from depthlab.experiments import get_experiment  # runs sit above experiments

    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no run directory at {root}")
    dirs = (
        [root]
        if (root / "result.json").exists()
        else sorted(d for d in root.iterdir() if d.is_dir() and (d / "result.json").exists())
    )
    if not dirs:
        raise FileNotFoundError(f"no finished runs (result.json) under {root}")
    out: dict[str, dict[str, str]] = {}
    for d in dirs:
        if read_status(d) != "done":
            log.warning("replot: skipping %s (status %s)", d, read_status(d))
            continue
        name = json.loads((d / "result.json").read_text(encoding="utf-8"))["experiment"]
        exp = get_experiment(name)
        if not draws_from_results(exp):
            log.warning("replot: %s draws its figures while it runs; rerun it to redraw", name)
            out[str(d)] = {}
            continue
        out[str(d)] = draw_figures(exp, d)
    return out
