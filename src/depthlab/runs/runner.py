"""Run one registered experiment into a run directory."""

from __future__ import annotations

import os
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
    threads: int | None = None,
) -> Result:
    """Validate the config, run the experiment, and save everything atomically.

    The config is validated before anything is written, so a bad key leaves no run directory.
    On an exception the directory is marked ``failed`` with the traceback, and the error re-raised.
    ``threads`` sets torch's intra-op threads for this process (None: ``$DEPTHLAB_THREADS`` if
    set, which is how ``--threads`` reaches sweep workers, else leave torch's setting); the
    threads used are in the result's ``meta["threads"]``.
    """
    from depthlab.experiments import get_experiment

    exp = get_experiment(name)
    scale = resolve_scale(scale, quick=quick)
    quick = scale in ("quick", "tiny")
    config = exp.Config.build(overrides, scale=scale)
    check_seed(seed)
    dev = resolve_device(device)
    threads_source = apply_threads(threads)
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
    meta["threads_source"] = threads_source
    meta |= report_meta(exp)
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


THREADS_ENV = "DEPTHLAB_THREADS"


def default_threads(cpu_count: int | None = None) -> int | None:
    """The CLI's default ``--threads``: 1 on a machine of at most 2 CPUs, else None (torch's own).

    Measured on a loaded 2-core machine (README, "Threads"): small nets ran faster on one intra-op
    thread than on two, which contend with each other and with every other process.
    """
    n = os.cpu_count() if cpu_count is None else cpu_count
    return 1 if (n or 1) <= 2 else None


def check_threads(threads: int | None) -> int | None:
    """``threads`` if None or a positive int, else a ValueError naming ``--threads``."""
    if threads is None:
        return None
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"--threads must be a whole number >= 1, got {threads!r}")
    return threads


def apply_threads(threads: int | None = None) -> str:
    """Set torch's intra-op threads to ``threads`` (or ``$DEPTHLAB_THREADS``); say where the
    number came from: ``"threads"``, ``"env"`` or ``"torch"`` (left as it was)."""
    source = "threads"
    if threads is None:
        env = os.environ.get(THREADS_ENV, "").strip()
        if not env:
            return "torch"
        try:
            threads = int(env)
        except ValueError:
            raise ValueError(f"{THREADS_ENV} must be a whole number >= 1, got {env!r}") from None
        source = "env"
    check_threads(threads)
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return source


def report_meta(exp: Any) -> dict[str, Any]:
    """What the report needs about ``exp``, saved in the run's ``meta`` so the report never
    imports the experiment registry: title, section (key, title, rank), order and captions."""
    from depthlab.experiments import SECTIONS

    keys = list(SECTIONS)
    captions = getattr(exp, "captions", None) or {}
    return {
        "title": exp.title,
        "section": exp.section,
        "section_title": SECTIONS.get(exp.section, exp.section),
        "section_rank": keys.index(exp.section) if exp.section in keys else len(keys),
        "order": getattr(exp, "order", 0),
        "captions": {str(k): str(v) for k, v in dict(captions).items()},
    }


def _check_finite(result: Result) -> None:
    """Refuse to store NaN/Inf metrics as if valid."""
    import math

    bad = [k for k, v in result.metrics.items() if isinstance(v, float) and not math.isfinite(v)]
    if bad:
        raise FloatingPointError(
            f"experiment {result.experiment!r} produced non-finite metrics: {bad}"
        )
