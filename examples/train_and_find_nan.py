"""Train a model you wrote with depthlab's loop, then find where a NaN comes from.

Run: python examples/train_and_find_nan.py   (a few seconds on a laptop CPU)
"""

from __future__ import annotations

import torch
from torch import nn

from depthlab import TrainConfig, fit
from depthlab.data import synthetic
from depthlab.numerics import NonFiniteError, locate_nonfinite


class LogFeatures(nn.Module):
    """log(x - 0.5): NaN for x < 0.5, a plain bug."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log(x - 0.5)


class Bumpy(nn.Module):
    """A two-hidden-layer ReLU net, optionally with a hand-made feature layer (the trouble spot)."""

    def __init__(self, width: int = 32, log_features: bool = False) -> None:
        super().__init__()
        self.features = LogFeatures() if log_features else nn.Identity()
        self.net = nn.Sequential(
            nn.Linear(1, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.features(x))


def main() -> None:
    torch.manual_seed(0)  # nn.Linear's default init; depthlab's own code takes explicit generators
    data = synthetic.sinusoid(n_train=512, n_test=1024, seed=0)
    model = Bumpy().to(data.x_train.dtype)

    # 1. Train with depthlab's loop: a tidy history frame comes back.
    cfg = TrainConfig(optimizer="adam", lr=3e-3, epochs=15, batch_size=64, loss="mse")
    result = fit(model, data, cfg, generator=torch.Generator().manual_seed(0))
    print(result)
    print(result.history[["epoch", "train_loss", "test_loss"]].tail(3).to_string(index=False))

    # 2. A diverging run stops with the step and the layer, not a NaN-filled result.
    wild = nn.Sequential(nn.Linear(1, 32), nn.Linear(32, 1)).to(data.x_train.dtype)
    try:
        fit(wild, data, TrainConfig(optimizer="sgd", lr=50.0, epochs=3, batch_size=64, loss="mse"))
    except NonFiniteError as err:
        print("stopped:", err)

    # 3. Locate the first layer whose output is non-finite, without changing the model.
    buggy = Bumpy(log_features=True).to(data.x_train.dtype)
    where = locate_nonfinite(buggy, data.x_test)
    print("diagnosis:", where if where else "every layer is finite")


if __name__ == "__main__":
    main()
