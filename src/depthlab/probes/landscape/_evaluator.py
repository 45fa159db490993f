"""Evaluating a model at many grid points ``θ* + α δ + β η``: the fast path of a loss surface.

The probe never touches the user's model: it evaluates a private copy through
:func:`torch.func.functional_call`. Device and dtype follow the model; the data is moved to the
model's device once (``data_on_device``) and evaluated in large batches, optionally in bf16 autocast
(loss accumulated in fp32/fp64), optionally under :func:`torch.compile`, and, for MLP-scale models,
many grid points at once under :func:`torch.func.vmap`. Chunk sizes are chosen to fit a memory
budget. A ``checkpoint`` file persists finished points atomically so an interrupted surface resumes.
"""

from __future__ import annotations

import copy
import hashlib
import io
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, vmap

from depthlab.atomic import atomic_write_bytes
from depthlab.probes.landscape._fold import compile_once, exact_fp32, plan_fold
from depthlab.probes.landscape._shared import Direction, Grid, LossFn, params_of
from depthlab.progress import Progress, log

__all__ = ["SurfaceOptions"]


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
    compile : wrap the per-batch evaluation in :func:`torch.compile`, once per surface, with the
        weights as graph inputs (no recompile per grid point); a string is the compile ``mode``
        (e.g. ``"max-autotune-no-cudagraphs"``). Falls back, and records why, if compilation
        fails. Accuracy contract (checked by ``benchmarks/bench_landscape.py``): compiling
        keeps the fp32 settings (TF32 off, see ``exact_fp32``), so compiled fp32 is held to 1e-6
        relative of the float64 reference like eager fp32; compiled bf16 (best with ``fold_bn``)
        to 3e-3 relative of exact fp32 at every grid point.
    compile_backend : the :func:`torch.compile` backend (``"inductor"``; ``"aot_eager"`` or
        ``"eager"`` check graph capture and recompiles without a C compiler).
    fold_bn : fold each eval-mode BatchNorm into the Conv/Linear before it, recomputed from each
        point's weights inside the (compiled) forward (:mod:`._fold`; exact up to rounding).
        ``"auto"`` (default) folds where the model traces with :mod:`torch.fx` and
        ``eval_mode`` without ``recompute_bn``; ``True`` insists (error if nothing folds);
        ``False`` never folds. Train mode and ``recompute_bn`` always keep the unfolded model.
    exact_fp32 : on CUDA, evaluate fp32 (no ``autocast_bf16``) with TF32 off in cuDNN and cuBLAS
        (PyTorch lets cuDNN convolutions use TF32 by default; with it the fp32 surface measured
        5.5e-6 relative off the reference on an H100, above the 1e-6 goal). Default on.
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
    compile: bool | str = False
    points_per_call: int | None = None
    memory_budget: int | None = None
    recompute_bn: bool = False
    eval_mode: bool = True
    channels_last: bool = False
    checkpoint_every_s: float = 2.0
    fold_bn: bool | str = "auto"
    compile_backend: str = "inductor"
    exact_fp32: bool = True

    def __post_init__(self) -> None:
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.points_per_call is not None and self.points_per_call < 1:
            raise ValueError(f"points_per_call must be >= 1 or None, got {self.points_per_call}")
        if self.fold_bn not in (True, False, "auto"):
            raise ValueError(f"fold_bn must be True, False or 'auto', got {self.fold_bn!r}")
        if self.fold_bn is True and (self.recompute_bn or not self.eval_mode):
            raise ValueError("fold_bn=True needs eval_mode=True and recompute_bn=False")


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


def numeric_settings(opts: SurfaceOptions, dtype: torch.dtype) -> dict[str, Any]:
    """The settings that change a surface's numbers (part of a checkpoint's fingerprint)."""
    return {
        "autocast_bf16": opts.autocast_bf16,
        "recompute_bn": opts.recompute_bn,
        "eval_mode": opts.eval_mode,
        "dtype": str(dtype),
        "fold_bn": opts.fold_bn,
    }


