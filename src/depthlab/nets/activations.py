"""Named elementwise activations, as modules and as plain torch functions."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


class Erf(nn.Module):
    """``erf(x)``: a smooth bounded activation with closed-form mean-field integrals."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.erf(x)


class Abs(nn.Module):
    """``|x|``: piecewise linear, used by some exact constructions."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.abs()


_MODULES: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.01),
    "tanh": nn.Tanh,
    "hardtanh": nn.Hardtanh,
    "softplus": nn.Softplus,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "erf": Erf,
    "abs": Abs,
    "linear": nn.Identity,
}

_FUNCTIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": torch.relu,
    "leaky_relu": lambda x: torch.nn.functional.leaky_relu(x, 0.01),
    "tanh": torch.tanh,
    "hardtanh": torch.nn.functional.hardtanh,
    "softplus": torch.nn.functional.softplus,
    "gelu": torch.nn.functional.gelu,
    "silu": torch.nn.functional.silu,
    "erf": torch.erf,
    "abs": torch.abs,
    "linear": lambda x: x,
}

ACTIVATIONS: tuple[str, ...] = tuple(_MODULES)


def activation_module(name: str) -> nn.Module:
    """A fresh activation module by name (see :data:`ACTIVATIONS`)."""
    try:
        return _MODULES[name]()
    except KeyError:
        raise ValueError(
            f"unknown activation {name!r}; allowed: {', '.join(ACTIVATIONS)}"
        ) from None


def activation_fn(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The activation as a plain function of a tensor."""
    try:
        return _FUNCTIONS[name]
    except KeyError:
        raise ValueError(
            f"unknown activation {name!r}; allowed: {', '.join(ACTIVATIONS)}"
        ) from None
