"""Loss surfaces ``f(α, β) = L(θ* + α δ + β η)`` on a grid, in one process or in row pieces.

Li, Xu, Taylor, Studer & Goldstein (2018), "Visualizing the loss landscape of neural nets" (NeurIPS).
:func:`surface` is the one verb; :func:`sharded_surface` and :func:`surface_rows` are its
deprecated former names (kept one release).
"""

from __future__ import annotations

import io
import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from depthlab._display import FrameRepr
from depthlab.atomic import atomic_write_bytes
from depthlab.probes import _memory
from depthlab.probes._guard import guard_probe
from depthlab.probes.landscape._evaluator import SurfaceOptions, evaluate_grid
from depthlab.probes.landscape._sharding import Backend, grid_rows, sharded
from depthlab.probes.landscape._shared import (
    Data,
    Direction,
    Grid,
    LossFn,
    as_directions,
    as_grid,
    data_xy,
)
from depthlab.progress import AUTO, Progress

__all__ = [
    "Surface",
    "basin_nonconvexity",
    "nonconvexity",
    "sharded_surface",
    "surface",
    "surface_rows",
]


@dataclass(frozen=True)
class Surface(FrameRepr):
    """A loss (and accuracy) surface around ``θ*``.

    Attributes
    ----------
    grid : the :class:`Grid`.
    loss : ``(nx,)`` or ``(nx, ny)`` float64 mean loss; ``loss[i, j]`` is at ``(alphas[i], betas[j])``.
    acc : same shape, accuracy for integer labels (NaN for regression).
    directions : the directions used (1 or 2), so the surface can be recomputed exactly.
    options : resolved fast-path settings (device, dtype, batch size, points per call, compile,
        fold_bn (True, False or why not folded), exact_fp32, ...).
    seconds : wall time of this call; ``computed_points`` excludes points resumed from a checkpoint.
    """

    grid: Grid
    loss: torch.Tensor
    acc: torch.Tensor
    directions: tuple[Direction, ...]
    options: dict[str, Any]
    seconds: float
    computed_points: int

    @property
    def points_per_s(self) -> float:
        return self.computed_points / self.seconds if self.seconds > 0 else float("nan")

    @property
    def center_loss(self) -> float:
        """Loss at the grid point closest to the origin."""
        pts = self.grid.points()
        i = int(pts.pow(2).sum(1).argmin())
        return float(self.loss.flatten()[i])

    def to_frame(self) -> pd.DataFrame:
        """Tidy rows: alpha, beta (NaN in 1-D), loss, acc."""
        pts = self.grid.points().numpy()
        beta = pts[:, 1] if self.grid.ndim == 2 else [float("nan")] * len(pts)
        return pd.DataFrame(
            {
                "alpha": pts[:, 0],
                "beta": beta,
                "loss": self.loss.flatten().numpy(),
                "acc": self.acc.flatten().numpy(),
            }
        )

    def save(self, path: str | Path) -> None:
        """Write the surface with its directions (atomic ``torch.save``)."""
        buf = io.BytesIO()
        torch.save(
            {
                "grid": {"alphas": self.grid.alphas, "betas": self.grid.betas},
                "loss": self.loss,
                "acc": self.acc,
                "directions": [
                    {
                        "tensors": {k: v.cpu() for k, v in d.tensors.items()},
                        "kind": d.kind,
                        "info": d.info,
                    }
                    for d in self.directions
                ],
                "options": self.options,
                "seconds": self.seconds,
                "computed_points": self.computed_points,
            },
            buf,
        )
        atomic_write_bytes(path, buf.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> Surface:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        g = blob["grid"]
        grid = Grid(tuple(g["alphas"]), None if g["betas"] is None else tuple(g["betas"]))
        dirs = tuple(Direction(d["tensors"], d["kind"], d["info"]) for d in blob["directions"])
        return cls(
            grid,
            blob["loss"],
            blob["acc"],
            dirs,
            blob["options"],
            blob["seconds"],
            blob["computed_points"],
        )

    def __repr__(self) -> str:
        shape = "x".join(str(s) for s in self.grid.shape)
        return (
            f"Surface({self.grid.ndim}-D {shape}, loss at centre {self.center_loss:.4g}, "
            f"min {float(self.loss.min()):.4g}, max {float(self.loss.max()):.4g}, "
            f"{self.points_per_s:.3g} points/s on {self.options.get('device')})"
        )


@guard_probe(name="landscape.surface")
def surface(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    directions: Direction | Sequence[Direction],
    grid: Grid | Sequence,
    *,
    options: SurfaceOptions | None = None,
    checkpoint: str | os.PathLike | None = None,
    progress: Progress = AUTO,
    pieces: int | None = None,
    backend: Backend = "serial",
    jobs: int = 1,
    address: str | None = None,
    num_cpus: float = 1.0,
    num_gpus: float = 0.0,
    max_memory: int | str | None = None,
) -> Surface:
    """Loss and accuracy on a 1-D or 2-D grid around the model's weights.

    ``f(α, β) = (1/N) Σ_n loss_fn(model(x_n; θ* + α δ + β η), y_n)``, in eval mode by default
    (BN running statistics of θ* kept), as in Li et al. (2018).

    Parameters
    ----------
    model : any ``nn.Module``; read only. Its parameters' device and dtype are used.
    loss_fn : ``loss_fn(logits (B, C), y (B,)) -> mean loss`` (e.g. ``F.cross_entropy``); it
        must average over the batch.
    data : a depthlab ``Dataset`` (the train split is used) or a tuple ``(x (N, ...), y (N,))``.
    directions : one :class:`Direction` (1-D surface) or two (2-D).
    grid : a :class:`Grid` (or a sequence of α's, or a pair of sequences (α's, β's)).
    options : :class:`SurfaceOptions` (fast-path settings; recorded in ``Surface.options``).
    checkpoint : where finished points are kept, so an interrupted call resumes where it stopped:
        one file for a surface in one process (written atomically as the surface fills, read at
        the start; a file made for another model, data, grid, directions or options is an error,
        never silently mixed), a directory of row pieces with ``pieces=``. A path whose name ends
        in ``.partial`` is scratch: it is deleted once the surface is complete. Any other name is
        kept, so calling again with it returns at once.
    progress : progress reporter (one process only).
    pieces : compute the grid in this many ranges of α rows and reassemble them (``None``: one
        call in this process). Every point is evaluated exactly as in one process, so the
        result equals the unsharded surface; ``Surface.options`` then records the sharding.
        ``loss_fn`` must be picklable (e.g. ``F.cross_entropy``) for the process and Ray backends.
    backend : with ``pieces``: ``"serial"`` (here, one piece after another), ``"local"``
        (``jobs`` processes) or ``"ray"`` (a local Ray, or the cluster at ``address``).
    jobs, address : processes for ``"local"``; the Ray cluster for ``"ray"``.
    num_cpus, num_gpus : Ray resources per piece (``num_gpus=1``: one GPU per piece). Asking for
        GPUs on a machine that has none (and no ``address``) fails at once.
    max_memory : memory budget checked before evaluating (bytes or ``"2GB"``; default
        ``DEPTHLAB_MAX_MEMORY`` or half the free memory): one grid point at a time needs the
        weights, the directions and one batch's activations (:mod:`depthlab.probes._memory`).

    Returns
    -------
    :class:`Surface` with ``loss`` and ``acc`` of shape ``grid.shape``.

    References
    ----------
    Li, Xu, Taylor, Studer, Goldstein (2018). Visualizing the loss landscape of neural nets. NeurIPS.
    """
    opts = options or SurfaceOptions()
    dirs = as_directions(directions)
    grid = as_grid(grid)
    if grid.ndim != len(dirs):
        raise ValueError(f"a {grid.ndim}-D grid needs {grid.ndim} direction(s), got {len(dirs)}")
    x, y = data_xy(data)
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"data has {len(x)} inputs and {len(y)} targets; need the same, > 0")
    if pieces is not None:
        loss, acc, seconds = sharded(
            model,
            loss_fn,
            data,
            dirs,
            grid,
            options,
            pieces=pieces,
            backend=backend,
            jobs=jobs,
            address=address,
            num_cpus=num_cpus,
            num_gpus=num_gpus,
            out_dir=checkpoint,
        )
        info = {"sharded_pieces": pieces, "backend": backend, "num_gpus_per_piece": num_gpus}
        return Surface(grid, loss, acc, dirs, info, seconds, int(loss.numel()))
    unused = {
        "backend": backend != "serial",
        "jobs": jobs != 1,
        "address": address is not None,
        "num_cpus": num_cpus != 1.0,
        "num_gpus": num_gpus != 0.0,
    }
    if any(unused.values()):
        names = ", ".join(k for k, v in unused.items() if v)
        raise ValueError(f"{names} apply only to a sharded surface: pass pieces= as well")
    _memory.check(
        "landscape.surface",
        model,
        points=min(len(x), opts.batch_size or 1024),
        example=x[0],
        param_factor=3.0 + len(dirs),  # weights, their copy at a grid point, the directions
        act_factor=1.0,  # one batch's forward (no backward)
        lower="a smaller SurfaceOptions(batch_size=...)",
        max_memory=max_memory,
    )
    if checkpoint is not None and Path(checkpoint).is_dir():
        raise ValueError(
            f"checkpoint {str(checkpoint)!r} is a directory (a sharded surface's pieces); a "
            "surface in one process keeps one file: pass another path"
        )
    ev = evaluate_grid(model, loss_fn, x, y, dirs, grid, opts, checkpoint, progress)
    return Surface(
        grid,
        ev.loss.view(grid.shape),
        ev.acc.view(grid.shape),
        dirs,
        ev.resolved,
        ev.seconds,
        ev.computed,
    )


