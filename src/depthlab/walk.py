"""Model walking: list a model's leaf layers in execution order, with fan-in and fan-out.

One helper serves the doctor, filter normalisation and the piecewise-linear tracer. The order
comes from a forward pass on an example input with temporary hooks (removed in ``finally``);
the model's parameters, buffers and train/eval mode are left exactly as they were.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class LayerInfo:
    """One leaf module as met in the forward pass.

    Attributes
    ----------
    index : execution order (0-based); a module called twice appears twice.
    name : dotted name in ``model.named_modules()``.
    module : the module itself.
    kind : class name, e.g. ``"Linear"``.
    fan_in, fan_out : for Linear/Conv weights (``in * prod(kernel)``), else None.
    input_shape, output_shape : shapes seen in the forward pass (batch dim included).
    """

    index: int
    name: str
    module: nn.Module
    kind: str
    fan_in: int | None
    fan_out: int | None
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]


def _fans(module: nn.Module) -> tuple[int | None, int | None]:
    w = getattr(module, "weight", None)
    if not isinstance(w, torch.Tensor) or w.dim() < 2:
        return None, None
    receptive = math.prod(w.shape[2:]) if w.dim() > 2 else 1
    return int(w.shape[1] * receptive), int(w.shape[0] * receptive)


def leaf_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Modules with no children, in registration order."""
    return [(n, m) for n, m in model.named_modules() if not list(m.children())]


@torch.no_grad()
def walk(model: nn.Module, example: torch.Tensor) -> list[LayerInfo]:
    """Run ``model(example)`` in eval mode with temporary hooks and list leaf layers in call order."""
    names = {m: n for n, m in model.named_modules()}
    seen: list[LayerInfo] = []
    handles = []

    def hook(mod: nn.Module, inputs, output) -> None:
        x = inputs[0] if inputs else None
        fi, fo = _fans(mod)
        seen.append(
            LayerInfo(
                index=len(seen),
                name=names.get(mod, "?"),
                module=mod,
                kind=type(mod).__name__,
                fan_in=fi,
                fan_out=fo,
                input_shape=tuple(x.shape) if isinstance(x, torch.Tensor) else (),
                output_shape=tuple(output.shape) if isinstance(output, torch.Tensor) else (),
            )
        )

    was_training = {m: m.training for m in model.modules()}
    try:
        for _, m in leaf_modules(model):
            handles.append(m.register_forward_hook(hook))
        model.eval()
        model(example)
    finally:
        for h in handles:
            h.remove()
        for m, t in was_training.items():
            m.training = t
    return seen


def weight_layers(model: nn.Module, example: torch.Tensor) -> list[LayerInfo]:
    """Only the layers with a weight matrix (Linear/Conv), in execution order."""
    return [li for li in walk(model, example) if li.fan_in is not None]
