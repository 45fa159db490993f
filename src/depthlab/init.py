"""Initialization schemes for any model, applied in place and seeded by a ``torch.Generator``.

Every scheme draws the weight of each ``nn.Linear`` / ``nn.Conv*`` layer with a variance that is
a function of its fan-in (``in_features * prod(kernel_size)``). Biases are set to zero, or drawn
from ``N(0, sigma_b^2)`` when ``sigma_b2 > 0``. BatchNorm and other parameters are left as they are.

Schemes and the weight variance they give (Hanin & Rolnick 2018; THEORY.md §2):

=======================  ===========================================================
``he_normal``            ``N(0, 2/fan_in)``
``he_uniform``           ``U(-a, a)`` with ``a = sqrt(6/fan_in)``, variance ``2/fan_in``
``lecun_normal``         ``N(0, 1/fan_in)``
``xavier_normal``        ``N(0, 2/(fan_in + fan_out))``
``orthogonal``           orthogonal rows/columns times ``gain`` (default sqrt 2):
                         variance ``gain^2 / max(fan_in, out_channels)``
``trunc_normal_naive``   the He std ``s`` cut at ±2s, not rescaled (TensorFlow's
                         ``truncated_normal``): variance ``0.7737 * 2/fan_in``
``trunc_normal_corrected`` cut at ±2 std with the std divided by 0.87962566:
                         variance exactly ``2/fan_in``
``torch_trunc_normal``   ``torch.nn.init.trunc_normal_(std=sqrt(2/fan_in))`` as it really
                         behaves: cut at the *absolute* values ±2, so barely truncated for
                         small std
``custom``               ``N(0, sigma_w2/fan_in)``
=======================  ===========================================================
"""

from __future__ import annotations

import math

import torch
from torch import nn

#: Var of N(0, 1) truncated to [-2, 2]: 1 - 4 phi(2) / (2 Phi(2) - 1).
TRUNC2_VARIANCE = 1.0 - 4.0 * math.exp(-2.0) / math.sqrt(2 * math.pi) / math.erf(2 / math.sqrt(2))
#: The std of N(0, 1) truncated at ±2: divide a std by this to correct for the truncation.
TRUNC2_STD = math.sqrt(TRUNC2_VARIANCE)

SCHEMES: tuple[str, ...] = (
    "he_normal",
    "he_uniform",
    "lecun_normal",
    "xavier_normal",
    "orthogonal",
    "trunc_normal_naive",
    "trunc_normal_corrected",
    "torch_trunc_normal",
    "custom",
)

_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def fans(weight: torch.Tensor) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a Linear/Conv weight of shape ``(out, in, *kernel)``."""
    if weight.dim() < 2:
        raise ValueError(
            f"fan-in needs a weight of at least 2 dims, got shape {tuple(weight.shape)}"
        )
    receptive = math.prod(weight.shape[2:]) if weight.dim() > 2 else 1
    return weight.shape[1] * receptive, weight.shape[0] * receptive


def _truncated_standard_normal(
    shape: torch.Size, bound: float, generator: torch.Generator | None, like: torch.Tensor
) -> torch.Tensor:
    """N(0, 1) conditioned on |z| <= bound, by inverse CDF (exact, generator-driven)."""
    lo = 0.5 * (1 + math.erf(-bound / math.sqrt(2)))
    hi = 0.5 * (1 + math.erf(bound / math.sqrt(2)))
    u = torch.rand(shape, generator=generator, dtype=torch.float64, device=like.device)
    u = lo + (hi - lo) * u
    z = math.sqrt(2) * torch.erfinv(2 * u - 1)
    return z.clamp_(-bound, bound).to(like.dtype)


def scheme_variance(
    scheme: str,
    fan_in: int,
    fan_out: int,
    sigma_w2: float = 2.0,
    gain: float = math.sqrt(2),
    rows: int | None = None,
) -> float:
    """The weight variance a scheme gives (for ``torch_trunc_normal``: computed numerically).

    ``rows`` is the number of output channels, needed only for ``orthogonal`` on conv weights:
    torch flattens a conv weight to ``(out_channels, fan_in)`` before orthogonalising, so the
    variance is ``gain^2 / max(out_channels, fan_in)``. It defaults to ``fan_out`` (right for Linear).
    """
    if scheme in ("he_normal", "he_uniform", "trunc_normal_corrected"):
        return 2.0 / fan_in
    if scheme == "lecun_normal":
        return 1.0 / fan_in
    if scheme == "xavier_normal":
        return 2.0 / (fan_in + fan_out)
    if scheme == "orthogonal":
        return gain**2 / max(fan_in, rows if rows is not None else fan_out)
    if scheme == "trunc_normal_naive":
        return TRUNC2_VARIANCE * 2.0 / fan_in
    if scheme == "torch_trunc_normal":
        s = math.sqrt(2.0 / fan_in)
        return s**2 * _trunc_var_factor(2.0 / s)
    if scheme == "custom":
        return sigma_w2 / fan_in
    raise ValueError(f"unknown init scheme {scheme!r}; allowed: {', '.join(SCHEMES)}")


def _trunc_var_factor(c: float) -> float:
    """Var of N(0,1) truncated to [-c, c]."""
    phi = math.exp(-0.5 * c * c) / math.sqrt(2 * math.pi)
    return 1.0 - 2 * c * phi / math.erf(c / math.sqrt(2))


def _elsewhere(generator: torch.Generator | None, t: torch.Tensor) -> bool:
    """True when ``generator`` draws on another device than ``t`` lives on."""
    if generator is None:
        return False
    g = torch.device(generator.device)
    return g.type != t.device.type or (g.index or 0) != (t.device.index or 0)


def _scratch(t: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """An empty tensor like ``t`` on the generator's device (``t`` itself when they match)."""
    if not _elsewhere(generator, t):
        return t
    return torch.empty(t.shape, dtype=t.dtype, device=generator.device)


