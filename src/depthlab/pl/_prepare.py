"""Preparing a model for the exact engines, folding its first affine layer, and stopping its
forward at a site.

:func:`prepare` makes a float64 eval-mode deep copy and lists its sites (nonlinear layers, in call
order); :func:`folded` replaces an affine first layer by its exact action on encoded inputs;
:func:`site_visits` runs the forward with a visit before every site call, which may stop it there.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from depthlab._guard import guarded
from depthlab.pl._layers import (
    SITE_LAYERS,
    SUPPORTED_LAYERS,
    SUPPORTED_NAMES,
    UnsupportedLayerError,
)


@dataclass
class Prepared:
    """A float64 eval-mode deep copy of a model, checked against the supported layers.

    ``sites`` lists the nonlinear modules of the copy in call order (a module called twice appears
    twice), with their dotted names.
    """

    net: nn.Module
    input_shape: tuple[int, ...]
    device: torch.device
    sites: list[tuple[str, nn.Module]]
    names: dict[str, nn.Module]
    first: str | None = None  # name of an affine first layer fed the raw input (foldable)
    max_units: int = 1  # largest per-sample size of the input or any layer output
    max_hidden: int = 1  # largest per-sample size of any layer output


def _model_device(model: nn.Module, fallback: torch.device) -> torch.device:
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return fallback


def prepare(model: nn.Module, example: torch.Tensor) -> Prepared:
    """Copy ``model`` to float64/eval, run it once on ``example`` (one input, no batch dim).

    Raises :class:`UnsupportedLayerError` naming the first unsupported leaf layer met.
    """
    device = _model_device(model, example.device)
    with guarded(model, what="pl.prepare"):  # NaN/Inf named; the model's hooks stay out of the copy
        net = copy.deepcopy(model).to(dtype=torch.float64)
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    names = dict(net.named_modules())
    inv = {m: n for n, m in names.items()}
    called: list[tuple[str, nn.Module]] = []
    raw: list[bool] = []
    handles = []
    # a copy: an in-place first layer (ReLU(inplace=True)) must not write into the caller's input
    x_in = example.detach().to(device=device, dtype=torch.float64).clone().unsqueeze(0)

    sizes: list[int] = [x_in.numel()]

    def hook(mod: nn.Module, inputs, output) -> None:
        called.append((inv.get(mod, "?"), mod))
        raw.append(bool(inputs) and inputs[0] is x_in)
        if isinstance(output, torch.Tensor):
            sizes.append(output.numel())

    try:
        for _, m in names.items():
            if not list(m.children()):
                handles.append(m.register_forward_hook(hook))
        with torch.no_grad():
            net(x_in)
    finally:
        for h in handles:
            h.remove()
    for name, m in called:
        if not isinstance(m, SUPPORTED_LAYERS):
            raise UnsupportedLayerError(
                f"layer {name!r} ({type(m).__name__}) is not piecewise linear or not supported by "
                f"the exact engine; supported layers: {SUPPORTED_NAMES}"
            )
    sites = [(n, m) for n, m in called if isinstance(m, SITE_LAYERS)]
    first = None
    if called and raw[0] and called[0][0] and isinstance(called[0][1], _FOLDABLE):
        if sum(m is called[0][1] for _, m in called) == 1:  # called once, on the raw input
            first = called[0][0]
    return Prepared(
        net, tuple(example.shape), device, sites, names, first, max(sizes), max(sizes[1:] or [1])
    )


_FOLDABLE = (nn.Linear, nn.Conv1d, nn.Conv2d)


class _Injected(nn.Module):
    """Stands in for an affine first layer: maps encoded inputs to its exact outputs.

    ``forward(enc)`` with ``enc`` (B, 3) rows ``(k, s, r)`` returns
    ``base[k] + s * d1[k] + r * d2[k]``; the layer is affine, so this equals the layer applied to
    ``anchor[k] + s * dir1[k] + r * dir2[k]`` without forming those (possibly 784-D) inputs.
    """

    def __init__(self, base: torch.Tensor, d1: torch.Tensor, d2: torch.Tensor) -> None:
        super().__init__()
        self.base, self.d1, self.d2 = base, d1, d2

    def forward(self, enc: torch.Tensor) -> torch.Tensor:
        k = enc[:, 0].long()
        shape = (-1,) + (1,) * (self.base.dim() - 1)
        out = self.base[k] + enc[:, 1].view(shape) * self.d1[k]
        if self.d2 is not None:
            out = out + enc[:, 2].view(shape) * self.d2[k]
        return out


@contextmanager
def folded(prep: Prepared, anchor: torch.Tensor, dir1: torch.Tensor, dir2: torch.Tensor | None):
    """Within the block, ``prep.net`` takes encoded inputs ``(k, s, r)`` (B, 3) standing for
    ``anchor[k] + s dir1[k] + r dir2[k]`` (each (K, *input_shape)); yields an ``encode`` function
    or ``None`` when the first layer can't be folded (then pass real inputs)."""
    if prep.first is None:
        yield None
        return
    mod = prep.names[prep.first]
    parent_name, _, child = prep.first.rpartition(".")
    parent = prep.net.get_submodule(parent_name) if parent_name else prep.net
    with torch.no_grad():
        base = mod(anchor)
        bias = mod(torch.zeros_like(anchor[:1]))
        d1 = mod(dir1) - bias
        d2 = None if dir2 is None else mod(dir2) - bias
    setattr(parent, child, _Injected(base, d1, d2))

    def encode(k: torch.Tensor, s: torch.Tensor, r: torch.Tensor | None = None) -> torch.Tensor:
        return torch.stack([k.to(s.dtype), s, s.new_zeros(s.shape) if r is None else r], 1)

    try:
        yield encode
    finally:
        setattr(parent, child, mod)


