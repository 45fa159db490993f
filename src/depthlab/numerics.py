"""Numerical faults: find the layer or step where NaN or Inf first appears, and say so clearly.

A probe or a training loop that meets a non-finite number must stop with a message a user can act
on ("NaN first appears in the output of layer 3 'blocks.1.fc' (Linear) at step 120"), never store a
NaN-filled result as if it were valid. These helpers give that message:

- :func:`check_finite` raises :class:`NonFiniteError` for a tensor, naming what it is;
- :func:`first_nonfinite_parameter` names the first parameter (or gradient) holding NaN/Inf;
- :func:`locate_nonfinite` re-runs a forward pass with temporary hooks and names the first leaf
  layer whose output is non-finite although its input was finite (the layer that made it);
- :func:`raise_nonfinite` builds the whole message for a probe or a training step.

The model is left exactly as it was: hooks are removed and train/eval modes restored in
``finally``; nothing runs under autograd.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


class NonFiniteError(FloatingPointError):
    """NaN or Inf met during a probe or training; the message names the layer and/or step."""


@dataclass(frozen=True)
class NonFiniteLayer:
    """The first leaf layer whose output holds NaN or Inf.

    Attributes
    ----------
    index : position in execution order (0-based, as in :func:`depthlab.walk.walk`).
    name : dotted module name in ``model.named_modules()``.
    kind : the module's class name.
    n_nan, n_inf : how many output entries are NaN / infinite.
    input_finite : whether the layer's input was finite (True: this layer produced the fault).
    """

    index: int
    name: str
    kind: str
    n_nan: int
    n_inf: int
    input_finite: bool

    def __str__(self) -> str:
        what = "NaN" if self.n_nan else "Inf"
        layer = f"layer {self.index} {self.name!r} ({self.kind})"
        if self.input_finite:
            return f"{what} first appears in the output of {layer}"
        return f"{what} is already in the input of {layer} (made outside any leaf layer)"


def _counts(t: torch.Tensor) -> tuple[int, int]:
    if not torch.is_floating_point(t) and not torch.is_complex(t):
        return 0, 0
    return int(torch.isnan(t).sum()), int(torch.isinf(t).sum())


def check_finite(x: torch.Tensor, what: str) -> torch.Tensor:
    """Return ``x`` if it is finite, else raise :class:`NonFiniteError` naming ``what``."""
    n_nan, n_inf = _counts(x)
    if n_nan or n_inf:
        raise NonFiniteError(
            f"{what} is not finite: {n_nan} NaN and {n_inf} Inf of {x.numel()} entries"
        )
    return x


def first_nonfinite_parameter(model: nn.Module, grads: bool = False) -> str | None:
    """Name of the first parameter (or its ``.grad`` when ``grads``) holding NaN/Inf, else None."""
    for name, p in model.named_parameters():
        t = p.grad if grads else p
        if t is not None and sum(_counts(t.detach())):
            return name + (".grad" if grads else "")
    return None


@torch.no_grad()
def locate_nonfinite(model: nn.Module, x: torch.Tensor) -> NonFiniteLayer | None:
    """Run ``model(x)`` with temporary hooks; return the first leaf layer with non-finite output.

    Parameters
    ----------
    model : any ``nn.Module``; its parameters, hooks and modes are left as they were.
    x : an input batch, shape ``(B, ...)``, on the model's device.

    Returns
    -------
    NonFiniteLayer or None
        None when every leaf output is finite.
    """
    names = {m: n for n, m in model.named_modules()}
    found: list[NonFiniteLayer] = []
    order = [0]
    handles = []

    def hook(mod: nn.Module, inputs, output) -> None:
        i = order[0]
        order[0] += 1
        if found or not isinstance(output, torch.Tensor):
            return
        n_nan, n_inf = _counts(output)
        if n_nan or n_inf:
            ins = [t for t in inputs if isinstance(t, torch.Tensor)]
            finite_in = all(not sum(_counts(t)) for t in ins)
            found.append(
                NonFiniteLayer(i, names.get(mod, "?"), type(mod).__name__, n_nan, n_inf, finite_in)
            )

    was_training = {m: m.training for m in model.modules()}
    # A forward pass in train mode updates BatchNorm statistics; put them back afterwards.
    buffers = {n: b.clone() for n, b in model.named_buffers()}
    try:
        for m in model.modules():
            if not list(m.children()):
                handles.append(m.register_forward_hook(hook))
        model(x)
    finally:
        for h in handles:
            h.remove()
        for m, t in was_training.items():
            m.training = t
        for n, b in model.named_buffers():
            if n in buffers:
                b.copy_(buffers[n])
    return found[0] if found else None


def raise_nonfinite(
    model: nn.Module,
    x: torch.Tensor,
    value: str,
    step: int | None = None,
    where: str = "loss",
    epoch: int | None = None,
) -> None:
    """Raise :class:`NonFiniteError` for a non-finite ``where`` (e.g. the loss), naming the cause.

    The message says the step, then the first non-finite parameter if any, else the first layer
    whose output went non-finite on ``x``.
    """
    when = [f"epoch {epoch}"] if epoch is not None else []
    when += [f"step {step}"] if step is not None else []
    at = f" at {', '.join(when)}" if when else ""
    parts = [f"{where} became {value}{at}"]
    bad_param = first_nonfinite_parameter(model)
    if bad_param is not None:
        parts.append(f"parameter {bad_param!r} holds NaN/Inf")
    else:
        layer = locate_nonfinite(model, x)
        if layer is not None:
            parts.append(str(layer))
        else:
            parts.append("every layer's output is finite (check the targets and the loss)")
    raise NonFiniteError("; ".join(parts))
