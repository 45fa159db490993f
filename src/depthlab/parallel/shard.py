"""Sharding one big computation by rows across workers, then reassembling it.

The pattern is ``shard(rows) -> pieces -> reassemble``:

1. :func:`split_rows` cuts ``n_rows`` into contiguous, non-overlapping ``(start, stop)`` ranges;
2. each range runs as one task through any :mod:`~depthlab.parallel.executors` backend
   (local processes, serial, or Ray with ``num_gpus=1`` per piece, so each piece gets one GPU);
3. :func:`reassemble` checks the pieces cover ``0..n_rows`` exactly once and concatenates them
   along the first axis.

With ``out_dir`` each finished piece is saved atomically as ``rows-START-STOP.npy``; running the
same job again loads those and computes only the missing pieces, so a killed job resumes.

The computation is any module-level function ``fn(start, stop, *args) -> array`` whose first axis
has ``stop - start`` rows. A loss-landscape surface over an ``(ny, nx)`` grid of directions is the
intended use: ``fn`` evaluates grid rows ``start..stop`` (shape ``(stop - start, nx)``) and the
reassembled array is the whole ``(ny, nx)`` surface, the same as one process computing it::

    from functools import partial
    from depthlab.parallel.shard import run_sharded
    surface = run_sharded(partial(surface_rows, model_path, alphas, betas), n_rows=len(betas),
                          pieces=8, backend="ray", num_gpus=1, out_dir="runs/surface-pieces")

This replaces the MPI scatter/gather of the reference loss-landscape code.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from depthlab.atomic import atomic_write_bytes
from depthlab.parallel.executors import Executor, Resources, make_executor


def split_rows(n_rows: int, pieces: int) -> list[tuple[int, int]]:
    """Cut ``range(n_rows)`` into at most ``pieces`` contiguous ranges of near-equal size.

    >>> split_rows(10, 3)
    [(0, 4), (4, 7), (7, 10)]
    """
    if n_rows < 1:
        raise ValueError(f"n_rows must be >= 1, got {n_rows}")
    if pieces < 1:
        raise ValueError(f"pieces must be >= 1, got {pieces}")
    pieces = min(pieces, n_rows)
    base, extra = divmod(n_rows, pieces)
    out, start = [], 0
    for i in range(pieces):
        stop = start + base + (1 if i < extra else 0)
        out.append((start, stop))
        start = stop
    return out


def reassemble(pieces: Sequence[tuple[int, int, np.ndarray]], n_rows: int) -> np.ndarray:
    """Concatenate ``(start, stop, array)`` pieces into one array of ``n_rows`` rows.

    Raises ``ValueError`` on a gap, an overlap, or a piece whose row count is not ``stop - start``.
    """
    ordered = sorted(pieces, key=lambda p: p[0])
    at = 0
    for start, stop, arr in ordered:
        if start != at:
            kind = "gap" if start > at else "overlap"
            raise ValueError(
                f"pieces do not tile the rows: {kind} at row {at} (next starts {start})"
            )
        if arr.shape[0] != stop - start:
            raise ValueError(
                f"piece {start}:{stop} has {arr.shape[0]} rows, expected {stop - start}"
            )
        at = stop
    if at != n_rows:
        raise ValueError(f"pieces cover rows 0..{at}, expected 0..{n_rows}")
    return np.concatenate([np.asarray(a) for _, _, a in ordered], axis=0)


def _piece_path(out_dir: Path, start: int, stop: int) -> Path:
    return out_dir / f"rows-{start:06d}-{stop:06d}.npy"


def _compute_piece(fn: Callable[..., Any], start: int, stop: int, out_dir: str | None) -> Any:
    arr = np.asarray(fn(start, stop))
    if out_dir is not None:
        buf = io.BytesIO()
        np.save(buf, arr, allow_pickle=False)
        atomic_write_bytes(_piece_path(Path(out_dir), start, stop), buf.getvalue())
    return arr


def run_sharded(
    fn: Callable[[int, int], Any],
    n_rows: int,
    *,
    pieces: int = 2,
    backend: str = "serial",
    jobs: int = 1,
    address: str | None = None,
    num_cpus: float = 1.0,
    num_gpus: float = 0.0,
    out_dir: str | os.PathLike | None = None,
    executor: Executor | None = None,
) -> np.ndarray:
    """Compute ``fn`` over ``n_rows`` rows in ``pieces`` tasks and return the reassembled array.

    Parameters
    ----------
    fn : module-level function (or ``functools.partial`` of one) ``fn(start, stop) -> array`` with
        ``stop - start`` rows on axis 0.
    n_rows : total rows.
    pieces : number of row ranges (tasks).
    backend, jobs, address : as for sweeps (``local``, ``serial``, ``ray``).
    num_cpus, num_gpus : per-piece Ray resource requests.
    out_dir : if given, pieces are stored there and reused on a re-run.

    Returns
    -------
    numpy.ndarray
        ``(n_rows, ...)``, identical to ``fn(0, n_rows)`` when ``fn`` is row-wise.
    """
    ranges = split_rows(n_rows, pieces)
    done: list[tuple[int, int, np.ndarray]] = []
    todo = []
    od = Path(out_dir) if out_dir is not None else None
    for start, stop in ranges:
        path = _piece_path(od, start, stop) if od is not None else None
        if path is not None and path.exists():
            done.append((start, stop, np.load(path, allow_pickle=False)))
        else:
            todo.append((start, stop))
    if todo:
        ex = executor or make_executor(
            backend, jobs=jobs, address=address, resources=Resources(num_cpus, num_gpus)
        )
        tasks = [
            (f"{a}:{b}", _compute_piece, (fn, a, b, None if od is None else str(od)))
            for a, b in todo
        ]
        try:
            for ev in ex.run(tasks):
                if ev.kind == "error":
                    raise RuntimeError(f"piece rows {ev.key} failed: {ev.value}") from (
                        ev.value if isinstance(ev.value, BaseException) else None
                    )
                if ev.kind == "result":
                    a, b = (int(s) for s in ev.key.split(":"))
                    done.append((a, b, ev.value))
        finally:
            if executor is None:
                ex.close()
    return reassemble(done, n_rows)
