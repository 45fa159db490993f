"""What the loss-surface and Hessian tools share: directions, grids, data, parameter access.

Private to :mod:`depthlab.probes.landscape`; the public names are re-exported by
:mod:`depthlab.landscape`. Nothing here imports another module of the package.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

import torch
from torch import nn

from depthlab.data.base import Dataset

__all__ = ["Direction", "Grid"]

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""``loss_fn(out (B, ...), y (B, ...)) -> mean loss over the batch`` (e.g. ``F.cross_entropy``)."""

Data = Union[tuple[torch.Tensor, torch.Tensor], Dataset]
"""A pair ``(x (N, ...), y (N, ...))`` of tensors, or a depthlab ``Dataset`` (its train split)."""


@dataclass(frozen=True)
class Direction:
    """A direction in parameter space: one tensor per named parameter of the model.

    Attributes
    ----------
    tensors : ``{name: tensor}`` with the shape, dtype and device of ``model.get_parameter(name)``,
        for every name in ``model.named_parameters()``.
    kind : ``"random"``, ``"target"`` or ``"pca"``.
    info : how it was made (norm, ignore, seed, ...), so it can be re-made or reported.
    """

    tensors: dict[str, torch.Tensor]
    kind: str
    info: dict[str, Any] = field(default_factory=dict)

    def norm(self) -> float:
        """The Euclidean norm over all tensors."""
        return math.sqrt(sum(float(t.double().pow(2).sum()) for t in self.tensors.values()))

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None):
        return Direction(
            {k: v.to(device=device, dtype=dtype) for k, v in self.tensors.items()},
            self.kind,
            dict(self.info),
        )

    def __repr__(self) -> str:
        n = sum(t.numel() for t in self.tensors.values())
        return f"Direction({self.kind}, {len(self.tensors)} tensors, {n} numbers, norm={self.norm():.4g}, {self.info})"


def params_of(model: nn.Module) -> dict[str, torch.Tensor]:
    """``{name: detached parameter}`` in ``named_parameters()`` order."""
    return {n: p.detach() for n, p in model.named_parameters()}


@dataclass(frozen=True)
class Grid:
    """Grid coordinates: ``alphas`` (nx,) along direction 1 and, for 2-D, ``betas`` (ny,)."""

    alphas: tuple[float, ...]
    betas: tuple[float, ...] | None = None

    @classmethod
    def line(cls, lo: float = -1.0, hi: float = 1.0, n: int = 51) -> Grid:
        """``n`` evenly spaced points on ``[lo, hi]`` (1-D)."""
        return cls(tuple(torch.linspace(lo, hi, n, dtype=torch.float64).tolist()))

    @classmethod
    def plane(cls, lo: float = -1.0, hi: float = 1.0, n: int = 51, ny: int | None = None) -> Grid:
        """An ``n x ny`` grid on ``[lo, hi]^2`` (2-D; ``ny`` defaults to ``n``)."""
        a = tuple(torch.linspace(lo, hi, n, dtype=torch.float64).tolist())
        b = tuple(torch.linspace(lo, hi, ny or n, dtype=torch.float64).tolist())
        return cls(a, b)

    @property
    def ndim(self) -> int:
        return 1 if self.betas is None else 2

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.alphas),) if self.betas is None else (len(self.alphas), len(self.betas))

    def points(self) -> torch.Tensor:
        """``(P, 2)`` float64 coefficients in row-major order of :attr:`shape` (β = 0 in 1-D)."""
        a = torch.tensor(self.alphas, dtype=torch.float64)
        if self.betas is None:
            return torch.stack([a, torch.zeros_like(a)], dim=1)
        b = torch.tensor(self.betas, dtype=torch.float64)
        aa, bb = torch.meshgrid(a, b, indexing="ij")
        return torch.stack([aa.flatten(), bb.flatten()], dim=1)


def as_grid(grid: Grid | Sequence) -> Grid:
    """A :class:`Grid` as is; a sequence of α's (1-D) or a pair of sequences (α's, β's) (2-D)."""
    if isinstance(grid, Grid):
        return grid
    seq = list(grid)
    if len(seq) == 2 and all(hasattr(s, "__len__") for s in seq):
        return Grid(tuple(float(v) for v in seq[0]), tuple(float(v) for v in seq[1]))
    return Grid(tuple(float(v) for v in seq))


def data_xy(data: Data) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, y)`` from a pair, or a ``Dataset``'s train split."""
    if hasattr(data, "x_train") and hasattr(data, "y_train"):
        return data.x_train, data.y_train
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return data[0], data[1]
    raise TypeError("data must be a depthlab Dataset (its train split is used) or a tuple (x, y)")


def as_directions(directions: Direction | Sequence[Direction]) -> tuple[Direction, ...]:
    """One :class:`Direction` (1-D) or two (2-D), as a tuple."""
    if isinstance(directions, Direction):
        return (directions,)
    dirs = tuple(directions)
    if not 1 <= len(dirs) <= 2 or not all(isinstance(d, Direction) for d in dirs):
        raise TypeError("directions must be one Direction (1-D) or a pair of Directions (2-D)")
    return dirs
