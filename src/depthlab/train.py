"""One fast training loop.

Data lives on the device and mini-batches are indexed from tensors (no DataLoader). The loop
supports SGD/Adam, cosine or step schedules, early stopping (patience, or a target metric),
seeded determinism, and three losses: cross-entropy, MSE, and logit-matching L2 for mimic
learning (Ba & Caruana 2014: ``L = 1/(2T) sum_t ||g(x_t) - z_t||^2``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Literal

import pandas as pd
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from depthlab._display import FrameRepr
from depthlab._guard import guarded, raise_if_nonfinite
from depthlab.data.base import Dataset
from depthlab.progress import AUTO, Progress


class TrainConfig(BaseModel):
    """Settings for :func:`fit`. Unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    optimizer: Literal["sgd", "adam"] = "adam"
    lr: float = Field(1e-3, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    epochs: int = Field(20, ge=1)
    batch_size: int = Field(128, ge=1)
    schedule: Literal["none", "cosine", "step"] = "none"
    step_size: int = Field(10, ge=1, description="epochs between lr drops for schedule=step")
    gamma: float = Field(0.1, gt=0, le=1)
    loss: Literal["ce", "mse", "logit_l2"] = "ce"
    patience: int | None = Field(
        None, ge=1, description="stop after this many evals without improvement"
    )
    target_metric: float | None = Field(
        None,
        description="stop once test accuracy (ce) reaches it, or test loss (mse) falls below it",
    )
    eval_every: int = Field(1, ge=1, description="evaluate every this many epochs")
    max_steps: int | None = Field(None, ge=1, description="stop after this many optimizer steps")


@dataclass
class TrainResult(FrameRepr):
    """What :func:`fit` returns.

    Attributes
    ----------
    history : one row per evaluation: epoch, step, train_loss, test_loss, test_acc (classification),
        lr, seconds.
    final : the last row as a dict.
    reached_at_epoch : first epoch at which ``target_metric`` was met, else None.
    steps : optimizer steps taken.
    """

    history: pd.DataFrame
    final: dict
    reached_at_epoch: int | None
    steps: int
    seconds: float

    def to_frame(self) -> pd.DataFrame:
        """The training history (a copy): one row per evaluation."""
        return self.history.copy()

    def __repr__(self) -> str:
        keys = [k for k in ("test_loss", "test_acc") if k in self.final]
        body = ", ".join(f"{k}={self.final[k]:.4g}" for k in keys)
        return f"TrainResult(epochs={self.final.get('epoch')}, {body})"


def _loss_fn(kind: str):
    if kind == "ce":
        return nn.functional.cross_entropy
    if kind == "mse":
        return nn.functional.mse_loss
    # Ba & Caruana: squared error on logits, summed over classes, averaged over examples, halved.
    return lambda out, z: 0.5 * ((out - z) ** 2).sum(dim=1).mean()


def evaluate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: str = "ce", batch_size: int = 4096
) -> dict:
    """Mean loss (and accuracy for classification) of ``model`` on ``(x, y)``, in eval mode.

    A probe: the model runs under :func:`depthlab.probes._guard.guarded`, so every submodule's
    ``training`` flag comes back exactly (a BatchNorm set to eval inside a train-mode model stays
    in eval), its own hooks do not fire, and a parameter or buffer holding NaN/Inf, or a loss
    that goes non-finite, raises :class:`~depthlab.numerics.NonFiniteError` naming the layer.
    """
    with guarded(model, what="train.evaluate"):
        res = _evaluate(model, x, y, loss, batch_size)
        raise_if_nonfinite(model, x, res["loss"], "train.evaluate: the loss", batch_size)
    return res


