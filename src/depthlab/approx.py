"""Shallow approximation of 1-D functions: the measurement behind the universal-approximation claims.

A one-hidden-layer ReLU net on the line is a linear spline whose knots are ``-b_i / w_i``. We start
the knots at seeded uniform positions in the interval, solve the readout by least squares in
float64 (the best output layer for those knots, a convex problem), then fine-tune every parameter
with Adam. The returned error is measured on a dense test grid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from depthlab.data.base import Dataset
from depthlab.nets.mlp import mlp


@dataclass(frozen=True)
class ShallowFit:
    """A fitted one-hidden-layer net and its test error.

    Attributes
    ----------
    model : ``Linear(1, width) -> ReLU -> Linear(width, 1)`` in float64.
    width : hidden units.
    params : trainable parameters (``3 * width + 1``).
    rmse : root mean squared error on the test grid.
    rel_mse : test MSE divided by the target's variance on the grid.
    """

    model: nn.Module
    width: int
    params: int
    rmse: float
    rel_mse: float


def _errors(model: nn.Module, data: Dataset) -> tuple[float, float]:
    with torch.no_grad():
        err = model(data.x_test) - data.y_test
        mse = float((err**2).mean())
        var = float(data.y_test.var(unbiased=False))
    return mse**0.5, mse / max(var, 1e-300)


def fit_shallow_1d(
    data: Dataset,
    width: int,
    generator: torch.Generator,
    finetune_steps: int = 300,
    lr: float = 1e-3,
    ridge: float = 1e-10,
    good_enough: float | None = None,
    knots: Literal["uniform", "stratified"] = "uniform",
) -> ShallowFit:
    """Fit ``Linear(1, width) -> ReLU -> Linear(width, 1)`` to 1-D regression ``data``.

    Parameters
    ----------
    data : 1-D regression data (``x`` of shape ``(N, 1)``), any float dtype; fitted in float64.
    width : hidden units.
    generator : seeds knot positions and slopes' signs.
    finetune_steps : full-batch Adam steps after the least-squares readout (0 to skip).
    good_enough : skip the fine-tuning when the least-squares fit already has a relative test MSE
        at or below this (fine-tuning only ever keeps a better fit, so a search for the smallest
        width that reaches a target gives the same answer, faster).
    knots : ``"uniform"``: each knot uniform on the interval (the largest gap is about
        ``log(width) / width``, so the error of one fit is dominated by its few widest gaps);
        ``"stratified"``: one knot uniform in each of ``width`` equal cells (every gap below
        ``2 / width``), for error-versus-width rates that are not decided by the luck of the gaps.
    """
    if knots not in ("uniform", "stratified"):
        raise ValueError(f"knots must be 'uniform' or 'stratified', got {knots!r}")
    data = data.to(dtype=torch.float64)
    lo = float(data.x_train.min())
    hi = float(data.x_train.max())
    device = data.x_train.device
    model = mlp([1, width, 1], activation="relu").to(device, torch.float64)
    with torch.no_grad():
        sign = torch.where(torch.rand(width, generator=generator) < 0.5, -1.0, 1.0).to(
            torch.float64
        )
        u = torch.rand(width, generator=generator, dtype=torch.float64)
        if knots == "stratified":
            u = (torch.arange(width, dtype=torch.float64) + u) / width
        where = lo + (hi - lo) * u
        model[0].weight.copy_(sign.unsqueeze(1).to(device))
        model[0].bias.copy_((-sign * where).to(device))
        _solve_readout(model, data, ridge)
    best = (_errors(model, data), {k: v.clone() for k, v in model.state_dict().items()})
    if finetune_steps > 0 and (good_enough is None or best[0][1] > good_enough):
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        for _ in range(finetune_steps):
            loss = nn.functional.mse_loss(model(data.x_train), data.y_train)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        with torch.no_grad():
            _solve_readout(model, data, ridge)  # the readout is convex given the knots: re-solve
        errs = _errors(model, data)
        if errs[0] < best[0][0]:
            best = (errs, None)
        else:
            model.load_state_dict(best[1])
    (rmse, rel) = best[0]
    return ShallowFit(model.eval(), width, 3 * width + 1, rmse, rel)


def _solve_readout(model: nn.Sequential, data: Dataset, ridge: float) -> None:
    h = model[1](model[0](data.x_train))  # (N, width)
    feats = torch.cat([h, torch.ones(len(h), 1, dtype=h.dtype, device=h.device)], dim=1)
    gram = feats.T @ feats  # (width+1, width+1)
    eye = torch.eye(len(gram), dtype=gram.dtype, device=gram.device)
    gram += ridge * eye * (gram.diagonal().mean() + 1.0)
    coef = torch.linalg.solve(gram, feats.T @ data.y_train)  # (width+1, 1)
    model[2].weight.copy_(coef[:-1].T)
    model[2].bias.copy_(coef[-1])


def fit_deep_1d(
    data: Dataset,
    width: int,
    depth: int,
    generator: torch.Generator,
    steps: int = 2000,
    lr: float = 3e-3,
) -> ShallowFit:
    """Train a deep ReLU net (``depth`` hidden layers of ``width``) from He init with Adam."""
    from depthlab.init import initialize

    data = data.to(dtype=torch.float64)
    model = mlp([1] + [width] * depth + [1], activation="relu").to(torch.float64)
    initialize(model, "he_normal", generator=generator, sigma_b2=0.01)
    model = model.to(data.x_train.device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    for _ in range(steps):
        loss = nn.functional.mse_loss(model(data.x_train), data.y_train)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    rmse, rel = _errors(model, data)
    n_params = sum(p.numel() for p in model.parameters())
    return ShallowFit(model.eval(), width, n_params, rmse, rel)
