"""The layer-semantics table: what the exact engines know about each supported layer.

One :class:`LayerRule` per supported module type, in :data:`LAYERS`; :func:`layer_rule` finds the
rule of a module (subclasses use their nearest supported base: ``ReLU6`` is a ``Hardtanh``). The
general 1-D tracer (:mod:`depthlab.pl`), the fast 1-D engine and the 2-D and distance engines
(:mod:`depthlab.probes.regions`) all read it; none re-implements a layer's kinks, states or slopes.

Three kinds of layer:

- ``"affine"``: affine in its input (eval mode). Never a site; the engines interpolate across it,
  fold it into the encoded inputs (:func:`depthlab.pl.folded`) or collapse a run of them into one
  matrix (the fast 1-D engine).
- ``"elementwise"``: a piecewise-linear scalar function applied to every unit, with ``kinks``
  (the inputs where its slope changes), ``states`` (the number of kinks below the input),
  ``slopes`` (the slope of the piece the input lies on) and an in-place forward ``apply_``.
- ``"pool"``: a max pool; its state per output is the winning entry (``return_indices``), its
  "kinks" the ties of the winner with another entry of the window.

Nonlinear layers (elementwise and pool) are *sites*: an engine stops the forward at a site's input
with a forward pre-hook (:func:`depthlab.pl.site_visits`), reads the input there and either goes on
or ends the pass (the tracer, when the site adds breakpoints; the 2-D engine, at the site it is
splitting).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from depthlab.nets.activations import Abs

#: relative tolerance: a kink is crossed only if both endpoints are farther than
#: ``EPS * scale`` from it (``scale`` = the layer's largest |input|). Kinks closer than that to an
#: existing point are merged with it (tangencies, points created exactly on a kink).
EPS: float = 1e-10


class UnsupportedLayerError(TypeError):
    """The model contains a layer the exact piecewise-linear engine cannot handle."""


Tensor = torch.Tensor
Crossings = Callable[[Tensor, nn.Module, Tensor, float], tuple[Tensor, Tensor]]


@dataclass(frozen=True)
class LayerRule:
    """The exact semantics of one kind of layer.

    Attributes
    ----------
    kind : ``"affine"``, ``"elementwise"`` or ``"pool"``.
    rank : the per-sample input rank the layer fixes (1 for Linear, 2 for Conv1d / 1-D pools,
        3 for Conv2d / 2-D pools / BatchNorm2d), or None when it takes any rank.
    kinks : elementwise only: ``kinks(module)`` the input values where the slope changes.
    states : nonlinear only: ``states(module, z)`` the state of every unit at inputs ``z``
        (B, ...) -> (B, units): the number of kinks below the input (int8), or each pool window's
        winner index (int64).
    slopes : elementwise only: ``slopes(module, z)`` the slope of the piece each entry of ``z``
        lies on (same shape and dtype as ``z``).
    apply_ : elementwise only: ``apply_(module, h)`` the module on ``h``, in place where torch has
        an in-place form (``h`` is a scratch buffer).
    crossings : nonlinear only: ``crossings(z, module, same, eps)`` the pairs ``i`` of neighbouring
        points ``(i, i + 1)`` of one segment (``same`` (P - 1,) marks them) between which the
        state changes, and the fraction of the way from ``i`` to ``i + 1`` where it does.
    """

    kind: str
    rank: int | None = None
    kinks: Callable[[nn.Module], tuple[float, ...]] | None = None
    states: Callable[[nn.Module, Tensor], Tensor] | None = None
    slopes: Callable[[nn.Module, Tensor], Tensor] | None = None
    apply_: Callable[[nn.Module, Tensor], Tensor] | None = None
    crossings: Crossings | None = None

    @property
    def site(self) -> bool:
        """Whether the layer is nonlinear: a site where the engines stop the forward."""
        return self.kind != "affine"


# ------------------------------------------------------------------------------ shared pieces


def _pair_scale(z: Tensor, same: Tensor) -> Tensor:
    """For each neighbouring pair of points, the largest ``|z|`` over the segment it lies in.

    ``z`` (P, F), ``same`` (P - 1,) marks pairs on one segment. The kink tolerance scales with it,
    so a segment's pieces do not depend on the other segments traced in the same batch.
    """
    if z.shape[0] < 2:
        return z.new_zeros(0)
    seg = torch.zeros(z.shape[0], dtype=torch.long, device=z.device)
    seg[1:] = torch.cumsum((~same).long(), 0)
    rows = z.abs().amax(1) if z.shape[1] else z.new_zeros(z.shape[0])
    return segment_max(seg, rows).index_select(0, seg[:-1])


def segment_max(seg: Tensor, v: Tensor) -> Tensor:
    """``out[s] = max(0, max(v[seg == s]))`` for segment ids ``seg`` (P,) int64 and ``v`` (P,)."""
    out = torch.zeros(int(seg.max()) + 1, dtype=v.dtype, device=v.device)
    return out.scatter_reduce_(0, seg, v, "amax", include_self=True)


# ------------------------------------------------------------------------- elementwise layers


def _kinks_zero(module: nn.Module) -> tuple[float, ...]:
    return (0.0,)


def _kinks_hardtanh(module: nn.Module) -> tuple[float, ...]:
    return (float(module.min_val), float(module.max_val))


def _elementwise_states(module: nn.Module, z: Tensor) -> Tensor:
    """For kinks ``c_1 < c_2``: the number of kinks below the input (int8)."""
    zf = z.flatten(1)
    out = torch.zeros_like(zf, dtype=torch.int8)
    for c in layer_rule(module).kinks(module):  # type: ignore[misc]
        out += (zf > c).to(torch.int8)
    return out


def _threshold_crossings(
    z: Tensor, module: nn.Module, same: Tensor, eps: float
) -> tuple[Tensor, Tensor]:
    """Pairs ``i`` (points i, i+1) whose input crosses a kink, and the crossing fractions ``s``."""
    z = z.flatten(1)  # (P, F)
    za, zb = z[:-1], z[1:]
    seg_max = _pair_scale(z, same)
    pairs, fracs = [], []
    for c in layer_rule(module).kinks(module):  # type: ignore[misc]
        scale = eps * seg_max.clamp(min=max(abs(c), 1e-300))[:, None]
        da, db = za - c, zb - c
        cross = ((da > scale) & (db < -scale)) | ((da < -scale) & (db > scale))
        cross &= same[:, None]
        i, j = cross.nonzero(as_tuple=True)
        if i.numel():
            pairs.append(i)
            fracs.append(da[i, j] / (da[i, j] - db[i, j]))
    if not pairs:
        return z.new_zeros(0, dtype=torch.long), z.new_zeros(0)
    return torch.cat(pairs), torch.cat(fracs)


def _slopes_relu(module: nn.Module, z: Tensor) -> Tensor:
    return (z > 0).to(z.dtype)


def _slopes_leaky(module: nn.Module, z: Tensor) -> Tensor:
    return torch.where(z > 0, 1.0, module.negative_slope).to(z.dtype)


def _slopes_hardtanh(module: nn.Module, z: Tensor) -> Tensor:
    return ((z > module.min_val) & (z < module.max_val)).to(z.dtype)


def _slopes_abs(module: nn.Module, z: Tensor) -> Tensor:
    return torch.sign(z)


def _apply_relu(module: nn.Module, h: Tensor) -> Tensor:
    return torch.relu_(h) if type(module) is nn.ReLU else module(h)


def _apply_leaky(module: nn.Module, h: Tensor) -> Tensor:
    if type(module) is nn.LeakyReLU:
        return F.leaky_relu_(h, module.negative_slope)
    return module(h)


def _apply_hardtanh(module: nn.Module, h: Tensor) -> Tensor:
    if type(module) is nn.Hardtanh or type(module) is nn.ReLU6:
        return F.hardtanh_(h, module.min_val, module.max_val)
    return module(h)


def _apply_module(module: nn.Module, h: Tensor) -> Tensor:
    return module(h)


def _elementwise(kinks, slopes, apply_) -> LayerRule:
    return LayerRule(
        "elementwise",
        kinks=kinks,
        states=_elementwise_states,
        slopes=slopes,
        apply_=apply_,
        crossings=_threshold_crossings,
    )


# -------------------------------------------------------------------------------- max pooling


def pool_indices(module: nn.Module, z: Tensor) -> Tensor:
    """The flat spatial index of each window's winner, (B, C, *out) int64 (``return_indices``)."""
    fn = F.max_pool1d if isinstance(module, nn.MaxPool1d) else F.max_pool2d
    _, idx = fn(
        z,
        module.kernel_size,
        module.stride,
        module.padding,
        module.dilation,
        ceil_mode=module.ceil_mode,
        return_indices=True,
    )
    return idx