def fingerprint(
    params: dict, buffers: dict, dirs: tuple[Direction, ...], grid: Grid, x, y, numeric: dict
) -> str:
    """A hash of everything a surface's numbers depend on: a checkpoint is never mixed up."""
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
        self.base = params_of(model)
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
        if self.batch < min(want_batch, self.n):
            log.info(
                "landscape: batch size %d (asked %d): one batch's activations must fit the "
                "memory budget of %d bytes",
                self.batch,
                min(want_batch, self.n),
                budget,
            )
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
        self.fold = None
        self.folded: bool | str = False
        if opts.fold_bn and opts.eval_mode and not self.recompute_bn:
            plan = plan_fold(self.tmpl, self.base, self.x[:2].to(self.device))
            if isinstance(plan, str):
                if opts.fold_bn is True:
                    raise ValueError(f"fold_bn=True but nothing folds: {plan}")
                self.folded = f"not folded: {plan}"
            else:
                self.fold, self.folded = plan, True
        self.exact = opts.exact_fp32 and self.device.type == "cuda" and not opts.autocast_bf16
        self.compiled: str | bool = False
        self._one, self._many = self._batch_fns()
        if opts.compile:
            mode = opts.compile if isinstance(opts.compile, str) else None
            try:
                self._one = compile_once(self._one, mode, opts.compile_backend)
                self._many = compile_once(self._many, mode, opts.compile_backend)
                self.compiled = True if mode is None else mode
            except Exception as exc:  # compile needs a toolchain; fall back, and say so
                self.compiled = f"failed: {type(exc).__name__}"
                log.warning("landscape: torch.compile failed (%s); running uncompiled", exc)

    def _batch_fns(self):
        tmpl, loss_fn, cls = self.tmpl, self.loss_fn, self.classification
        autocast = self.opts.autocast_bf16
        dev = self.device.type
        fold = self.fold
        if fold is not None:
            tmpl = fold.module

        def one(params, buffers, x, y):
            """One point: summed loss (float64) and correct count over the batch."""
            if fold is not None:  # BN folded into the convs, from this point's weights
                params, buffers = fold.fold(params, buffers)
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
            if self.compiled is False or str(self.compiled).startswith("failed"):
                raise
            # torch.compile compiles lazily, so a missing toolchain shows up here: fall back.
            self.compiled = f"failed: {type(exc).__name__}"
            log.warning("landscape: compiled evaluation failed (%s); running uncompiled", exc)
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
        with exact_fp32(self.exact):
            for i in range(0, self.n, self.batch):
                xb = self.x[i : i + self.batch].to(self.device, non_blocking=True)
                yb = self.y[i : i + self.batch].to(self.device, non_blocking=True)
                lb, cb = self._batch(params, buffers, xb, yb, k)
                loss += lb
                correct += cb
        acc = correct.double() / self.n if self.classification else torch.full_like(loss, math.nan)
        return (loss / self.n).cpu(), acc.cpu()


@dataclass(frozen=True)
class Evaluated:
    """Flat ``(P,)`` loss and accuracy over a grid's points, with how they were computed."""

    loss: torch.Tensor
    acc: torch.Tensor
    resolved: dict[str, Any]
    seconds: float
    computed: int


def evaluate_grid(
    model: nn.Module,
    loss_fn: LossFn,
    x: torch.Tensor,
    y: torch.Tensor,
    dirs: tuple[Direction, ...],
    grid: Grid,
    opts: SurfaceOptions,
    checkpoint: str | Path | None,
    progress: Progress,
) -> Evaluated:
    """Every point of ``grid`` in one process (inputs already checked by the caller).

    With ``checkpoint``, finished points are persisted atomically and read back at the start;
    a checkpoint whose name ends in ``.partial`` is scratch and is deleted once every point is
    done (any other name is kept).
    """
    t0 = time.perf_counter()
    ev = _Evaluator(model, loss_fn, x, y, dirs, opts)
    pts = grid.points()
    n_pts = len(pts)
    loss = torch.full((n_pts,), math.nan, dtype=torch.float64)
    acc = torch.full((n_pts,), math.nan, dtype=torch.float64)
    done = torch.zeros(n_pts, dtype=torch.bool)
    fp = None
    if checkpoint is not None:
        numeric = numeric_settings(opts, ev.dtype)
        fp = fingerprint(ev.base, ev.buffers, dirs, grid, x, y, numeric)
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
                log.info(
                    "landscape: out of memory at %d points per call; retrying with %d",
                    len(idx),
                    ev.k,
                )
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
        "fold_bn": ev.folded,
        "exact_fp32": ev.exact,
        "recompute_bn": ev.recompute_bn,
        "eval_mode": opts.eval_mode,
        "channels_last": ev.channels_last,
        "resumed_points": int(n_pts - computed),
    }
    if checkpoint is not None and Path(checkpoint).name.endswith(".partial"):
        Path(checkpoint).unlink(missing_ok=True)  # scratch: the caller holds the result now
    return Evaluated(loss, acc, resolved, seconds, computed)
