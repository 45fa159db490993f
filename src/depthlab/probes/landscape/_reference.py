"""The plain reference for loss surfaces, written the way Li et al.'s reference code works.

One grid point at a time: copy the weights ``θ* + α δ + β η`` into a model, then iterate over a
``DataLoader`` in batches of 128 and average ``loss × batch`` over the dataset. It is slow on
purpose and simple enough to trust: the tests compare :func:`depthlab.landscape.surface` against
it in float64, and ``benchmarks/bench_landscape.py`` uses it (in fp32) as the baseline.
It works on a private deep copy, so the caller's model is not changed.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from depthlab.probes._guard import guard_probe
from depthlab.probes.landscape._shared import Direction, Grid, LossFn

__all__ = ["reference_surface"]


@guard_probe(name="landscape.reference_surface")
def reference_surface(
    model: nn.Module,
    loss_fn: LossFn,
    x: torch.Tensor,
    y: torch.Tensor,
    directions: tuple[Direction, ...],
    grid: Grid,
    batch_size: int = 128,
    dtype: torch.dtype | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(loss, acc)`` of shape ``grid.shape`` by the plain loop; ``dtype`` casts model and data."""
    net = copy.deepcopy(model)
    if dtype is not None:
        net = net.to(dtype)
    net.eval()
    device = next(net.parameters()).device
    wdtype = next(net.parameters()).dtype
    names = [n for n, _ in net.named_parameters()]
    base = {n: p.detach().clone() for n, p in net.named_parameters()}
    dirs = [{n: d.tensors[n].to(device, wdtype) for n in names} for d in directions]
    xs = x.to(wdtype) if x.is_floating_point() else x
    loader = DataLoader(TensorDataset(xs, y), batch_size=batch_size, shuffle=False)
    pts = grid.points()
    loss = torch.empty(len(pts), dtype=torch.float64)
    acc = torch.empty(len(pts), dtype=torch.float64)
    with torch.no_grad():
        for i, (a, b) in enumerate(pts.tolist()):
            for n, p in net.named_parameters():
                w = base[n] + a * dirs[0][n]
                if len(dirs) > 1:
                    w = w + b * dirs[1][n]
                p.copy_(w)
            total, correct, count = 0.0, 0, 0
            for xb, yb in loader:
                xb, yb = xb.to(device), yb.to(device)
                out = net(xb)
                total += loss_fn(out, yb).item() * len(yb)
                if yb.dtype == torch.int64:
                    correct += int((out.argmax(dim=1) == yb).sum())
                count += len(yb)
            loss[i] = total / count
            acc[i] = correct / count if y.dtype == torch.int64 else math.nan
    return loss.view(grid.shape), acc.view(grid.shape)
