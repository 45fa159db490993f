"""Run one registered experiment into a run directory."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from depthlab.config import resolve_scale
from depthlab.context import RunContext, check_seed, resolve_device
from depthlab.core import Result
from depthlab.progress import QUIET, Progress
from depthlab.runs.figures import draw_figures, draws_from_results
from depthlab.runs.store import begin_run, environment_meta, save_failure, save_result


class RunTerminated(BaseException):
    """Raised in the main thread on SIGTERM (see :func:`sigterm_raises`).

    A ``BaseException`` like ``KeyboardInterrupt``, so ``except Exception`` in experiment code
    does not swallow it; :func:`run_experiment` records it as the run's failure.
    """


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """Within this block SIGTERM raises :class:`RunTerminated`, as Ctrl-C raises KeyboardInterrupt.

    So a run stopped by ``kill`` (or a scheduler's timeout) ends ``failed`` with the reason in its
    ``error.txt`` instead of staying ``running``. Does nothing outside the main thread or where
    SIGTERM already has a handler; the previous handler is restored on exit.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous not in (signal.SIG_DFL, None):
        yield
        return

    def _raise(signum, frame):
        raise RunTerminated("received SIGTERM: the run was stopped by a signal")

    signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_experiment(
    name: str,
    overrides: dict[str, Any] | None = None,
    *,
    out_dir: str | Path,
    quick: bool = False,
    scale: str | None = None,
    seed: int = 0,
    device: str | torch.device = "auto",
    dtype: torch.dtype = torch.float32,
    progress: Progress = QUIET,
) -> Result:
    """Validate the config, run the experiment, and save everything atomically.

    The config is validated before anything is written, so a bad key leaves no run directory.
    On an exception the directory is marked ``failed`` with the traceback, and the error re-raised.
    """
    from depthlab.experiments import get_experiment

    exp = get_experiment(name)
    scale = resolve_scale(scale, quick=quick)
    quick = scale in ("quick", "tiny")
    config = exp.Config.build(overrides, scale=scale)
    check_seed(seed)
    dev = resolve_device(device)
    run_dir = begin_run(out_dir, exp.name, config.model_dump(mode="json"))
    ctx = RunContext(
        device=dev,
        dtype=dtype,
        seed=seed,
        out_dir=run_dir,
        quick=quick,
        progress=progress,
        scale=scale,
    )
    meta = environment_meta(dev, dtype) | {"seed": seed, "quick": quick, "scale": scale}
    meta |= {"title": exp.title, "section": exp.section, "order": getattr(exp, "order", 0)}
    t0 = time.perf_counter()
    try:
        # No global seeding: every random draw comes from ctx.generator(*key) / ctx.rng(*key), and
        # nets take generator= (depthlab.nets.seeded), so the global RNG never decides a number.
        result = exp.run(config, ctx)
        result.config = config.model_dump(mode="json")
        result.meta = {**meta, **result.meta, "wall_s": round(time.perf_counter() - t0, 3)}
        _check_finite(result)
        save_result(run_dir, result)
        if draws_from_results(exp):
            result.figures.update(draw_figures(exp, run_dir))
        result.run_dir = str(run_dir)
        return result
    except BaseException as exc:
        save_failure(run_dir, exc, meta | {"wall_s": round(time.perf_counter() - t0, 3)})
        raise


def _check_finite(result: Result) -> None:
    """Refuse to store NaN/Inf metrics as if valid."""
    import math

    bad = [k for k, v in result.metrics.items() if isinstance(v, float) and not math.isfinite(v)]
    if bad:
        raise FloatingPointError(
            f"experiment {result.experiment!r} produced non-finite metrics: {bad}"
        )
