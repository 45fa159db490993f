"""One loss surface split by grid rows across workers (processes, or GPUs through Ray).

This replaces the reference code's MPI: :func:`sharded_surface` cuts the grid's α axis into row
ranges, computes each range with :func:`depthlab.landscape.surface` through the same executors
as sweeps (:func:`depthlab.runs.shard.run_sharded`: ``serial``, ``local`` processes, or ``ray``
with ``num_gpus`` per piece), and reassembles one :class:`~depthlab.landscape.Surface`. Every grid
point is evaluated exactly as in one process, so the pieces agree with an unsharded surface.
With ``out_dir``, finished pieces are kept and a re-run computes only the missing ones.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from depthlab.probes.landscape import (
    Data,
    Direction,
    Grid,
    LossFn,
    Surface,
    SurfaceOptions,
    _as_directions,
    _as_grid,
    surface,
)


def surface_rows(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    directions: Sequence[Direction],
    grid: Grid,
    start: int,
    stop: int,
    options: SurfaceOptions | None = None,
) -> np.ndarray:
    """Rows ``start:stop`` of the grid's α axis: ``(stop - start, [ny,] 2)`` of (loss, accuracy)."""
    sub = Grid(grid.alphas[start:stop], grid.betas)
    s = surface(model, loss_fn, data, directions, sub, options=options)
    return np.stack([s.loss.cpu().numpy(), s.acc.cpu().numpy()], axis=-1)


def sharded_surface(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    directions: Direction | Sequence[Direction],
    grid: Grid | Sequence,
    *,
    pieces: int = 2,
    backend: str = "serial",
    jobs: int = 1,
    address: str | None = None,
    num_cpus: float = 1.0,
    num_gpus: float = 0.0,
    out_dir: str | os.PathLike | None = None,
    options: SurfaceOptions | None = None,
) -> Surface:
    """:func:`~depthlab.landscape.surface`, computed in ``pieces`` row ranges and reassembled.

    Parameters
    ----------
    model, loss_fn, data, directions, grid, options : as for ``surface`` (``loss_fn`` must be
        picklable, e.g. ``torch.nn.functional.cross_entropy``, for the process and Ray backends).
    pieces : number of row ranges (at most the number of α values).
    backend : ``serial``, ``local`` (processes; ``jobs`` of them) or ``ray`` (``address``).
    num_cpus, num_gpus : Ray resources per piece (``num_gpus=1``: one GPU per piece).
    out_dir : keep finished pieces there; a re-run reuses them.

    Returns
    -------
    Surface
        Same grid, loss and accuracy as one ``surface`` call; ``options`` records the sharding.
    """
    from depthlab.runs.shard import run_sharded

    g = _as_grid(grid)
    dirs = _as_directions(directions)
    n_rows = len(g.alphas)
    if not 1 <= pieces <= n_rows:
        raise ValueError(f"pieces must be between 1 and the grid's {n_rows} rows, got {pieces}")
    fn = functools.partial(surface_rows, model, loss_fn, data, dirs, g, options=options)
    t0 = time.perf_counter()
    arr = run_sharded(
        fn,
        n_rows,
        pieces=pieces,
        backend=backend,
        jobs=jobs,
        address=address,
        num_cpus=num_cpus,
        num_gpus=num_gpus,
        out_dir=out_dir,
    )
    seconds = time.perf_counter() - t0
    loss = torch.from_numpy(np.ascontiguousarray(arr[..., 0]))
    acc = torch.from_numpy(np.ascontiguousarray(arr[..., 1]))
    opts = {"sharded_pieces": pieces, "backend": backend, "num_gpus_per_piece": num_gpus}
    return Surface(g, loss, acc, dirs, opts, seconds, int(loss.numel()))
