"""One loss surface split by grid rows across workers (processes, or GPUs through Ray).

This replaces the reference code's MPI: :func:`sharded` cuts the grid's α axis into row ranges,
computes each range exactly as one process would (:func:`depthlab.probes.landscape._evaluator.evaluate_grid`)
through the same executors as sweeps (:func:`depthlab.parallel.run_sharded`: ``serial``,
``local`` processes, or ``ray`` with ``num_gpus`` per piece), and reassembles the arrays, so the
pieces agree with an unsharded surface. With a ``checkpoint`` directory finished pieces are kept
there and a re-run computes only the missing ones; a directory named ``*.partial`` is scratch and
is removed once the surface is complete.
"""

from __future__ import annotations

import functools
import os
import time
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn

from depthlab.atomic import atomic_write_text
from depthlab.probes.landscape._evaluator import (
    SurfaceOptions,
    evaluate_grid,
    fingerprint,
    numeric_settings,
)
from depthlab.probes.landscape._shared import Data, Direction, Grid, LossFn, data_xy, params_of
from depthlab.progress import QUIET

Backend = Literal["serial", "local", "ray"]
BACKENDS: tuple[str, ...] = ("serial", "local", "ray")
MARKER = "surface.fingerprint"  # in a pieces directory: which surface the pieces belong to


def grid_rows(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    directions: tuple[Direction, ...],
    grid: Grid,
    start: int,
    stop: int,
    options: SurfaceOptions | None = None,
) -> np.ndarray:
    """Rows ``start:stop`` of the grid's α axis: ``(stop - start, [ny,] 2)`` of (loss, accuracy)."""
    sub = Grid(grid.alphas[start:stop], grid.betas)
    x, y = data_xy(data)
    ev = evaluate_grid(
        model, loss_fn, x, y, directions, sub, options or SurfaceOptions(), None, QUIET
    )
    loss, acc = ev.loss.view(sub.shape), ev.acc.view(sub.shape)
    return np.stack([loss.cpu().numpy(), acc.cpu().numpy()], axis=-1)


def check_gpus(num_gpus: float, address: str | None) -> None:
    """Fail at once, in one line, when pieces ask for GPUs that this machine does not have.

    Only a local run is checked (``address`` None): a Ray cluster's GPUs are not visible here.
    """
    if num_gpus > 0 and address is None and torch.cuda.device_count() == 0:
        raise RuntimeError(
            f"num_gpus={num_gpus:g} asks for a GPU per piece, but this machine has none "
            "(torch.cuda.device_count() == 0); pass num_gpus=0, or address= of a Ray cluster with GPUs"
        )


def sharded(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    directions: tuple[Direction, ...],
    grid: Grid,
    options: SurfaceOptions | None,
    *,
    pieces: int,
    backend: Backend = "serial",
    jobs: int = 1,
    address: str | None = None,
    num_cpus: float = 1.0,
    num_gpus: float = 0.0,
    out_dir: str | os.PathLike | None = None,
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Loss and accuracy of shape ``grid.shape`` computed in ``pieces`` row ranges, and the seconds."""
    from depthlab.parallel import run_sharded

    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    n_rows = len(grid.alphas)
    if not 1 <= pieces <= n_rows:
        raise ValueError(f"pieces must be between 1 and the grid's {n_rows} rows, got {pieces}")
    check_gpus(num_gpus, address)
    if out_dir is not None:
        _claim_pieces(Path(out_dir), model, data, directions, grid, options)
    fn = functools.partial(grid_rows, model, loss_fn, data, directions, grid, options=options)
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
    if out_dir is not None and Path(out_dir).name.endswith(".partial"):
        _remove_pieces(Path(out_dir))
    return loss, acc, seconds


def _claim_pieces(
    out_dir: Path,
    model: nn.Module,
    data: Data,
    directions: tuple[Direction, ...],
    grid: Grid,
    options: SurfaceOptions | None,
) -> None:
    """Mark ``out_dir`` as this surface's; pieces of another surface there are an error."""
    if out_dir.is_file():
        raise ValueError(
            f"checkpoint {str(out_dir)!r} is a file (an unsharded surface's); a sharded surface "
            "keeps its pieces in a directory: pass another path"
        )
    params = params_of(model)
    buffers = {n: b.detach() for n, b in model.named_buffers()}
    x, y = data_xy(data)
    numeric = numeric_settings(options or SurfaceOptions(), next(iter(params.values())).dtype)
    fp = fingerprint(params, buffers, directions, grid, x, y, numeric)
    marker = out_dir / MARKER
    if marker.exists() and marker.read_text().strip() != fp:
        raise ValueError(
            f"checkpoint {str(out_dir)!r} holds pieces of another surface (model, data, grid, "
            "directions or options differ); delete it or pass another path"
        )
    atomic_write_text(marker, fp + "\n")


def _remove_pieces(out_dir: Path) -> None:
    """Delete the stored pieces (``rows-*.npy``) and the marker, then the directory if empty."""
    for p in [*out_dir.glob("rows-*.npy"), out_dir / MARKER]:
        p.unlink(missing_ok=True)
    try:
        out_dir.rmdir()
    except OSError:  # the user keeps something else there: leave it
        pass