def _pool_states(module: nn.Module, z: Tensor) -> Tensor:
    return pool_indices(module, z).flatten(1)


def _pool_crossings(
    z: Tensor, module: nn.Module, same: Tensor, eps: float
) -> tuple[Tensor, Tensor]:
    """Pairs where a pooling window's winner changes, with the fraction where the two tie."""
    idx = pool_indices(module, z).flatten(2)  # (P, C, out) flat indices into the spatial input
    zf = z.flatten(2)  # (P, C, in)
    scale = eps * _pair_scale(zf.flatten(1), same).clamp(min=1e-300)[:, None, None]
    ia, ib = idx[:-1], idx[1:]
    za, zb = zf[:-1], zf[1:]
    da = za.gather(2, ia) - za.gather(2, ib)  # >= 0: a's winner leads at a
    db = zb.gather(2, ia) - zb.gather(2, ib)  # <= 0: b's winner leads at b
    cross = (da > scale) & (db < -scale) & same[:, None, None]
    i, c, o = cross.nonzero(as_tuple=True)
    return i, da[i, c, o] / (da[i, c, o] - db[i, c, o])


def _pool(rank: int) -> LayerRule:
    return LayerRule("pool", rank=rank, states=_pool_states, crossings=_pool_crossings)


# ---------------------------------------------------------------------------------- the table