@torch.no_grad()
def _evaluate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: str = "ce", batch_size: int = 4096
) -> dict:
    """:func:`evaluate` without the guard: ``fit`` owns (and trains) the model it evaluates."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        fn = _loss_fn("ce" if loss == "logit_l2" and y.dtype == torch.int64 else loss)
        total, correct, n = 0.0, 0, 0
        for i in range(0, len(x), batch_size):
            out = model(x[i : i + batch_size])
            yb = y[i : i + batch_size]
            total += float(fn(out, yb)) * len(yb)
            if yb.dtype == torch.int64:
                correct += int((out.argmax(dim=1) == yb).sum())
            n += len(yb)
    finally:
        for m, was in modes:
            m.training = was
    res = {"loss": total / max(n, 1)}
    if y.dtype == torch.int64:
        res["acc"] = correct / max(n, 1)
    return res


def fit(
    model: nn.Module,
    data: Dataset,
    config: TrainConfig | None = None,
    *,
    generator: torch.Generator | None = None,
    targets: torch.Tensor | None = None,
    progress: Progress = AUTO,
    description: str = "train",
) -> TrainResult:
    """Train ``model`` in place on ``data`` (already on the model's device).

    Parameters
    ----------
    model : the network; trained in place.
    data : train/test tensors on the same device as the model.
    config : :class:`TrainConfig`.
    generator : seeds the mini-batch order (CPU generator; the order is moved to the device).
    targets : regression targets for the training set that replace ``data.y_train``
        (for ``loss="logit_l2"``: the teacher's logits, shape ``(N_train, classes)``).
    progress : progress reporter.
    """
    cfg = config or TrainConfig()
    device = next(model.parameters()).device
    x_tr = data.x_train
    y_tr = targets if targets is not None else data.y_train
    if cfg.loss == "logit_l2" and targets is None:
        raise ValueError(
            "loss='logit_l2' needs targets= (the teacher's logits on the training set)"
        )
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "adam":
        opt: torch.optim.Optimizer = torch.optim.Adam(
            params, lr=cfg.lr, weight_decay=cfg.weight_decay
        )
    else:
        opt = torch.optim.SGD(
            params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
        )
    n = len(x_tr)
    steps_per_epoch = math.ceil(n / cfg.batch_size)
    total_steps = cfg.epochs * steps_per_epoch
    if cfg.schedule == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total_steps)
    elif cfg.schedule == "step":
        sched = torch.optim.lr_scheduler.StepLR(
            opt, step_size=cfg.step_size * steps_per_epoch, gamma=cfg.gamma
        )
    else:
        sched = None
    loss_fn = _loss_fn(cfg.loss)
    eval_loss = (
        "ce" if cfg.loss in ("ce", "logit_l2") and data.y_test.dtype == torch.int64 else "mse"
    )
    gen = generator or torch.Generator().manual_seed(0)
    rows: list[dict] = []
    best, bad_evals, reached, step = math.inf, 0, None, 0
    t0 = time.perf_counter()
    model.train()
    for epoch in progress.track(range(1, cfg.epochs + 1), description, total=cfg.epochs):
        perm = torch.randperm(n, generator=gen).to(device)
        running, seen = 0.0, 0
        for i in range(0, n, cfg.batch_size):
            idx = perm[i : i + cfg.batch_size]
            out = model(x_tr[idx])
            loss = loss_fn(out, y_tr[idx])
            if not torch.isfinite(loss):
                from depthlab.numerics import raise_nonfinite

                raise_nonfinite(
                    model, x_tr[idx], str(float(loss.detach())), step, "training loss", epoch
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            step += 1
            running += float(loss.detach()) * len(idx)
            seen += len(idx)
            if cfg.max_steps is not None and step >= cfg.max_steps:
                break
        stop = cfg.max_steps is not None and step >= cfg.max_steps
        if epoch % cfg.eval_every == 0 or epoch == cfg.epochs or stop:
            ev = _evaluate(model, data.x_test, data.y_test, eval_loss)
            row = {
                "epoch": epoch,
                "step": step,
                "train_loss": running / max(seen, 1),
                "test_loss": ev["loss"],
                "lr": opt.param_groups[0]["lr"],
                "seconds": time.perf_counter() - t0,
            }
            if "acc" in ev:
                row["test_acc"] = ev["acc"]
            rows.append(row)
            if cfg.target_metric is not None and reached is None:
                met = (
                    ev["acc"] >= cfg.target_metric
                    if "acc" in ev
                    else ev["loss"] <= cfg.target_metric
                )
                if met:
                    reached = epoch
                    stop = True
            score = -ev["acc"] if "acc" in ev else ev["loss"]
            if score < best - 1e-12:
                best, bad_evals = score, 0
            else:
                bad_evals += 1
                if cfg.patience is not None and bad_evals >= cfg.patience:
                    stop = True
        if stop:
            break
    model.eval()
    history = pd.DataFrame(rows)
    return TrainResult(history, rows[-1] if rows else {}, reached, step, time.perf_counter() - t0)