@torch.no_grad()
def init_weight_(
    weight: torch.Tensor,
    scheme: str,
    generator: torch.Generator | None = None,
    sigma_w2: float = 2.0,
    gain: float = math.sqrt(2),
) -> torch.Tensor:
    """Fill one weight tensor in place with ``scheme``.

    The numbers are drawn on ``generator``'s device and copied to ``weight``'s, so a seeded CPU
    generator gives the same weights whether the model lives on the CPU or on a GPU.
    """
    if _elsewhere(generator, weight):
        weight.copy_(init_weight_(_scratch(weight, generator), scheme, generator, sigma_w2, gain))
        return weight
    fan_in, fan_out = fans(weight)
    if scheme in ("he_normal", "lecun_normal", "xavier_normal", "custom"):
        std = math.sqrt(scheme_variance(scheme, fan_in, fan_out, sigma_w2))
        weight.normal_(0.0, std, generator=generator)
    elif scheme == "he_uniform":
        a = math.sqrt(6.0 / fan_in)
        weight.uniform_(-a, a, generator=generator)
    elif scheme == "orthogonal":
        nn.init.orthogonal_(weight, gain=gain, generator=generator)
    elif scheme == "trunc_normal_naive":
        s = math.sqrt(2.0 / fan_in)
        weight.copy_(s * _truncated_standard_normal(weight.shape, 2.0, generator, weight))
    elif scheme == "trunc_normal_corrected":
        s = math.sqrt(2.0 / fan_in) / TRUNC2_STD
        weight.copy_(s * _truncated_standard_normal(weight.shape, 2.0, generator, weight))
    elif scheme == "torch_trunc_normal":
        nn.init.trunc_normal_(
            weight, mean=0.0, std=math.sqrt(2.0 / fan_in), a=-2.0, b=2.0, generator=generator
        )
    else:
        raise ValueError(f"unknown init scheme {scheme!r}; allowed: {', '.join(SCHEMES)}")
    return weight


@torch.no_grad()
def initialize(
    model: nn.Module,
    scheme: str = "he_normal",
    generator: torch.Generator | None = None,
    sigma_b2: float = 0.0,
    sigma_w2: float = 2.0,
    gain: float = math.sqrt(2),
) -> nn.Module:
    """Re-initialize every Linear/Conv layer of ``model`` in place, and return it.

    Parameters
    ----------
    model : any module; its Linear and Conv layers are re-drawn, in ``model.modules()`` order.
    scheme : one of :data:`SCHEMES`.
    generator : seeds the draw; the same generator state gives the same weights.
    sigma_b2 : bias variance; 0 sets biases to zero.
    sigma_w2 : only for ``custom``: the weight variance is ``sigma_w2 / fan_in``.
    gain : only for ``orthogonal``.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"unknown init scheme {scheme!r}; allowed: {', '.join(SCHEMES)}")
    for module in model.modules():
        if isinstance(module, _LAYERS):
            init_weight_(module.weight, scheme, generator, sigma_w2=sigma_w2, gain=gain)
            if module.bias is not None:
                if sigma_b2 > 0:
                    bias = _scratch(module.bias, generator)
                    module.bias.copy_(bias.normal_(0.0, math.sqrt(sigma_b2), generator=generator))
                else:
                    module.bias.zero_()
    return model
