"""Every depthlab probe applied to a model you define yourself (not one from depthlab's zoo).

The model is a small residual MLP written from scratch. Each probe reads it and leaves it exactly
as it was (parameters, hooks, train/eval mode), which the script checks at the end.

Run: python examples/probes_on_your_model.py   (a few seconds on a laptop CPU)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

import depthlab
from depthlab import landscape, regions, signal, trajectory
from depthlab.testing import assert_unchanged, snapshot


class MyNet(nn.Module):
    """in -> Linear -> [x + Linear(relu(x))] x 2 -> relu -> Linear -> out."""

    def __init__(self, d_in: int = 6, width: int = 32, d_out: int = 3) -> None:
        super().__init__()
        self.inp = nn.Linear(d_in, width)
        self.b1, self.b2 = nn.Linear(width, width), nn.Linear(width, width)
        self.act = nn.ReLU()
        self.out = nn.Linear(width, d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)
        h = h + self.b1(self.act(h))
        h = h + self.b2(self.act(h))
        return self.out(self.act(h))


def main() -> None:
    torch.manual_seed(0)
    model = MyNet()
    before = snapshot(model)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(256, 6, generator=g)
    y = torch.randint(0, 3, (256,), generator=g)

    # 1. The doctor: is the initialization sound, layer by layer? (PyTorch's default init is not He.)
    print(depthlab.diagnose(model, x[:4]))

    # 2. Signal moments over many re-initializations of the same architecture (any-model path).
    mom = signal.moments(MyNet, n_inits=50, scheme="he_normal", x=x[:8], jacobian=False)
    print(mom)

    # 3. Curve length: a great circle (adaptive sampling), and a closed polyline through three
    #    inputs (exact, with its number of affine pieces, since this net is piecewise linear).
    circle = trajectory.great_circle(x[0], x[1], radius=1.0)
    print(trajectory.length(model, circle, layers=["inp", "b2", "out"]))
    loop = trajectory.closed_curve(x[:3], "linear")
    print(trajectory.length(model, loop, layers=["inp", "b2", "out"], method="exact"))

    # 4. Linear regions: exactly along a segment, and on the plane through three inputs.
    r1 = regions.count_1d(model, x[0], x[1])
    r2 = regions.count_2d(model, x[:3])
    print(r1, r2, f"areas sum to {float(r2.areas.sum()):.6g}")
    print(regions.distance_to_boundary(model, x[:5]))

    # 5. The loss landscape around the current weights, and the Hessian's extreme eigenvalues.
    dirs = (landscape.random_direction(model, seed=1), landscape.random_direction(model, seed=2))
    surf = landscape.surface(model, F.cross_entropy, (x, y), dirs, landscape.Grid.plane(-1, 1, 9))
    print(surf)
    print(landscape.hessian.eigenvalues(model, F.cross_entropy, (x, y), iters=10))

    assert_unchanged(model, before)
    print("the model is unchanged")


if __name__ == "__main__":
    main()
