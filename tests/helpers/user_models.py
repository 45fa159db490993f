"""Four users' models for the user-model suite, built without network (issue 17 item 4).

``mlp_ln_gelu``, ``cnn_bn_maxpool``, ``transformer`` (``nn.TransformerEncoder``, batch_first, 2
layers, d_model 16, linear head) and ``resnet18``: torchvision's ResNet-18 built from
torchvision's own code when it imports (``weights=None``: no download), else the same
architecture written out here (BasicBlock x [2, 2, 2, 2], 64-128-256-512 channels, 7x7 stem
with max pool, adaptive average pool, linear head). Weights are drawn from keyed generators
(``kaiming_normal_`` fan-out for convolutions, as torchvision does), never from the global stream.
"""

from __future__ import annotations

import torch
from torch import nn


def _fill(model: nn.Module, seed: int) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                fan = (
                    m.weight[0].numel()
                    if isinstance(m, nn.Linear)
                    else (m.weight.shape[0] * m.weight[0, 0].numel())
                )
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / fan) ** 0.5)
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, nn.MultiheadAttention):
                e = m.embed_dim
                m.in_proj_weight.copy_(torch.randn(m.in_proj_weight.shape, generator=g) / e**0.5)
                m.in_proj_bias.zero_()
    return model


def mlp_ln_gelu(seed: int = 0) -> nn.Module:
    """Linear-LayerNorm-GELU x 2 and a readout, on 6 inputs."""
    return _fill(
        nn.Sequential(
            nn.Linear(6, 24),
            nn.LayerNorm(24),
            nn.GELU(),
            nn.Linear(24, 24),
            nn.LayerNorm(24),
            nn.GELU(),
            nn.Linear(24, 3),
        ),
        seed,
    )


def cnn_bn_maxpool(seed: int = 0) -> nn.Module:
    """Conv-BatchNorm-ReLU-MaxPool x 2, flatten, readout; input (2, 8, 8)."""
    return _fill(
        nn.Sequential(
            nn.Conv2d(2, 4, 3, padding=1),
            nn.BatchNorm2d(4),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(4, 6, 3, padding=1),
            nn.BatchNorm2d(6),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(6 * 2 * 2, 3),
        ),
        seed,
    )


class Transformer(nn.Module):
    """``nn.TransformerEncoder`` (batch_first, 2 layers, d_model 16, 2 heads) and a linear head
    on the mean token; input (tokens, 16)."""

    def __init__(self) -> None:
        super().__init__()
        layer = nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True)
        self.enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.enc(x).mean(1))


def transformer(seed: int = 0) -> nn.Module:
    return _fill(Transformer(), seed)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet18(nn.Module):
    """torchvision's ``resnet18`` architecture, written out (same module names)."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        chans, cin, layers = (64, 128, 256, 512), 64, []
        for i, c in enumerate(chans):
            stride = 1 if i == 0 else 2
            layers.append(nn.Sequential(BasicBlock(cin, c, stride), BasicBlock(c, c)))
            cin = c
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet18(seed: int = 0, num_classes: int = 10) -> nn.Module:
    try:
        from torchvision.models import resnet18 as tv_resnet18
    except ImportError:
        model = ResNet18(num_classes)
    else:
        model = tv_resnet18(weights=None, num_classes=num_classes)
    return _fill(model, seed)
