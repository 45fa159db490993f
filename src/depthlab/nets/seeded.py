"""Seeded construction: draw a model's parameters from a ``torch.Generator``, not the global RNG.

PyTorch's layers initialise themselves from the global RNG, so a model built twice differs
unless that global state is reset in between. Every constructor in :mod:`depthlab.nets` takes
``generator=`` instead and, given one, re-draws its parameters here with the same
distributions as PyTorch's defaults:

* ``nn.Linear`` and ``nn.Conv*``/``nn.ConvTranspose*``: the weight from
  ``kaiming_uniform_(a=sqrt(5))``, i.e. ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``, and the bias from
  ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` (``fan_in = in_features * prod(kernel_size)``, PyTorch's
  own fan-in of the weight tensor);
* normalisation layers (BatchNorm, LayerNorm, GroupNorm, ...): their deterministic reset (ones
  and zeros, running statistics cleared);
* any module with its own ``reset_parameters(generator)`` (e.g. :class:`~depthlab.nets.TreeNet`):
  that method.

Layers are visited in ``model.modules()`` order, weight before bias, so the same generator state
gives the same model. A module with parameters of another kind raises ``TypeError`` rather than
silently keep global-RNG values. PyTorch's layer constructors still draw from the global RNG
before the re-draw; constructors build inside :func:`keep_global_rng`, so a seeded construction
leaves the caller's global RNG state exactly as it was.
"""

from __future__ import annotations

import contextlib
import inspect
import math
from collections.abc import Iterator

import torch
from torch import nn

_CONV = nn.modules.conv._ConvNd
_NORM = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)


@contextlib.contextmanager
def keep_global_rng(generator: torch.Generator | None) -> Iterator[None]:
    """With a generator, restore the global CPU RNG state on exit (PyTorch's layer constructors draw
    from it); without one, do nothing, so unseeded construction behaves exactly as PyTorch's."""
    if generator is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        yield


def _uniform_(t: torch.Tensor, bound: float, generator: torch.Generator) -> None:
    """``t ~ U(-bound, bound)`` drawn on the generator's device, then copied into ``t``."""
    g_dev = torch.device(generator.device)
    same = g_dev.type == t.device.type and (g_dev.index or 0) == (t.device.index or 0)
    if same:
        t.uniform_(-bound, bound, generator=generator)
    else:
        draw = torch.empty(t.shape, dtype=t.dtype, device=g_dev)
        t.copy_(draw.uniform_(-bound, bound, generator=generator))


def _fan_in(weight: torch.Tensor) -> int:
    """PyTorch's fan-in of a weight: ``size(1) * prod(size(2:))``."""
    if weight.dim() < 2:
        raise ValueError(f"fan-in needs a weight with at least 2 dimensions, got {weight.dim()}")
    return weight.shape[1] * math.prod(weight.shape[2:])


def _default_layer_(module: nn.Module, generator: torch.Generator) -> None:
    """PyTorch's ``Linear``/``ConvNd.reset_parameters``, drawn from ``generator``."""
    fan_in = _fan_in(module.weight)
    # kaiming_uniform_(a=sqrt(5)): gain = sqrt(2 / (1 + a^2)), bound = sqrt(3) * gain / sqrt(fan_in)
    gain = math.sqrt(2.0 / (1 + math.sqrt(5) ** 2))
    w_bound = math.sqrt(3.0) * (gain / math.sqrt(fan_in)) if fan_in > 0 else 0.0
    _uniform_(module.weight, w_bound, generator)
    if module.bias is not None:
        _uniform_(module.bias, 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0, generator)


def _takes_generator(module: nn.Module) -> bool:
    method = getattr(module, "reset_parameters", None)
    if method is None:
        return False
    try:
        return "generator" in inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False


@torch.no_grad()
def reset_parameters(model: nn.Module, generator: torch.Generator | None) -> nn.Module:
    """Re-draw every parameter of ``model`` from ``generator`` (PyTorch's default init); return it.

    ``generator=None`` leaves the model as it is (its parameters came from the global RNG).
    """
    if generator is None:
        return model
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator)!r}")
    handled: set[int] = set()
    for name, module in model.named_modules():
        if any(id(p) in handled for p in module.parameters(recurse=False)):
            continue
        own = list(module.parameters(recurse=False))
        if isinstance(module, (nn.Linear, _CONV)):
            _default_layer_(module, generator)
        elif isinstance(module, _NORM):
            module.reset_parameters()
        elif _takes_generator(module):
            module.reset_parameters(generator=generator)
            handled.update(id(p) for p in module.parameters())
        elif own:
            raise TypeError(
                f"cannot seed module {name or '<root>'!r} ({type(module).__name__}): it has "
                "parameters and no reset_parameters(generator=...); give it one"
            )
        handled.update(id(p) for p in own)
    return model


__all__ = ["keep_global_rng", "reset_parameters"]