class _Stop(Exception):
    """Raised from a site's pre-hook to end the forward; carries what the visit returned."""

    def __init__(self, site: int, value: Any) -> None:
        super().__init__()
        self.site, self.value = site, value


@dataclass(frozen=True)
class Stopped:
    """A forward that :func:`site_visits` ended at the ``site``-th site call, with the visit's
    ``value``."""

    site: int
    value: Any


@contextmanager
def site_visits(
    prep: Prepared, visit: Callable[[int, nn.Module, torch.Tensor], Any]
) -> Iterator[Callable[[torch.Tensor], torch.Tensor | Stopped]]:
    """Stop the forward at a site: within the block, ``run(x)`` runs ``prep.net(x)`` (no grad)
    and calls ``visit(k, module, z)`` before the ``k``-th site call of that forward (``z``: the
    site's input, before the module touches it).

    A visit that returns None lets the forward go on; any other value ends it at that site (an
    exception raised from a forward pre-hook), and ``run`` returns :class:`Stopped`. Otherwise
    ``run`` returns the model output. The hooks are removed when the block ends.
    """
    calls = [0]

    def pre(mod: nn.Module, inputs) -> None:
        k = calls[0]
        calls[0] += 1
        value = visit(k, mod, inputs[0])
        if value is not None:
            raise _Stop(k, value)

    def run(x: torch.Tensor) -> torch.Tensor | Stopped:
        calls[0] = 0
        try:
            with torch.no_grad():
                return prep.net(x)
        except _Stop as s:
            return Stopped(s.site, s.value)

    handles = [m.register_forward_pre_hook(pre) for m in {id(m): m for _, m in prep.sites}.values()]
    try:
        yield run
    finally:
        for h in handles:
            h.remove()


def flat_sequential(net: nn.Module, prefix: str = "") -> list[tuple[str, nn.Module]] | None:
    """The leaf layers of a (nested) ``nn.Sequential`` in order, or None for any other model."""
    if type(net) is not nn.Sequential and not (
        isinstance(net, nn.Sequential) and type(net).forward is nn.Sequential.forward
    ):
        return None
    out: list[tuple[str, nn.Module]] = []
    for name, m in net.named_children():
        full = f"{prefix}{name}"
        if list(m.children()):
            sub = flat_sequential(m, full + ".")
            if sub is None:
                return None
            out += sub
        else:
            out.append((full, m))
    return out
