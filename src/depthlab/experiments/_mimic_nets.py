"""The mimic experiment's nets: the CIFAR-10 conv teacher and shallow conv student, and the
parameter-matched deep MLP width (see :mod:`depthlab.experiments.mimic`)."""

from __future__ import annotations

import torch
from torch import nn


def _mlp_params(widths: list[int]) -> int:
    return sum(a * b + b for a, b in zip(widths[:-1], widths[1:], strict=True))


def _deep_width(d_in: int, n_out: int, layers: int, target: int) -> int:
    """The width h whose ``d_in -> h x layers -> n_out`` MLP has the parameter count nearest ``target``."""
    best = min(
        range(1, 4096),
        key=lambda h: abs(_mlp_params([d_in] + [h] * layers + [n_out]) - target),
    )
    return best


class _ConvStudent(nn.Module):
    """Ba & Caruana's shallow CIFAR student, scaled down: one conv layer, pooling, one hidden layer.

    ``(B, 3, 32, 32) -> conv 5×5 (c filters) -> ReLU -> 4×4 max pool -> (B, 64 c) -> Linear(hidden)
    -> ReLU -> Linear(num_classes)``. Their CIFAR-10 mimic students had one convolutional layer
    with pooling, then a linear bottleneck and a very wide (tens of thousands of units) hidden
    layer; ours keeps that shape (one nonlinear hidden layer after one conv + pool stage) at CPU
    size, without the bottleneck. No BatchNorm, so K copies train batched.
    """

    def __init__(self, channels: int = 32, hidden: int = 256, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, channels, 5, padding=2),  # (B, c, 32, 32)
            nn.ReLU(),
            nn.MaxPool2d(4),  # (B, c, 8, 8)
            nn.Flatten(),
        )
        self.hidden = nn.Sequential(nn.Linear(64 * channels, hidden), nn.ReLU())
        self.fc = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.hidden(self.features(x)))


class _ConvTeacher(nn.Module):
    """A small conv net for 3x32x32 images (no BatchNorm, so K copies train batched)."""

    def __init__(self, channels: int = 32, num_classes: int = 10) -> None:
        super().__init__()
        c = channels
        self.features = nn.Sequential(
            nn.Conv2d(3, c, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(c, 2 * c, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(2 * c, 4 * c, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.fc = nn.Linear(4 * c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


__all__ = ["_ConvStudent", "_ConvTeacher", "_deep_width", "_mlp_params"]
