"""Train K same-architecture models at once: stacked parameters, ``vmap`` and ``grad``.

:func:`fit_batched` is the batched twin of :func:`depthlab.train.fit`. The K models' parameters
are stacked (leading dim K, :func:`depthlab.batched.stack_models`); one step evaluates all K
losses with one ``vmap``-ed forward and their gradients with one backward pass, and Adam / SGD run directly on the stacked
tensors with one optimizer state per model. Each model keeps its own mini-batch order (its own
``torch.Generator``), its own step count, and its own early stopping: a model that stops is
masked out (its parameters and optimizer state are frozen) while the others go on.

With the same seeds it gives the same numbers as K sequential :func:`~depthlab.train.fit`
runs, to float tolerance (``tests/unit/test_train_batched.py`` checks this in float64).

Limits: models must have no buffers that training updates (BatchNorm) and no dropout (vmap's
randomness differs from a sequential run); both raise a clear error.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pandas as pd
import torch
from torch import nn
from torch.func import functional_call, vmap

from depthlab.batched import stack_models
from depthlab.data.base import Dataset
from depthlab.progress import QUIET, Progress
from depthlab.train import TrainConfig, _loss_fn

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class BatchedTrainResult:
    """What :func:`fit_batched` returns.

    Attributes
    ----------
    history : one row per (model, evaluation): model, epoch, step, train_loss, test_loss,
        test_acc (classification), lr, seconds.
    finals : per model, its last history row as a dict.
    reached_at_epoch : per model, the first epoch at which ``target_metric`` was met, else None.
    steps : per model, optimizer steps taken.
    seconds : wall time of the whole batched run.
    params : the trained parameters, stacked ``(K, *shape)`` (also copied into the models).
    """

    history: pd.DataFrame
    finals: list[dict]
    reached_at_epoch: list[int | None]
    steps: list[int]
    seconds: float
    params: dict[str, torch.Tensor]

    @property
    def k(self) -> int:
        return len(self.finals)

    def final_frame(self) -> pd.DataFrame:
        """One row per model: its last evaluation."""
        return pd.DataFrame(self.finals)

    def __repr__(self) -> str:
        col = "test_acc" if self.finals and "test_acc" in self.finals[0] else "test_loss"
        vals = torch.tensor([f[col] for f in self.finals], dtype=torch.float64)
        return (
            f"BatchedTrainResult(K={self.k}, {col} mean={float(vals.mean()):.4g} "
            f"min={float(vals.min()):.4g} max={float(vals.max()):.4g})"
        )


def _check_models(models: Sequence[nn.Module]) -> None:
    if not models:
        raise ValueError("fit_batched needs at least one model")
    names = [n for n, _ in models[0].named_parameters()]
    shapes = [tuple(p.shape) for p in models[0].parameters()]
    for i, m in enumerate(models[1:], 1):
        if [n for n, _ in m.named_parameters()] != names or [
            tuple(p.shape) for p in m.parameters()
        ] != shapes:
            raise ValueError(
                f"fit_batched needs models of one architecture; model {i} differs from model 0"
            )
    for mod in models[0].modules():
        if isinstance(mod, nn.modules.batchnorm._BatchNorm):
            raise ValueError(
                "fit_batched does not train models with BatchNorm (running stats are buffers "
                "updated in place); use depthlab.train.fit for those"
            )
        if isinstance(mod, nn.modules.dropout._DropoutNd) and mod.p > 0:
            raise ValueError(
                "fit_batched does not train models with dropout (its randomness cannot match "
                "sequential runs); use depthlab.train.fit"
            )


def _lr_at(cfg: TrainConfig, step: int, total_steps: int, steps_per_epoch: int) -> float:
    """The learning rate used for optimizer step ``step`` (0-based), as torch's schedulers give."""
    if cfg.schedule == "cosine":
        return 0.5 * cfg.lr * (1 + math.cos(math.pi * step / total_steps))
    if cfg.schedule == "step":
        return cfg.lr * cfg.gamma ** (step // (cfg.step_size * steps_per_epoch))
    return cfg.lr


def _bcast(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``(K,)`` -> ``(K, 1, ..., 1)`` to broadcast against a stacked ``(K, *shape)`` tensor."""
    return v.reshape(v.shape + (1,) * (like.dim() - 1))


class _StackedOptimizer:
    """Adam or SGD(momentum) on stacked tensors, one state per model, masked updates.

    The arithmetic follows ``torch.optim.Adam`` / ``torch.optim.SGD`` (single-tensor path):
    L2 weight decay is added to the gradient; Adam's bias corrections use each model's own
    step count; SGD's momentum buffer starts as the first gradient.
    """

    def __init__(self, params: dict[str, torch.Tensor], cfg: TrainConfig, k: int) -> None:
        self.cfg = cfg
        self.kind = cfg.optimizer
        dev = next(iter(params.values())).device
        self.t = torch.zeros(k, dtype=torch.float64, device=dev)  # per-model step count
        self.m = {n: torch.zeros_like(p) for n, p in params.items()}
        self.v = {n: torch.zeros_like(p) for n, p in params.items()} if self.kind == "adam" else {}
        self.started = torch.zeros(k, dtype=torch.bool, device=dev)

    @torch.no_grad()
    def step(
        self,
        params: dict[str, torch.Tensor],
        grads: dict[str, torch.Tensor],
        lr: float,
        active: torch.Tensor,
        all_active: bool,
    ) -> None:
        """One update of every active model. ``all_active`` takes the in-place fast path."""
        cfg = self.cfg
        self.t += active.to(self.t.dtype)
        if self.kind == "adam":
            b1, b2, eps = 0.9, 0.999, 1e-8
            if all_active:
                t = float(self.t[0])  # every model has taken the same number of steps
                bc1, bc2_sqrt = 1 - b1**t, math.sqrt(1 - b2**t)
                for n, p in params.items():
                    g = grads[n]
                    if cfg.weight_decay:
                        g = g.add(p, alpha=cfg.weight_decay)
                    m, v = self.m[n], self.v[n]
                    m.lerp_(g, 1 - b1)
                    v.mul_(b2).addcmul_(g, g, value=1 - b2)
                    denom = (v.sqrt() / bc2_sqrt).add_(eps)
                    p.addcdiv_(m, denom, value=-lr / bc1)
                return
            t = self.t.clamp(min=1)
            bc1 = 1 - b1**t  # (K,)
            bc2_sqrt = (1 - b2**t).sqrt()
            for n, p in params.items():
                g = grads[n]
                if cfg.weight_decay:
                    g = g + cfg.weight_decay * p
                a = _bcast(active, p)
                m_new = self.m[n].lerp(g, 1 - b1)
                v_new = self.v[n] * b2 + (1 - b2) * g * g
                self.m[n] = torch.where(a, m_new, self.m[n])
                self.v[n] = torch.where(a, v_new, self.v[n])
                step_size = _bcast((lr / bc1).to(p.dtype), p)
                denom = self.v[n].sqrt() / _bcast(bc2_sqrt.to(p.dtype), p) + eps
                p.copy_(torch.where(a, p - step_size * self.m[n] / denom, p))
        else:
            mom = cfg.momentum
            for n, p in params.items():
                g = grads[n]
                if cfg.weight_decay:
                    g = g + cfg.weight_decay * p
                a = _bcast(active, p)
                if mom:
                    first = _bcast(~self.started, p)
                    buf = torch.where(first, g, self.m[n] * mom + g)
                    self.m[n] = torch.where(a, buf, self.m[n])
                    g = self.m[n]
                if all_active:
                    p.add_(g, alpha=-lr)
                else:
                    p.copy_(torch.where(a, p - lr * g, p))
        self.started |= active


def _per_model_eval(
    base: nn.Module,
    params: dict[str, torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    kind: str,
    batch_size: int = 4096,
    fn: LossFn | None = None,
    stacked: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Mean test loss ``(K,)`` and accuracy ``(K,)`` (classification) of all K models.

    ``fn`` replaces the loss ``kind`` names; ``stacked``: ``x``, ``y`` carry a leading K dim
    (model k is evaluated on ``x[k]``, ``y[k]``).
    """

    def fwd(p, xx):
        return functional_call(base, p, (xx,))

    fn = fn or _loss_fn(kind)
    data_dim = 0 if stacked else None
    k = next(iter(params.values())).shape[0]
    n_pts = x.shape[1] if stacked else len(x)
    tot = torch.zeros(k, dtype=torch.float64, device=x.device)
    cor = torch.zeros(k, dtype=torch.float64, device=x.device)
    with torch.no_grad():
        for i in range(0, n_pts, batch_size):
            if stacked:
                xb, yb = x[:, i : i + batch_size], y[:, i : i + batch_size]
            else:
                xb, yb = x[i : i + batch_size], y[i : i + batch_size]
            b = yb.shape[1] if stacked else len(yb)
            out = vmap(fwd, in_dims=(0, data_dim))(params, xb)  # (K, B, out)
            losses = vmap(fn, in_dims=(0, data_dim))(out, yb)  # (K,)
            tot += losses.to(torch.float64) * b
            if yb.dtype == torch.int64:
                cor += (out.argmax(dim=-1) == yb).sum(dim=1).to(torch.float64)
    n = max(n_pts, 1)
    return tot / n, (cor / n if y.dtype == torch.int64 else None)


def fit_batched(
    models: Sequence[nn.Module],
    data: Dataset,
    config: TrainConfig | None = None,
    *,
    generators: Sequence[torch.Generator] | None = None,
    targets: torch.Tensor | None = None,
    loss_fn: LossFn | None = None,
    eval_loss_fn: LossFn | None = None,
    stacked_data: bool = False,
    progress: Progress = QUIET,
    description: str = "train batched",
) -> BatchedTrainResult:
    """Train K same-architecture models together; each ends as ``fit`` would have left it.

    Parameters
    ----------
    models : K modules of one architecture on one device; trained in place (their final
        parameters are copied back).
    data : train/test tensors on the models' device.
    config : :class:`~depthlab.train.TrainConfig`, shared by all K models.
    generators : K CPU generators, one per model, each seeding that model's mini-batch order as
        ``fit(generator=...)`` would. Default: ``manual_seed(0)`` for every model (as ``fit``).
    targets : regression targets ``(N_train, out)`` replacing ``data.y_train`` (e.g. teacher
        logits for ``loss="logit_l2"``), shared by all K models (``(K, N_train, out)``, one
        slice per model, with ``stacked_data=True``).
    loss_fn : optional training loss ``(out (B, C), target (B, ...)) -> scalar`` replacing the
        one ``config.loss`` names (e.g. temperature distillation); evaluation is unchanged.
    eval_loss_fn : optional test loss, same signature, replacing the MSE / cross-entropy that
        ``test_loss`` (and so ``target_metric`` and ``patience``) is measured with; e.g. an
        importance-weighted MSE whose weights travel as an extra target column.
    stacked_data : if True, ``data``'s four tensors (and ``targets``) carry a leading K dim:
        model k trains on ``x_train[k], y_train[k]`` and is evaluated on ``x_test[k],
        y_test[k]`` (one dataset per model, all of one size); e.g. products of different n,
        zero-padded to one input width.

    Returns
    -------
    :class:`BatchedTrainResult`. The k-th model's history, steps and early stop match
    ``fit(models[k], data, config, generator=generators[k])``.

    Notes
    -----
    One step computes the K losses ``L_k(theta_k; x[idx_k], y[idx_k])`` in one ``vmap``-ed
    forward and their gradients with one ``torch.autograd.grad`` of ``sum_k L_k`` (the models
    share no parameters, so this is each model's own gradient). A model that
    meets its stopping rule at an evaluation is masked: its parameters and optimizer state
    stop changing; the loop ends when every model has stopped.
    """
    cfg = config or TrainConfig()
    models = list(models)
    _check_models(models)
    k = len(models)
    if generators is None:
        generators = [torch.Generator().manual_seed(0) for _ in range(k)]
    if len(generators) != k:
        raise ValueError(f"got {len(generators)} generators for {k} models; pass one per model")
    if cfg.loss == "logit_l2" and targets is None and loss_fn is None:
        raise ValueError(
            "loss='logit_l2' needs targets= (the teacher's logits on the training set)"
        )
    params, _ = stack_models(models)
    device = next(iter(params.values())).device
    base = models[0]
    x_tr = data.x_train
    y_tr = targets if targets is not None else data.y_train
    if stacked_data:
        named = (("x_train", x_tr), ("y_train", y_tr), ("x_test", data.x_test))
        for name, t in (*named, ("y_test", data.y_test)):
            if t.dim() < 2 or t.shape[0] != k:
                raise ValueError(
                    f"stacked_data=True needs {name} with a leading dim of {k} (one slice per "
                    f"model), got shape {tuple(t.shape)}"
                )
    train_loss = loss_fn or _loss_fn(cfg.loss)
    eval_kind = (
        "ce" if cfg.loss in ("ce", "logit_l2") and data.y_test.dtype == torch.int64 else "mse"
    )
    opt = _StackedOptimizer(params, cfg, k)

    def loss_one(p, xb, yb):
        return train_loss(functional_call(base, p, (xb,)), yb)

    losses_fn = vmap(loss_one, in_dims=(0, 0, 0))
    names = list(params)

    def step_fn(p, xb, yb):
        # Per-model losses (K,) from one vmapped forward; the models are independent, so the
        # gradient of their sum w.r.t. the stacked parameters is every model's own gradient.
        # (Same numbers as vmap(grad(loss_one)), and faster on the CPU.)
        leaves = {n: p[n].detach().requires_grad_(True) for n in names}
        with torch.enable_grad():
            losses = losses_fn(leaves, xb, yb)
            grads = torch.autograd.grad(losses.sum(), [leaves[n] for n in names])
        return dict(zip(names, grads, strict=True)), losses.detach()

    n = x_tr.shape[1] if stacked_data else len(x_tr)
    rows_k = torch.arange(k, device=device).unsqueeze(1) if stacked_data else None
    steps_per_epoch = math.ceil(n / cfg.batch_size)
    total_steps = cfg.epochs * steps_per_epoch
    active = torch.ones(k, dtype=torch.bool, device=device)
    active_list = [True] * k
    best = [math.inf] * k
    bad = [0] * k
    reached: list[int | None] = [None] * k
    steps = [0] * k
    rows: list[dict] = []
    finals: list[dict] = [{} for _ in range(k)]
    step = 0
    t0 = time.perf_counter()
    base_was_training = base.training
    base.train()
    try:
        for epoch in progress.track(range(1, cfg.epochs + 1), description, total=cfg.epochs):
            perms = torch.stack([torch.randperm(n, generator=g) for g in generators]).to(device)
            running = torch.zeros(k, dtype=torch.float64, device=device)
            seen = 0
            for i in range(0, n, cfg.batch_size):
                idx = perms[:, i : i + cfg.batch_size]  # (K, B)
                if stacked_data:
                    grads, losses = step_fn(params, x_tr[rows_k, idx], y_tr[rows_k, idx])
                else:
                    grads, losses = step_fn(params, x_tr[idx], y_tr[idx])
                live = losses[active]
                if not bool(torch.isfinite(live).all()):
                    bad_k = [j for j in range(k) if active_list[j] and not math.isfinite(losses[j])]
                    raise FloatingPointError(
                        f"training loss became non-finite for models {bad_k} at epoch {epoch}, "
                        f"step {step}"
                    )
                opt.step(
                    params,
                    grads,
                    _lr_at(cfg, step, total_steps, steps_per_epoch),
                    active,
                    all(active_list),
                )
                step += 1
                running += losses.detach().to(torch.float64) * idx.shape[1]
                seen += idx.shape[1]
                if cfg.max_steps is not None and step >= cfg.max_steps:
                    break
            for j in range(k):
                if active_list[j]:
                    steps[j] = step
            stop_all = cfg.max_steps is not None and step >= cfg.max_steps
            if epoch % cfg.eval_every == 0 or epoch == cfg.epochs or stop_all:
                test_loss, test_acc = _per_model_eval(
                    base,
                    params,
                    data.x_test,
                    data.y_test,
                    eval_kind,
                    fn=eval_loss_fn,
                    stacked=stacked_data,
                )
                lr_now = _lr_at(cfg, step, total_steps, steps_per_epoch)
                secs = time.perf_counter() - t0
                for j in range(k):
                    if not active_list[j]:
                        continue
                    row = {
                        "model": j,
                        "epoch": epoch,
                        "step": step,
                        "train_loss": float(running[j]) / max(seen, 1),
                        "test_loss": float(test_loss[j]),
                        "lr": lr_now,
                        "seconds": secs,
                    }
                    if test_acc is not None:
                        row["test_acc"] = float(test_acc[j])
                    rows.append(row)
                    finals[j] = row
                    stop = stop_all
                    if cfg.target_metric is not None and reached[j] is None:
                        met = (
                            row["test_acc"] >= cfg.target_metric
                            if test_acc is not None
                            else row["test_loss"] <= cfg.target_metric
                        )
                        if met:
                            reached[j] = epoch
                            stop = True
                    score = -row["test_acc"] if test_acc is not None else row["test_loss"]
                    if score < best[j] - 1e-12:
                        best[j], bad[j] = score, 0
                    else:
                        bad[j] += 1
                        if cfg.patience is not None and bad[j] >= cfg.patience:
                            stop = True
                    if stop:
                        active_list[j] = False
                active = torch.tensor(active_list, dtype=torch.bool, device=device)
            if stop_all or not any(active_list):
                break
    finally:
        base.train(base_was_training)
    with torch.no_grad():
        for j, m in enumerate(models):
            for name, p in m.named_parameters():
                p.copy_(params[name][j])
            m.eval()
    return BatchedTrainResult(
        pd.DataFrame(rows), finals, reached, steps, time.perf_counter() - t0, params
    )


@torch.no_grad()
def embed_padded(narrow: nn.Module, wide: nn.Module) -> nn.Module:
    """Copy ``narrow``'s parameters into the leading corner of ``wide``'s and zero the rest.

    ``wide`` must have the same parameter names with every dimension at least as large. For a
    net whose activation has ``σ(0) = 0`` (tanh, erf, identity) and no weight decay, the extra
    units output 0, receive exactly zero gradient, and stay at zero under Adam and SGD, so
    ``wide`` computes and trains exactly as ``narrow``. This lets nets of *different widths*
    train together in one :func:`fit_batched` call. Returns ``wide``.
    """
    nn_params = dict(narrow.named_parameters())
    for name, pw in wide.named_parameters():
        if name not in nn_params:
            raise ValueError(f"parameter {name!r} of the wide net is missing from the narrow net")
        pn = nn_params[name]
        if pn.dim() != pw.dim() or any(a > b for a, b in zip(pn.shape, pw.shape, strict=True)):
            raise ValueError(
                f"parameter {name!r}: narrow shape {tuple(pn.shape)} does not fit in "
                f"{tuple(pw.shape)}"
            )
        pw.zero_()
        pw[tuple(slice(0, d) for d in pn.shape)] = pn
    return wide
