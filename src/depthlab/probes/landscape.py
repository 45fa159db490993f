"""Loss landscapes: filter-normalized directions and fast 1-D / 2-D loss surfaces.

Li, Xu, Taylor, Studer & Goldstein (2018), "Visualizing the loss landscape of neural nets" (NeurIPS).
Around trained weights ``θ*`` we evaluate

    f(α, β) = L(θ* + α δ + β η)

on a grid, where ``δ, η`` are random Gaussian directions rescaled filter by filter,
``δ[i] <- δ[i] · ||θ*[i]|| / ||δ[i]||`` for every output filter ``i`` (a conv output channel or a
linear row), so that the plot's scale matches the weights' scale and scale-invariant nets compare
fairly. With ``ignore="biasbn"`` (the default, as in the paper) 1-D tensors (biases, BN γ/β) get a
zero direction. The two directions are not orthogonalised (random high-dimensional Gaussians are
nearly orthogonal already).

The probe never touches the user's model: it evaluates a private copy through
:func:`torch.func.functional_call`. Device and dtype follow the model; the data is moved to the
model's device once (``data_on_device``) and evaluated in large batches, optionally in bf16 autocast
(loss accumulated in fp32/fp64), optionally under :func:`torch.compile`, and, for MLP-scale models,
many grid points at once under :func:`torch.func.vmap`. Chunk sizes are chosen to fit a memory
budget. A ``checkpoint`` file persists finished points atomically so an interrupted surface resumes.

Examples
--------
>>> from depthlab import landscape
>>> d1 = landscape.random_direction(model, seed=0)
>>> d2 = landscape.random_direction(model, seed=1)
>>> s = landscape.surface(model, F.cross_entropy, (x, y), (d1, d2), landscape.Grid.plane(-1, 1, 21))
>>> s.to_frame().head()
"""

from __future__ import annotations

import copy
import hashlib
import io
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import torch
from torch import nn
from torch.func import functional_call, vmap

from depthlab.progress import QUIET, Progress
from depthlab.runs.atomic import atomic_write_bytes

Norm = Literal["filter", "layer", "none"]
Ignore = Literal["biasbn", "none"]
NORMS: tuple[str, ...] = ("filter", "layer", "none")
IGNORES: tuple[str, ...] = ("biasbn", "none")
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Data = Any  # a depthlab Dataset (train split is used) or a tuple (x, y) of tensors

# --------------------------------------------------------------------------------------------
# Directions
# --------------------------------------------------------------------------------------------


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


def _params(model: nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach() for n, p in model.named_parameters()}


def _check_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")


def normalize_direction(
    d: torch.Tensor, w: torch.Tensor, norm: Norm = "filter", ignore: Ignore = "biasbn"
) -> torch.Tensor:
    """Rescale one direction tensor ``d`` against its weight ``w`` (same shape).

    ``filter``: each output slice ``d[i] <- d[i] ||w[i]|| / ||d[i]||`` (dim 0 indexes the conv
    output channel or the linear row). ``layer``: ``d <- d ||w|| / ||d||``. ``none``: unchanged.
    1-D tensors get zeros under ``ignore="biasbn"``; otherwise they are treated as one filter
    (``||d|| = ||w||``; the reference code copies ``w`` itself, which is not random).
    The arithmetic is done in float64 and cast back, so the norms match to rounding.
    """
    _check_choice("norm", norm, NORMS)
    _check_choice("ignore", ignore, IGNORES)
    if d.shape != w.shape:
        raise ValueError(f"direction shape {tuple(d.shape)} != weight shape {tuple(w.shape)}")
    if d.dim() <= 1 and ignore == "biasbn":
        return torch.zeros_like(d)
    if norm == "none":
        return d.clone()
    d64, w64 = d.double(), w.double()
    if norm == "layer" or d.dim() <= 1:
        scale = w64.norm() / d64.norm().clamp_min(1e-300)
        return (d64 * scale).to(d.dtype)
    # (out, rest...) -> per-filter norms (out,), broadcast back over the rest
    wn = w64.flatten(1).norm(dim=1)
    dn = d64.flatten(1).norm(dim=1).clamp_min(1e-300)
    scale = (wn / dn).view(-1, *([1] * (d.dim() - 1)))
    return (d64 * scale).to(d.dtype)


