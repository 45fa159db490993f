"""List the layers of a model you wrote, re-initialize it, and watch the signal through depth.

Run: python examples/walk_and_init_your_model.py   (about a second on a laptop CPU)
"""

from __future__ import annotations

import torch
from torch import nn

from depthlab.init import initialize
from depthlab.walk import walk


class MyResidualNet(nn.Module):
    """A small residual MLP written by hand (not from depthlab's zoo)."""

    def __init__(self, width: int = 64, blocks: int = 6) -> None:
        super().__init__()
        self.stem = nn.Linear(10, width)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Linear(width, width), nn.ReLU()) for _ in range(blocks)
        )
        self.head = nn.Linear(width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        for block in self.blocks:
            h = h + block(h)
        return self.head(h)


def main() -> None:
    model = MyResidualNet()
    x = torch.randn(256, 10, generator=torch.Generator().manual_seed(0))

    # 1. The leaf layers in the order the forward pass calls them, with fan-in and shapes.
    for layer in walk(model, x):
        print(f"{layer.index:2d} {layer.name:16s} {layer.kind:7s} fan_in={layer.fan_in}")

    # 2. Re-initialize with two schemes and measure the second moment of each block's output.
    for scheme in ("he_normal", "lecun_normal"):
        initialize(model, scheme, generator=torch.Generator().manual_seed(1))
        moments = []
        with torch.no_grad():
            h = model.stem(x)
            for block in model.blocks:
                h = h + block(h)
                moments.append(float(h.pow(2).mean()))
        growth = moments[-1] / moments[0]
        print(
            f"{scheme:13s} E[h^2] per block: {[round(m, 2) for m in moments]}  growth {growth:.1f}x"
        )


if __name__ == "__main__":
    main()
