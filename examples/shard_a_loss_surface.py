"""Split a loss surface of your own model by grid rows, compute the pieces, and reassemble them.

The surface is ``L(theta + a * d1 + b * d2)`` over a grid of ``(a, b)`` for two random directions
``d1, d2``. Each piece evaluates some rows of the grid; ``run_sharded`` runs the pieces through the
same executors as sweeps: ``backend="serial"`` here, ``"local"`` (processes) or ``"ray"`` with
``num_gpus=1`` per piece on a cluster, with the row function defined in an importable module.
The model is never modified: parameters are swapped in with ``torch.func.functional_call``.

Run: python examples/shard_a_loss_surface.py   (about a second on a laptop CPU)
"""

from __future__ import annotations

from functools import partial

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from depthlab.parallel import run_sharded


class TinyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(2, 16), nn.Linear(16, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(x)))


def surface_rows(model, x, y, dirs, alphas, betas, start: int, stop: int) -> np.ndarray:
    """Loss on grid rows ``start..stop``: shape ``(stop - start, len(alphas))``."""
    base = {k: v.detach() for k, v in model.named_parameters()}
    out = np.empty((stop - start, len(alphas)))
    with torch.no_grad():
        for i, b in enumerate(betas[start:stop]):
            for j, a in enumerate(alphas):
                params = {k: base[k] + a * dirs[0][k] + b * dirs[1][k] for k in base}
                out[i, j] = float(nn.functional.mse_loss(functional_call(model, params, (x,)), y))
    return out


def main() -> None:
    g = torch.Generator().manual_seed(0)
    model = TinyNet()
    x = torch.randn(256, 2, generator=g)
    y = (x[:, :1] * x[:, 1:]).sin()
    dirs = [
        {
            k: torch.randn(v.shape, generator=g) * v.norm() / v.numel() ** 0.5
            for k, v in model.named_parameters()
        }
        for _ in range(2)
    ]
    alphas, betas = np.linspace(-1, 1, 21), np.linspace(-1, 1, 17)
    rows = partial(surface_rows, model, x, y, dirs, alphas, betas)

    whole = rows(0, len(betas))
    sharded = run_sharded(rows, len(betas), pieces=4, backend="serial")
    print(
        "surface",
        sharded.shape,
        "min",
        sharded.min().round(4),
        "at centre",
        sharded[8, 10].round(4),
    )
    print("pieces reassemble to the one-process surface:", np.array_equal(whole, sharded))


if __name__ == "__main__":
    main()