def random_direction(
    model: nn.Module,
    norm: Norm = "filter",
    ignore: Ignore = "biasbn",
    seed: int = 0,
) -> Direction:
    """A Gaussian direction, normalised against ``model``'s weights (Li et al. 2018, §4).

    Draws ``N(0, 1)`` per parameter on a CPU generator seeded with ``seed`` (in float32, in
    ``named_parameters()`` order), so the same seed gives the same direction on any device; then
    applies :func:`normalize_direction`.

    Parameters
    ----------
    model : the network (read only).
    norm : ``"filter"`` (default), ``"layer"`` or ``"none"``.
    ignore : ``"biasbn"`` (default; 1-D tensors get zero) or ``"none"``.
    seed : seed of the CPU generator.
    """
    _check_choice("norm", norm, NORMS)
    _check_choice("ignore", ignore, IGNORES)
    g = torch.Generator().manual_seed(int(seed))
    out = {}
    for name, w in _params(model).items():
        d = torch.randn(w.shape, generator=g, dtype=torch.float32).to(w.device, w.dtype)
        out[name] = normalize_direction(d, w, norm, ignore)
    return Direction(out, "random", {"norm": norm, "ignore": ignore, "seed": int(seed)})


def _state_of(obj: nn.Module | Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    if isinstance(obj, nn.Module):
        return _params(obj)
    return {k: v.detach() for k, v in obj.items()}


def target_direction(
    model: nn.Module, target: nn.Module | Mapping[str, torch.Tensor], ignore: Ignore = "none"
) -> Direction:
    """``δ = θ_target − θ_model``: α = 0 is ``model``, α = 1 is ``target`` (Goodfellow et al. 2015).

    ``target`` is a model of the same architecture, or a mapping of its parameters by name.
    Buffers (BN running statistics) are not part of a direction; the surface uses ``model``'s,
    unless asked to recompute them (``SurfaceOptions(recompute_bn=True)``).
    """
    _check_choice("ignore", ignore, IGNORES)
    base, other = _params(model), _state_of(target)
    missing = sorted(set(base) - set(other))
    if missing:
        raise ValueError(f"target lacks parameters {missing[:3]}; it must match the model")
    out = {}
    for k, w in base.items():
        t = other[k].to(w.device, w.dtype)
        if t.shape != w.shape:
            raise ValueError(
                f"target parameter {k!r} has shape {tuple(t.shape)}, model has {tuple(w.shape)}"
            )
        out[k] = torch.zeros_like(w) if (ignore == "biasbn" and w.dim() <= 1) else t - w
    return Direction(out, "target", {"ignore": ignore})


@dataclass(frozen=True)
class PCADirections:
    """PCA of a training trajectory around its final point (Li et al. 2018, §7).

    Attributes
    ----------
    directions : the top principal directions (unit norm), as :class:`Direction` s.
    explained_variance_ratio : ``(n_components,)`` share of the trajectory's variance per direction.
    coords : ``(T, n_components)`` the checkpoints projected on the directions (the path to draw).
    """

    directions: tuple[Direction, ...]
    explained_variance_ratio: tuple[float, ...]
    coords: torch.Tensor

    def to_frame(self) -> pd.DataFrame:
        c = self.coords.cpu().numpy()
        return pd.DataFrame({f"pc{i + 1}": c[:, i] for i in range(c.shape[1])}).assign(
            checkpoint=range(len(c))
        )

    def __repr__(self) -> str:
        ev = ", ".join(f"{v:.3f}" for v in self.explained_variance_ratio)
        return f"PCADirections(explained variance ratio [{ev}], {len(self.coords)} checkpoints)"


def pca_directions(
    model: nn.Module,
    checkpoints: Sequence[nn.Module | Mapping[str, torch.Tensor]],
    n_components: int = 2,
    ignore: Ignore = "biasbn",
) -> PCADirections:
    """Principal directions of ``[θ_t − θ_final for t in checkpoints]``.

    ``model`` holds ``θ_final``; ``checkpoints`` are models or parameter mappings along training.
    The rows are centred, as scikit-learn's PCA does in the reference code, and 1-D tensors are
    zeroed under ``ignore="biasbn"``.
    """
    _check_choice("ignore", ignore, IGNORES)
    if len(checkpoints) < n_components + 1:
        raise ValueError(
            f"pca_directions needs at least n_components + 1 = {n_components + 1} checkpoints, got {len(checkpoints)}"
        )
    final = _params(model)
    names = list(final)
    keep = {k: not (ignore == "biasbn" and final[k].dim() <= 1) for k in names}
    rows = []
    for ck in checkpoints:
        st = _state_of(ck)
        parts = [
            (st[k].to(final[k].device, torch.float64) - final[k].double()).flatten()
            if keep[k]
            else torch.zeros(final[k].numel(), dtype=torch.float64, device=final[k].device)
            for k in names
        ]
        rows.append(torch.cat(parts))
    m = torch.stack(rows)  # (T, P)
    centred = m - m.mean(dim=0, keepdim=True)
    _, s, vh = torch.linalg.svd(centred, full_matrices=False)  # vh: (min(T,P), P)
    var = s**2
    ratio = (var / var.sum().clamp_min(1e-300))[:n_components]
    comps = vh[:n_components]  # (n, P) unit rows
    coords = m @ comps.T  # (T, n)
    dirs = []
    for i, c in enumerate(comps):
        tensors, off = {}, 0
        for k in names:
            w = final[k]
            tensors[k] = c[off : off + w.numel()].view_as(w).to(w.dtype)
            off += w.numel()
        dirs.append(
            Direction(
                tensors,
                "pca",
                {"component": i + 1, "ignore": ignore, "explained": float(ratio[i])},
            )
        )
    return PCADirections(tuple(dirs), tuple(float(r) for r in ratio), coords.cpu())


# --------------------------------------------------------------------------------------------
# Grid, options, result
# --------------------------------------------------------------------------------------------


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


def _as_grid(grid: Grid | Sequence) -> Grid:
    if isinstance(grid, Grid):
        return grid
    seq = list(grid)
    if len(seq) == 2 and all(hasattr(s, "__len__") for s in seq):
        return Grid(tuple(float(v) for v in seq[0]), tuple(float(v) for v in seq[1]))
    return Grid(tuple(float(v) for v in seq))


@dataclass(frozen=True)
class SurfaceOptions:
    """Fast-path settings for :func:`surface`; the resolved values are recorded in the result.

    Attributes
    ----------
    batch_size : examples per forward call; ``None`` = 8192 on CUDA (large: the data is on the
        device) and 1024 on the CPU (larger batches fall out of cache and measured slower).
    data_on_device : move the whole dataset to the model's device once (else batch by batch).
    autocast_bf16 : run the forward pass under bf16 autocast; logits are cast to fp32 before the
        loss, and sums are accumulated in float64.
    compile : wrap the per-batch evaluation in :func:`torch.compile` (falls back, and records
        why, if compilation fails).
    points_per_call : grid points evaluated together under ``vmap``; ``None`` = automatic (up to 64
        for MLP-scale models made of Linear layers on CUDA, 1 otherwise), bounded by
        ``memory_budget``.
    memory_budget : bytes the chunk (stacked weights + activations) may use; ``None`` = half the
        free GPU memory on CUDA, 2 GiB on the CPU. On a CUDA out-of-memory error the chunk halves.
    recompute_bn : before evaluating each point, recompute BatchNorm running statistics with one
        extra train-mode pass over the data (cumulative average). Cost: about twice the time per
        point, and one point per call (no ``vmap``). Default off: BN statistics of θ* are kept, as
        in the paper's eval-mode evaluation.
    eval_mode : evaluate the model's copy in eval mode (default True; False uses train mode, e.g.
        batch statistics in BN — then results depend on ``batch_size``).
    channels_last : store 4-D inputs and conv weights in channels-last layout (NHWC), which
        tensor-core convolutions on recent GPUs prefer; same numbers up to rounding.
    checkpoint_every_s : at most this often (seconds) the checkpoint file is rewritten; it is
        always written at the end and on interruption.
    """

    batch_size: int | None = None
    data_on_device: bool = True
    autocast_bf16: bool = False
    compile: bool = False
    points_per_call: int | None = None
    memory_budget: int | None = None
    recompute_bn: bool = False
    eval_mode: bool = True
    channels_last: bool = False
    checkpoint_every_s: float = 2.0

    def __post_init__(self) -> None:
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.points_per_call is not None and self.points_per_call < 1:
            raise ValueError(f"points_per_call must be >= 1 or None, got {self.points_per_call}")


@dataclass(frozen=True)
class Surface:
    """A loss (and accuracy) surface around ``θ*``.

    Attributes
    ----------
    grid : the :class:`Grid`.
    loss : ``(nx,)`` or ``(nx, ny)`` float64 mean loss; ``loss[i, j]`` is at ``(alphas[i], betas[j])``.
    acc : same shape, accuracy for integer labels (NaN for regression).
    directions : the directions used (1 or 2), so the surface can be recomputed exactly.
    options : resolved fast-path settings (device, dtype, batch size, points per call, ...).
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


# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------


def _data_xy(data: Data) -> tuple[torch.Tensor, torch.Tensor]:
    if hasattr(data, "x_train") and hasattr(data, "y_train"):
        return data.x_train, data.y_train
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return data[0], data[1]
    raise TypeError("data must be a depthlab Dataset (its train split is used) or a tuple (x, y)")


def _as_directions(directions: Direction | Sequence[Direction]) -> tuple[Direction, ...]:
    if isinstance(directions, Direction):
        return (directions,)
    dirs = tuple(directions)
    if not 1 <= len(dirs) <= 2 or not all(isinstance(d, Direction) for d in dirs):
        raise TypeError("directions must be one Direction (1-D) or a pair of Directions (2-D)")
    return dirs


def _has_bn(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def _mlp_scale(model: nn.Module, n_params: int) -> bool:
    """Only Linear layers carry weights, and not many of them: vmap over points pays off."""
    weighted = [m for m in model.modules() if not list(m.children()) and list(m.parameters())]
    return n_params <= 2_000_000 and all(isinstance(m, nn.Linear) for m in weighted)


def _activation_bytes_per_sample(
    tmpl: nn.Module, params: dict, buffers: dict, x: torch.Tensor
) -> int:
    """Sum of all leaf-module output sizes for one example (an upper bound on live activations)."""
    total = [0]
    handles = []

    def hook(_m, _i, out) -> None:
        if isinstance(out, torch.Tensor):
            total[0] += out[0].numel() * out.element_size()

    try:
        for m in tmpl.modules():
            if not list(m.children()):
                handles.append(m.register_forward_hook(hook))
        with torch.no_grad():
            functional_call(tmpl, (params, buffers), (x[:2],))
    finally:
        for h in handles:
            h.remove()
    return max(total[0], x[0].numel() * x.element_size())


def _fingerprint(
    params: dict, buffers: dict, dirs: tuple[Direction, ...], grid: Grid, x, y, numeric: dict
) -> str:
    h = hashlib.sha1()
    for t in (*params.values(), *buffers.values(), *(v for d in dirs for v in d.tensors.values())):
        h.update(t.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    h.update(repr((grid.alphas, grid.betas, tuple(x.shape), str(x.dtype), numeric)).encode())
    h.update(repr(float(x.double().sum())).encode())
    h.update(y.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


class _Evaluator:
    """Mean loss and accuracy of ``θ* + a δ + b η`` for chunks of grid points."""

    def __init__(self, model, loss_fn, x, y, dirs, opts: SurfaceOptions) -> None:
        self.loss_fn = loss_fn
        self.opts = opts
        self.base = _params(model)
        ref = next(iter(self.base.values()))
        self.device, self.dtype = ref.device, ref.dtype
        # Private copy: the user's model is never called, moved or switched between modes.
        self.tmpl = copy.deepcopy(model)
        for p in self.tmpl.parameters():
            p.requires_grad_(False)
        self.tmpl.train(not opts.eval_mode)
        self.buffers = {n: b.detach().clone() for n, b in self.tmpl.named_buffers()}
        self.dirs = [d.to(self.device, self.dtype).tensors for d in dirs]
        for d in self.dirs:
            if set(d) != set(self.base):
                raise ValueError("a direction does not match the model's parameter names")
        fx = x.to(self.dtype) if x.is_floating_point() else x
        if opts.data_on_device:
            self.x, self.y = fx.to(self.device), y.to(self.device)
        else:
            self.x, self.y = fx, y
        self.channels_last = opts.channels_last and self.x.dim() == 4
        if self.channels_last:
            self.x = self.x.contiguous(memory_format=torch.channels_last)
        self.classification = y.dtype == torch.int64
        self.n = len(x)
        n_params = sum(t.numel() for t in self.base.values())
        param_bytes = n_params * ref.element_size()
        act = _activation_bytes_per_sample(
            self.tmpl, self.base, self.buffers, self.x[:2].to(self.device)
        )
        budget = opts.memory_budget
        if budget is None:
            if self.device.type == "cuda":
                free, _ = torch.cuda.mem_get_info(self.device)
                budget = free // 2
            else:
                budget = 2 << 30
        want_batch = opts.batch_size or (8192 if self.device.type == "cuda" else 1024)
        self.batch = min(want_batch, self.n)
        # Shrink the batch if one point's activations alone overflow the budget.
        while self.batch > 1 and self.batch * act > budget:
            self.batch //= 2
        self.recompute_bn = opts.recompute_bn and _has_bn(model)
        if opts.points_per_call is not None:
            want = opts.points_per_call
        else:
            # vmap pays off where kernel launches dominate (small models on a GPU); on the CPU
            # one point per call measured as fast or faster (benchmarks/bench_landscape.py).
            want = 64 if (self.device.type == "cuda" and _mlp_scale(model, n_params)) else 1
        if self.recompute_bn or not opts.eval_mode:
            want = 1
        fit = max(1, int(budget // max(1, 2 * param_bytes + self.batch * act)))
        self.k = max(1, min(want, fit))
        self.compiled: str | bool = False
        self._one, self._many = self._batch_fns()
        if opts.compile:
            try:
                self._one = torch.compile(self._one, dynamic=False)
                self._many = torch.compile(self._many, dynamic=False)
                self.compiled = True
            except Exception as exc:  # compile needs a toolchain; fall back, and say so
                self.compiled = f"failed: {type(exc).__name__}"

    def _batch_fns(self):
        tmpl, loss_fn, cls = self.tmpl, self.loss_fn, self.classification
        autocast = self.opts.autocast_bf16
        dev = self.device.type

        def one(params, buffers, x, y):
            """One point: summed loss (float64) and correct count over the batch."""
            if autocast:
                with torch.autocast(device_type=dev, dtype=torch.bfloat16):
                    out = functional_call(tmpl, (params, buffers), (x,))
                out = out.float()  # the loss itself in fp32
            else:
                out = functional_call(tmpl, (params, buffers), (x,))
            loss = loss_fn(out, y).to(torch.float64) * y.shape[0]
            if cls:
                correct = (out.argmax(dim=-1) == y).sum()
            else:
                correct = torch.zeros((), dtype=torch.int64, device=out.device)
            return loss, correct

        def many(params, buffers, x, y):  # params stacked (K, ...)
            return vmap(one, in_dims=(0, None, None, None))(params, buffers, x, y)

        return one, many

    def _batch(self, params, buffers, xb, yb, k: int):
        if k == 1:  # one point: no vmap, the plain (fastest) call
            fn, p = self._one, {n: v[0] for n, v in params.items()}
        else:
            fn, p = self._many, params
        try:
            return fn(p, buffers, xb, yb)
        except Exception as exc:
            if self.compiled is not True:
                raise
            # torch.compile compiles lazily, so a missing toolchain shows up here: fall back.
            self.compiled = f"failed: {type(exc).__name__}"
            self._one, self._many = self._batch_fns()
            return self._batch(params, buffers, xb, yb, k)

    def _stacked(self, coeffs: torch.Tensor) -> dict[str, torch.Tensor]:
        """``(K, 2)`` coefficients -> parameters ``θ* + a δ + b η`` stacked to ``(K, *shape)``."""
        c = coeffs.to(self.device, self.dtype)
        out = {}
        for k, w in self.base.items():
            shape = (-1,) + (1,) * w.dim()
            p = w.unsqueeze(0) + c[:, 0].view(shape) * self.dirs[0][k].unsqueeze(0)
            if len(self.dirs) > 1:
                p = p + c[:, 1].view(shape) * self.dirs[1][k].unsqueeze(0)
            if self.channels_last and w.dim() == 4 and len(c) == 1:
                # (1, O, I, kh, kw): keep NHWC strides on the slice the forward will see
                p = p[0].contiguous(memory_format=torch.channels_last).unsqueeze(0)
            out[k] = p
        return out

    def _bn_buffers(self, params: dict) -> dict[str, torch.Tensor]:
        """Recompute BN running stats at ``params`` (one point) with a train-mode pass."""
        t = copy.deepcopy(self.tmpl).train()
        for m in t.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.momentum = None  # cumulative average over the pass
                m.reset_running_stats()
        bufs = {n: b.detach().clone() for n, b in t.named_buffers()}
        one = {k: v[0] for k, v in params.items()}
        with torch.no_grad():
            for i in range(0, self.n, self.batch):
                xb = self.x[i : i + self.batch].to(self.device, non_blocking=True)
                functional_call(t, (one, bufs), (xb,))
        return bufs

    @torch.no_grad()
    def __call__(self, coeffs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(K, 2)`` -> loss ``(K,)`` and accuracy ``(K,)`` (float64, CPU)."""
        params = self._stacked(coeffs)
        k = len(coeffs)
        if self.recompute_bn:
            buffers = self._bn_buffers(params)
        elif not self.opts.eval_mode:  # train-mode BN writes its running stats: use a copy
            buffers = {n: b.clone() for n, b in self.buffers.items()}
        else:
            buffers = self.buffers
        loss = torch.zeros(k, dtype=torch.float64, device=self.device)
        correct = torch.zeros(k, dtype=torch.int64, device=self.device)
        for i in range(0, self.n, self.batch):
            xb = self.x[i : i + self.batch].to(self.device, non_blocking=True)
            yb = self.y[i : i + self.batch].to(self.device, non_blocking=True)
            lb, cb = self._batch(params, buffers, xb, yb, k)
            loss += lb
            correct += cb
        acc = correct.double() / self.n if self.classification else torch.full_like(loss, math.nan)
        return (loss / self.n).cpu(), acc.cpu()


def surface(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    directions: Direction | Sequence[Direction],
    grid: Grid | Sequence,
    *,
    options: SurfaceOptions | None = None,
    checkpoint: str | Path | None = None,
    progress: Progress = QUIET,
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
    checkpoint : a file that holds finished points; written atomically as the surface fills and
        read at the start, so an interrupted call resumes where it stopped. A file made for
        another model, data, grid or directions is an error (never silently mixed).
    progress : progress reporter.

    Returns
    -------
    :class:`Surface` with ``loss`` and ``acc`` of shape ``grid.shape``.

    References
    ----------
    Li, Xu, Taylor, Studer, Goldstein (2018). Visualizing the loss landscape of neural nets. NeurIPS.
    """
    opts = options or SurfaceOptions()
    dirs = _as_directions(directions)
    grid = _as_grid(grid)
    if grid.ndim != len(dirs):
        raise ValueError(f"a {grid.ndim}-D grid needs {grid.ndim} direction(s), got {len(dirs)}")
    x, y = _data_xy(data)
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"data has {len(x)} inputs and {len(y)} targets; need the same, > 0")
    t0 = time.perf_counter()
    ev = _Evaluator(model, loss_fn, x, y, dirs, opts)
    pts = grid.points()
    n_pts = len(pts)
    loss = torch.full((n_pts,), math.nan, dtype=torch.float64)
    acc = torch.full((n_pts,), math.nan, dtype=torch.float64)
    done = torch.zeros(n_pts, dtype=torch.bool)
    fp = None
    if checkpoint is not None:
        numeric = {
            "autocast_bf16": opts.autocast_bf16,
            "recompute_bn": opts.recompute_bn,
            "eval_mode": opts.eval_mode,
            "dtype": str(ev.dtype),
        }
        fp = _fingerprint(ev.base, ev.buffers, dirs, grid, x, y, numeric)
        path = Path(checkpoint)
        if path.exists():
            blob = torch.load(path, map_location="cpu", weights_only=True)
            if blob.get("fingerprint") != fp:
                raise ValueError(
                    f"checkpoint {str(path)!r} belongs to another surface (model, data, grid, "
                    "directions or options differ); delete it or pass another path"
                )
            loss, acc, done = blob["loss"], blob["acc"], blob["done"]

    def persist() -> None:
        buf = io.BytesIO()
        torch.save({"fingerprint": fp, "loss": loss, "acc": acc, "done": done}, buf)
        atomic_write_bytes(checkpoint, buf.getvalue())

    todo = torch.nonzero(~done).flatten()
    chunks = [todo[i : i + ev.k] for i in range(0, len(todo), ev.k)]
    computed, last_save = 0, time.perf_counter()
    try:
        queue = list(chunks)
        bar = progress.track(range(len(todo)), "landscape points", total=len(todo))
        bar_iter = iter(bar)
        while queue:
            idx = queue.pop(0)
            try:
                lo, ac = ev(pts[idx])
            except torch.cuda.OutOfMemoryError:
                if len(idx) == 1:
                    raise
                torch.cuda.empty_cache()
                ev.k = max(1, len(idx) // 2)  # memory-aware: halve the chunk and retry
                queue[:0] = [idx[: ev.k], idx[ev.k :]]
                continue
            loss[idx], acc[idx], done[idx] = lo, ac, True
            computed += len(idx)
            for _ in range(len(idx)):
                next(bar_iter, None)
            if fp is not None and time.perf_counter() - last_save >= opts.checkpoint_every_s:
                persist()
                last_save = time.perf_counter()
        for _ in bar_iter:  # close the progress bar
            pass
    finally:
        if fp is not None and computed:
            persist()
    seconds = time.perf_counter() - t0
    resolved = {
        "device": str(ev.device),
        "dtype": str(ev.dtype).replace("torch.", ""),
        "n_examples": ev.n,
        "batch_size": ev.batch,
        "points_per_call": ev.k,
        "data_on_device": opts.data_on_device,
        "autocast_bf16": opts.autocast_bf16,
        "compile": ev.compiled,
        "recompute_bn": ev.recompute_bn,
        "eval_mode": opts.eval_mode,
        "channels_last": ev.channels_last,
        "resumed_points": int(n_pts - computed),
    }
    return Surface(
        grid,
        loss.view(grid.shape),
        acc.view(grid.shape),
        dirs,
        resolved,
        seconds,
        computed,
    )


def nonconvexity(s: Surface, rel_tol: float = 0.01) -> float:
    """Fraction of interior grid points where a 2-D surface curves downward in some direction.

    At each interior point the 2×2 Hessian of ``f(α, β)`` is estimated by central differences
    (``f_αα``, ``f_ββ``, and the cross term from the four diagonal neighbours). The point counts
    as non-convex when that Hessian's smaller eigenvalue is below ``-rel_tol × m``, where ``m``
    is the median over interior points of the larger eigenvalue's magnitude (a scale in the
    surface's own loss units, so plateaus with ~0 curvature do not count). 0 means convex-looking
    everywhere on the grid; chaotic surfaces score high. Needs at least a 3×3 grid.
    """
    if s.grid.ndim != 2 or min(s.grid.shape) < 3:
        raise ValueError(f"nonconvexity needs a 2-D grid of at least 3x3, got {s.grid.shape}")
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
    lo, hi = mean - diff, mean + diff
    scale = float(hi.abs().median())
    if not math.isfinite(scale) or scale == 0:
        return 0.0
    return float((lo < -rel_tol * scale).double().mean())