_AFFINE = LayerRule("affine")

#: module type -> its rule (affine layers first, then elementwise, then pools: the order of
#: :data:`AFFINE_LAYERS`, :data:`THRESHOLD_LAYERS` and :data:`POOL_LAYERS`)
LAYERS: dict[type[nn.Module], LayerRule] = {
    nn.Linear: LayerRule("affine", rank=1),
    nn.Conv1d: LayerRule("affine", rank=2),
    nn.Conv2d: LayerRule("affine", rank=3),
    nn.BatchNorm1d: _AFFINE,  # eval mode; (C,) or (C, L)
    nn.BatchNorm2d: LayerRule("affine", rank=3),
    nn.AvgPool1d: LayerRule("affine", rank=2),
    nn.AvgPool2d: LayerRule("affine", rank=3),
    nn.AdaptiveAvgPool1d: LayerRule("affine", rank=2),
    nn.AdaptiveAvgPool2d: LayerRule("affine", rank=3),
    nn.Flatten: _AFFINE,
    nn.Unflatten: _AFFINE,
    nn.Identity: _AFFINE,
    nn.Dropout: _AFFINE,  # eval mode
    nn.Dropout1d: _AFFINE,
    nn.Dropout2d: _AFFINE,
    nn.ReLU: _elementwise(_kinks_zero, _slopes_relu, _apply_relu),
    nn.LeakyReLU: _elementwise(_kinks_zero, _slopes_leaky, _apply_leaky),
    nn.Hardtanh: _elementwise(_kinks_hardtanh, _slopes_hardtanh, _apply_hardtanh),  # and ReLU6
    Abs: _elementwise(_kinks_zero, _slopes_abs, _apply_module),
    nn.MaxPool1d: _pool(2),
    nn.MaxPool2d: _pool(3),
}


def _of_kind(kind: str) -> tuple[type[nn.Module], ...]:
    return tuple(t for t, r in LAYERS.items() if r.kind == kind)


AFFINE_LAYERS: tuple[type[nn.Module], ...] = _of_kind("affine")
THRESHOLD_LAYERS: tuple[type[nn.Module], ...] = _of_kind("elementwise")
POOL_LAYERS: tuple[type[nn.Module], ...] = _of_kind("pool")
SITE_LAYERS: tuple[type[nn.Module], ...] = THRESHOLD_LAYERS + POOL_LAYERS
SUPPORTED_LAYERS: tuple[type[nn.Module], ...] = tuple(LAYERS)
SUPPORTED_NAMES: str = ", ".join(
    sorted({c.__name__ for c in SUPPORTED_LAYERS} | {"ReLU6 (a Hardtanh)"})
)


def find_rule(module: nn.Module) -> LayerRule | None:
    """The rule of ``module`` (its nearest supported base class), or None if unsupported."""
    for cls in type(module).__mro__:
        rule = LAYERS.get(cls)
        if rule is not None:
            return rule
    return None


def layer_rule(module: nn.Module) -> LayerRule:
    """The :class:`LayerRule` of ``module``; :class:`UnsupportedLayerError` if it has none."""
    rule = find_rule(module)
    if rule is None:
        raise UnsupportedLayerError(
            f"{type(module).__name__} is not supported by the exact engine; supported layers: "
            f"{SUPPORTED_NAMES}"
        )
    return rule


def thresholds(module: nn.Module) -> tuple[float, ...]:
    """The kink locations of an elementwise piecewise-linear module."""
    rule = find_rule(module)
    if rule is None or rule.kinks is None:
        raise UnsupportedLayerError(f"{type(module).__name__} has no elementwise kinks")
    return rule.kinks(module)


def states(module: nn.Module, z: Tensor) -> Tensor:
    """The state of every unit of the site ``module`` at its inputs ``z`` (B, ...) -> (B, units):
    for kinks ``c_1 < c_2``, the number of kinks below the input; for max pools, the flat index of
    each window's winner."""
    return layer_rule(module).states(module, z)  # type: ignore[misc]


def slopes(module: nn.Module, z: Tensor) -> Tensor:
    """The slope of the piece each entry of ``z`` lies on, for an elementwise ``module``."""
    rule = layer_rule(module)
    if rule.slopes is None:
        raise UnsupportedLayerError(f"{type(module).__name__} is not elementwise")
    return rule.slopes(module, z)


def input_rank(model: nn.Module) -> int | None:
    """The per-sample input rank fixed by the first rank-fixing leaf of ``model`` (in
    registration order, skipping rank-agnostic layers), or None if no leaf before a
    rank-agnostic reshaping layer (Flatten, Unflatten) fixes it."""
    for m in model.modules():
        if list(m.children()):
            continue
        rule = find_rule(m)
        if rule is None:
            return None
        if rule.rank is not None:
            return rule.rank
        if isinstance(m, (nn.Flatten, nn.Unflatten)):
            return None
    return None