def sharded_surface(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    directions: Direction | Sequence[Direction],
    grid: Grid | Sequence,
    *,
    pieces: int = 2,
    backend: Backend = "serial",
    jobs: int = 1,
    address: str | None = None,
    num_cpus: float = 1.0,
    num_gpus: float = 0.0,
    out_dir: str | os.PathLike | None = None,
    options: SurfaceOptions | None = None,
) -> Surface:
    """Deprecated: ``surface(..., pieces=, backend=, checkpoint=out_dir)``; kept one release."""
    warnings.warn(
        "sharded_surface is deprecated; use surface(..., pieces=..., backend=..., "
        "checkpoint=out_dir)",
        DeprecationWarning,
        stacklevel=2,
    )
    return surface(
        model,
        loss_fn,
        data,
        directions,
        grid,
        options=options,
        checkpoint=out_dir,
        pieces=pieces,
        backend=backend,
        jobs=jobs,
        address=address,
        num_cpus=num_cpus,
        num_gpus=num_gpus,
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
    """Deprecated: rows ``start:stop`` of the α axis, ``(stop - start, [ny,] 2)`` of (loss, acc).

    Use ``surface(..., Grid(grid.alphas[start:stop], grid.betas))``, or ``surface(..., pieces=)``
    to shard; kept one release.
    """
    warnings.warn(
        "surface_rows is deprecated; use surface(..., Grid(grid.alphas[start:stop], grid.betas)) "
        "or surface(..., pieces=...)",
        DeprecationWarning,
        stacklevel=2,
    )
    return grid_rows(model, loss_fn, data, as_directions(directions), grid, start, stop, options)


def _curvature_2x2(s: Surface, what: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Central-difference 2×2 Hessian eigenvalues ``(lo, hi)`` at every interior grid point, and
    the loss there (float64, each ``(nx - 2, ny - 2)``)."""
    if s.grid.ndim != 2 or min(s.grid.shape) < 3:
        raise ValueError(f"{what} needs a 2-D grid of at least 3x3, got {s.grid.shape}")
    f = s.loss.double()
    a = torch.tensor(s.grid.alphas, dtype=torch.float64)
    b = torch.tensor(s.grid.betas, dtype=torch.float64)
    ha = (a[2:] - a[:-2]).view(-1, 1) / 2  # (nx-2, 1) central spacing
    hb = (b[2:] - b[:-2]).view(1, -1) / 2
    c = f[1:-1, 1:-1]
    faa = (f[2:, 1:-1] - 2 * c + f[:-2, 1:-1]) / ha**2
    fbb = (f[1:-1, 2:] - 2 * c + f[1:-1, :-2]) / hb**2
    fab = (f[2:, 2:] - f[2:, :-2] - f[:-2, 2:] + f[:-2, :-2]) / (4 * ha * hb)
    mean, diff = (faa + fbb) / 2, torch.sqrt(((faa - fbb) / 2) ** 2 + fab**2)
    return mean - diff, mean + diff, c


def nonconvexity(s: Surface, rel_tol: float = 0.01) -> float:
    """Fraction of interior grid points where a 2-D surface curves downward in some direction.

    At each interior point the 2×2 Hessian of ``f(α, β)`` is estimated by central differences
    (``f_αα``, ``f_ββ``, and the cross term from the four diagonal neighbours). The point counts
    as non-convex when that Hessian's smaller eigenvalue is below ``-rel_tol × m``, where ``m``
    is the median over interior points of the larger eigenvalue's magnitude (a scale in the
    surface's own loss units, so plateaus with ~0 curvature do not count). 0 means convex-looking
    everywhere on the grid; chaotic surfaces score high. Needs at least a 3×3 grid.
    """
    lo, hi, _ = _curvature_2x2(s, "nonconvexity")
    scale = float(hi.abs().median())
    if not math.isfinite(scale) or scale == 0:
        return 0.0
    return float((lo < -rel_tol * scale).double().mean())


def basin_nonconvexity(s: Surface, level: float, rel_tol: float = 0.01) -> float:
    """:func:`nonconvexity` restricted to the basin: the interior grid points whose loss is at most
    ``level`` (e.g. ``ln C``, the loss of a uniform guess over ``C`` classes).

    Scores the shape of the basin around the minimum, not the bend where a surface rises into a
    high-loss plateau. The curvature scale ``m`` is the median ``|larger eigenvalue|`` over the
    basin points. NaN when no interior point lies in the basin.
    """
    lo, hi, c = _curvature_2x2(s, "basin_nonconvexity")
    inside = c <= level
    if not bool(inside.any()):
        return float("nan")
    scale = float(hi[inside].abs().median())
    if not math.isfinite(scale) or scale == 0:
        return 0.0
    return float((lo[inside] < -rel_tol * scale).double().mean())
