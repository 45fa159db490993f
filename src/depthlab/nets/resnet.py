"""Residual convolutional networks: CIFAR-style ResNet-20/56/110 and 1-D nets for MNIST-1D.

He et al. (2016), "Deep residual learning for image recognition": ResNet-(6n+2) for CIFAR has
a 3x3 stem with 16 channels, three stages of n basic blocks with 16/32/64 channels (stride 2 at
the start of stages 2 and 3), global average pooling and a linear classifier. ``skip=False``
removes the identity (or projection) shortcut, as in Li et al. (2018)'s "no-short" nets.

Every constructor takes ``generator=``: the parameters are then drawn from it with PyTorch's
default distributions (:mod:`depthlab.nets.seeded`), not from the global RNG.
"""

from __future__ import annotations

import torch
from torch import nn

from depthlab.nets.seeded import keep_global_rng, reset_parameters


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers; ``out = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))``."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        stride: int = 1,
        skip: bool = True,
        dim: int = 2,
        *,
        generator: torch.Generator | None = None,
    ) -> None:
        with keep_global_rng(generator):  # PyTorch's layers draw from it
            super().__init__()
            Conv = nn.Conv2d if dim == 2 else nn.Conv1d
            BN = nn.BatchNorm2d if dim == 2 else nn.BatchNorm1d
            self.conv1 = Conv(c_in, c_out, 3, stride=stride, padding=1, bias=False)
            self.bn1 = BN(c_out)
            self.relu1 = nn.ReLU()
            self.conv2 = Conv(c_out, c_out, 3, stride=1, padding=1, bias=False)
            self.bn2 = BN(c_out)
            self.relu2 = nn.ReLU()
            self.skip = skip
            self.shortcut: nn.Module = nn.Identity()
            if skip and (stride != 1 or c_in != c_out):
                self.shortcut = nn.Sequential(
                    Conv(c_in, c_out, 1, stride=stride, bias=False), BN(c_out)
                )
        reset_parameters(self, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        if self.skip:
            out = out + self.shortcut(x)
        return self.relu2(out)


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for 3x32x32 inputs (channels 16/32/64), with or without skips."""

    def __init__(
        self,
        depth: int = 20,
        num_classes: int = 10,
        skip: bool = True,
        width: int = 16,
        *,
        generator: torch.Generator | None = None,
    ) -> None:
        with keep_global_rng(generator):  # PyTorch's layers draw from it
            super().__init__()
            if depth < 8 or (depth - 2) % 6 != 0:
                raise ValueError(f"CIFAR ResNet depth must be 6n+2 (20, 56, 110, ...), got {depth}")
            n = (depth - 2) // 6
            self.depth, self.skip = depth, skip
            self.conv1 = nn.Conv2d(3, width, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            self.relu = nn.ReLU()
            blocks: list[nn.Module] = []
            c_in = width
            for stage, c_out in enumerate((width, 2 * width, 4 * width)):
                for i in range(n):
                    stride = 2 if (stage > 0 and i == 0) else 1
                    blocks.append(BasicBlock(c_in, c_out, stride, skip, dim=2))
                    c_in = c_out
            self.layers = nn.Sequential(*blocks)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.flatten = nn.Flatten()
            self.fc = nn.Linear(c_in, num_classes)
        reset_parameters(self, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))  # (B, 16, 32, 32)
        x = self.layers(x)  # (B, 64, 8, 8)
        return self.fc(self.flatten(self.pool(x)))


def resnet_cifar(
    depth: int = 20,
    skip: bool = True,
    num_classes: int = 10,
    *,
    generator: torch.Generator | None = None,
) -> CifarResNet:
    """ResNet-20/56/110 (any 6n+2) for CIFAR-10; ``skip=False`` gives the no-shortcut variant."""
    return CifarResNet(depth, num_classes, skip, generator=generator)


def resnet20(skip: bool = True, *, generator: torch.Generator | None = None) -> CifarResNet:
    return CifarResNet(20, skip=skip, generator=generator)


def resnet56(skip: bool = True, *, generator: torch.Generator | None = None) -> CifarResNet:
    return CifarResNet(56, skip=skip, generator=generator)


def resnet110(skip: bool = True, *, generator: torch.Generator | None = None) -> CifarResNet:
    return CifarResNet(110, skip=skip, generator=generator)


class CNN1D(nn.Module):
    """A small 1-D CNN for MNIST-1D (40 inputs): three conv layers, then a linear classifier.

    Input ``(B, 40)`` or ``(B, 1, 40)``.
    """

    def __init__(
        self,
        channels: int = 32,
        num_classes: int = 10,
        length: int = 40,
        *,
        generator: torch.Generator | None = None,
    ) -> None:
        with keep_global_rng(generator):  # PyTorch's layers draw from it
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv1d(1, channels, 5, stride=2, padding=1),  # (B, C, 19)
                nn.ReLU(),
                nn.Conv1d(channels, channels, 3, stride=2, padding=1),  # (B, C, 10)
                nn.ReLU(),
                nn.Conv1d(channels, channels, 3, stride=2, padding=1),  # (B, C, 5)
                nn.ReLU(),
                nn.Flatten(),
            )
            with torch.no_grad():
                n_flat = self.features(torch.zeros(1, 1, length)).shape[1]
            self.fc = nn.Linear(n_flat, num_classes)
        reset_parameters(self, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            x = x.unsqueeze(1)
        return self.fc(self.features(x))


class ResNet1D(nn.Module):
    """A 1-D ResNet for MNIST-1D: a conv stem, ``blocks`` basic blocks, pooling and a classifier.

    ``skip=False`` removes every shortcut. Depth in conv layers is ``2 * blocks + 1``.
    Input ``(B, 40)`` or ``(B, 1, 40)``.
    """

    def __init__(
        self,
        blocks: int = 3,
        channels: int = 16,
        num_classes: int = 10,
        skip: bool = True,
        *,
        generator: torch.Generator | None = None,
    ) -> None:
        with keep_global_rng(generator):  # PyTorch's layers draw from it
            super().__init__()
            self.skip = skip
            self.stem = nn.Sequential(
                nn.Conv1d(1, channels, 3, padding=1, bias=False),
                nn.BatchNorm1d(channels),
                nn.ReLU(),
            )
            layers: list[nn.Module] = []
            c_in = channels
            for i in range(blocks):
                # Double the channels and halve the length once, a third of the way in.
                stride = 2 if (blocks >= 3 and i == blocks // 3) else 1
                c_out = 2 * channels if i >= blocks // 3 and blocks >= 3 else channels
                layers.append(BasicBlock(c_in, c_out, stride, skip, dim=1))
                c_in = c_out
            self.layers = nn.Sequential(*layers)
            self.pool = nn.AdaptiveAvgPool1d(1)
            self.flatten = nn.Flatten()
            self.fc = nn.Linear(c_in, num_classes)
        reset_parameters(self, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            x = x.unsqueeze(1)
        return self.fc(self.flatten(self.pool(self.layers(self.stem(x)))))


def cnn1d(
    channels: int = 32, num_classes: int = 10, *, generator: torch.Generator | None = None
) -> CNN1D:
    return CNN1D(channels, num_classes, generator=generator)


def resnet1d(
    blocks: int = 3,
    channels: int = 16,
    skip: bool = True,
    num_classes: int = 10,
    *,
    generator: torch.Generator | None = None,
) -> ResNet1D:
    return ResNet1D(blocks, channels, num_classes, skip, generator=generator)
