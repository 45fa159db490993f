"""Exact piecewise-linear tracing: carry segments of input space through a piecewise-linear model.

One engine serves exact curve length (``depthlab.trajectory``), exact 1-D region counts
(``depthlab.regions.count_1d``) and activation patterns (``depthlab.regions``).

How it works
------------
Every point on a segment ``x(t) = a + t (b - a)``, ``t in [0, 1]``, is kept as ``(segment, t)``. The
model's own forward runs on the batch of points with temporary pre-hooks on its piecewise-linear
nonlinearities. At the first nonlinearity whose input crosses a kink between two consecutive points
of a segment (a sign change for ReLU / LeakyReLU / abs, a crossing of ``min_val`` or ``max_val`` for
Hardtanh / ReLU6, a change of the winning element for MaxPool), the exact crossing parameters are
inserted. Linear interpolation gives them exactly, because everything in front of that nonlinearity
is affine between two consecutive points. The forward restarts and the loop ends when no layer adds
a point. Between consecutive points every layer's output is then affine in ``t``, so curve length in
any layer is the sum of the straight distances between consecutive points.

Supported leaf modules (anything else raises :class:`UnsupportedLayerError` naming it):
Linear, Conv1d, Conv2d, BatchNorm1d/2d (evaluated in eval mode), AvgPool1d/2d,
AdaptiveAvgPool1d/2d, Flatten, Unflatten, Identity, Dropout (eval), ReLU, LeakyReLU, Hardtanh,
ReLU6, :class:`depthlab.nets.activations.Abs`, MaxPool1d/2d. Residual additions and scalings inside
container modules come for free since the model's own forward runs. A nonlinearity applied as a
function inside ``forward`` (``F.relu(x)``) is invisible to hooks; a final check evaluates the
model at every piece's midpoint and raises if the output is not the average of the endpoints, so
such a model fails loudly instead of giving a silent wrong count.

The user's model is never touched: tracing runs on a float64 deep copy in eval mode.

API
---
``trace_segments(model, starts, ends, layers=None) -> PLTrace``
    Many straight segments at once. ``starts, ends``: ``(S, *input_shape)``.
``trace_polyline(model, vertices, layers=None) -> PLTrace``
    A polyline through ``(K, *input_shape)`` vertices (``K - 1`` segments); ``PLTrace.param`` is
    ``segment + t`` in ``[0, K - 1]``.
``PLTrace``
    ``segment`` (P,) long, ``t`` (P,) float64, ``outputs[name]`` (P, *layer_shape) float64 (the
    model output is ``"output"``; any ``named_modules()`` name can be asked for, ``"input"`` gives the
    points themselves), ``lengths(name)`` (S,) exact curve length per segment, ``length(name)`` total,
    ``n_pieces`` (S,) pieces per segment, ``breakpoints(s)`` interior kink parameters of segment s,
    ``patterns`` (optional, one row per piece).
``activation_patterns(model, x) -> Patterns``
    The activation state of every nonlinearity at points ``x`` (B, *input_shape).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from depthlab.nets.activations import Abs

AFFINE_LAYERS: tuple[type[nn.Module], ...] = (
    nn.Linear,
    nn.Conv1d,
    nn.Conv2d,
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.Flatten,
    nn.Unflatten,
    nn.Identity,
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
)
THRESHOLD_LAYERS: tuple[type[nn.Module], ...] = (nn.ReLU, nn.LeakyReLU, nn.Hardtanh, Abs)
POOL_LAYERS: tuple[type[nn.Module], ...] = (nn.MaxPool1d, nn.MaxPool2d)
SUPPORTED_LAYERS: tuple[type[nn.Module], ...] = AFFINE_LAYERS + THRESHOLD_LAYERS + POOL_LAYERS
SUPPORTED_NAMES: str = ", ".join(
    sorted({c.__name__ for c in SUPPORTED_LAYERS} | {"ReLU6 (a Hardtanh)"})
)

#: relative tolerance: a kink is crossed only if both endpoints are farther than
#: ``EPS * scale`` from it (``scale`` = the layer's largest |input|). Kinks closer than that to an
#: existing point are merged with it (tangencies, points created exactly on a kink).
EPS: float = 1e-10


class UnsupportedLayerError(TypeError):
    """The model contains a layer the exact piecewise-linear engine cannot handle."""


class NotPiecewiseLinearError(RuntimeError):
    """The traced model is not affine between the found breakpoints (a hidden nonlinearity)."""


def thresholds(module: nn.Module) -> tuple[float, ...]:
    """The kink locations of an elementwise piecewise-linear module."""
    if isinstance(module, nn.Hardtanh):  # ReLU6 is a Hardtanh(0, 6)
        return (float(module.min_val), float(module.max_val))
    if isinstance(module, (nn.ReLU, nn.LeakyReLU, Abs)):
        return (0.0,)
    raise UnsupportedLayerError(f"{type(module).__name__} has no elementwise kinks")


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
    sites = [(n, m) for n, m in called if isinstance(m, THRESHOLD_LAYERS + POOL_LAYERS)]
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


class _Found(Exception):
    """Raised from a hook to stop the forward as soon as a layer adds points."""

    def __init__(self, pair: torch.Tensor, s: torch.Tensor) -> None:
        super().__init__()
        self.pair, self.s = pair, s


def _pair_scale(z: torch.Tensor, same: torch.Tensor) -> torch.Tensor:
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


def segment_max(seg: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``out[s] = max(0, max(v[seg == s]))`` for segment ids ``seg`` (P,) int64 and ``v`` (P,)."""
    out = torch.zeros(int(seg.max()) + 1, dtype=v.dtype, device=v.device)
    return out.scatter_reduce_(0, seg, v, "amax", include_self=True)


def _threshold_crossings(
    z: torch.Tensor, module: nn.Module, same: torch.Tensor, eps: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pairs ``i`` (points i, i+1) whose input crosses a kink, and the crossing fractions ``s``."""
    z = z.flatten(1)  # (P, F)
    za, zb = z[:-1], z[1:]
    seg_max = _pair_scale(z, same)
    pairs, fracs = [], []
    for c in thresholds(module):
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


def _pool(module: nn.Module, z: torch.Tensor) -> torch.Tensor:
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


def _pool_crossings(
    z: torch.Tensor, module: nn.Module, same: torch.Tensor, eps: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pairs where a pooling window's winner changes, with the fraction where the two tie."""
    idx = _pool(module, z).flatten(2)  # (P, C, out) flat indices into the spatial input
    zf = z.flatten(2)  # (P, C, in)
    scale = eps * _pair_scale(zf.flatten(1), same).clamp(min=1e-300)[:, None, None]
    ia, ib = idx[:-1], idx[1:]
    za, zb = zf[:-1], zf[1:]
    da = za.gather(2, ia) - za.gather(2, ib)  # >= 0: a's winner leads at a
    db = zb.gather(2, ia) - zb.gather(2, ib)  # <= 0: b's winner leads at b
    cross = (da > scale) & (db < -scale) & same[:, None, None]
    i, c, o = cross.nonzero(as_tuple=True)
    return i, da[i, c, o] / (da[i, c, o] - db[i, c, o])


def _states(module: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """Activation state of every unit: for kinks c_1 < c_2, the number of kinks below the input;
    for max pools, the flat index of each window's winner."""
    if isinstance(module, POOL_LAYERS):
        return _pool(module, z).flatten(1)
    zf = z.flatten(1)
    out = torch.zeros_like(zf, dtype=torch.int8)
    for c in thresholds(module):
        out += (zf > c).to(torch.int8)
    return out


@dataclass(frozen=True)
class Patterns:
    """Activation states of a model's nonlinearities at a batch of points.

    Attributes
    ----------
    sites : names of the nonlinear modules in call order.
    states : one tensor per site, ``(B, units)``; int8 (ReLU-like: 1 = above the kink; Hardtanh:
        0, 1, 2 = below, between, above) or int64 (MaxPool: winner index in each window).
    """

    sites: tuple[str, ...]
    states: tuple[torch.Tensor, ...]

    def flat(self) -> torch.Tensor:
        """All states side by side, ``(B, total_units)`` int64."""
        return torch.cat([s.to(torch.int64) for s in self.states], dim=1)

    def __len__(self) -> int:
        return int(self.states[0].shape[0]) if self.states else 0


def _run_states(prep: Prepared, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    states: list[torch.Tensor] = []
    handles = []

    def pre(mod: nn.Module, inputs) -> None:
        states.append(_states(mod, inputs[0]))

    try:
        for m in {id(m): m for _, m in prep.sites}.values():
            handles.append(m.register_forward_pre_hook(pre))
        with torch.no_grad():
            out = prep.net(x)
    finally:
        for h in handles:
            h.remove()
    return out, states


def activation_patterns(model: nn.Module, x: torch.Tensor) -> Patterns:
    """The activation states of every supported nonlinearity of ``model`` at points ``x``.

    Parameters
    ----------
    model : a supported piecewise-linear model (see module docstring); not modified.
    x : (B, *input_shape) points.
    """
    prep = prepare(model, x[0])
    _, states = _run_states(prep, x.to(device=prep.device, dtype=torch.float64))
    return Patterns(tuple(n for n, _ in prep.sites), tuple(states))


@dataclass(frozen=True)
class PLTrace:
    """Exact trace of segments ``x_s(t) = a_s + t (b_s - a_s)``, ``t in [0, 1]``, through a model.

    Points are sorted by ``(segment, t)``; each segment's first and last points are ``t = 0`` and
    ``t = 1``; every other point is a kink (breakpoint) of some nonlinearity. Between consecutive
    points of a segment every layer is affine in ``t``.

    Attributes
    ----------
    segment : (P,) int64 segment index of each point.
    t : (P,) float64 parameter in [0, 1].
    outputs : layer name -> (P, *layer_shape) float64 values at the points; ``"output"`` is the
        model output, ``"input"`` the input points.
    n_segments : S.
    sites : nonlinear module names, in call order.
    patterns : if asked for, one :class:`Patterns` row per piece (pieces in point order; piece k
        of segment s lies between its points k and k + 1).
    """

    segment: torch.Tensor
    t: torch.Tensor
    outputs: dict[str, torch.Tensor]
    n_segments: int
    sites: tuple[str, ...]
    patterns: Patterns | None = field(default=None, repr=False)

    @property
    def param(self) -> torch.Tensor:
        """``segment + t``: the polyline parameter (vertex k at k)."""
        return self.segment.to(torch.float64) + self.t

    @property
    def n_pieces(self) -> torch.Tensor:
        """(S,) number of affine pieces of each segment."""
        counts = torch.bincount(self.segment, minlength=self.n_segments)
        return counts - 1

    def breakpoints(self, s: int = 0) -> torch.Tensor:
        """Interior kink parameters ``t`` of segment ``s`` (sorted, float64)."""
        tt = self.t[self.segment == s]
        return tt[1:-1]

    def lengths(self, name: str = "output") -> torch.Tensor:
        """(S,) exact curve length of each segment's image in layer ``name``."""
        v = self.outputs[name].flatten(1)
        d = (v[1:] - v[:-1]).norm(dim=1)
        same = self.segment[1:] == self.segment[:-1]
        out = torch.zeros(self.n_segments, dtype=v.dtype, device=v.device)
        return out.index_add_(0, self.segment[1:][same], d[same])

    def length(self, name: str = "output") -> float:
        """Total exact curve length (all segments) of the image in layer ``name``."""
        return float(self.lengths(name).sum())

    def __repr__(self) -> str:
        p = self.n_pieces
        return (
            f"PLTrace(n_segments={self.n_segments}, pieces={int(p.sum())}, "
            f"layers={list(self.outputs)})"
        )


def _resolve_layers(prep: Prepared, layers: Sequence[str] | None) -> list[str]:
    names = ["output"] if layers is None else list(layers)
    for n in names:
        if n not in ("output", "input") and n not in prep.names:
            known = [k for k in prep.names if k][:20]
            raise ValueError(
                f"unknown layer {n!r}; allowed: 'output', 'input' or a module name such as "
                f"{', '.join(map(repr, known))}"
            )
    return names


def _points(a: torch.Tensor, d: torch.Tensor, seg: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    shape = (-1,) + (1,) * (a.dim() - 1)
    return a[seg] + t.view(shape) * d[seg]


def _trace_chunk(
    prep: Prepared,
    a: torch.Tensor,
    b: torch.Tensor,
    layers: list[str],
    eps: float,
    max_points: int,
    patterns: bool,
) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor], list[torch.Tensor] | None]:
    d = b - a
    with folded(prep, a, d, None) as encode:

        def inputs(seg: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            # an affine first layer is folded: feed (segment, t) instead of forming the points
            return _points(a, d, seg, t) if encode is None else encode(seg, t)

        return _trace_loop(prep, inputs, a, d, layers, eps, max_points, patterns)


def _trace_loop(prep, inputs, a, d, layers, eps, max_points, patterns):
    n_seg = a.shape[0]
    dev = a.device
    seg = torch.arange(n_seg, device=dev).repeat_interleave(2)
    t = torch.tensor([0.0, 1.0], dtype=torch.float64, device=dev).repeat(n_seg)
    state: dict[str, torch.Tensor] = {}

    def pre(mod: nn.Module, inp) -> None:
        z = inp[0]
        if isinstance(mod, POOL_LAYERS):
            i, s = _pool_crossings(z, mod, state["same"], eps)
        else:
            i, s = _threshold_crossings(z, mod, state["same"], eps)
        if i.numel():
            raise _Found(i, s)

    # values at the points, recorded with forward hooks on the asked-for modules; the pass that
    # adds no point is the final one and its recordings are kept
    outputs: dict[str, torch.Tensor] = {}
    rec = [n for n in layers if n not in ("output", "input")]

    def keeper(name: str):
        def hook(mod, inp, output) -> None:
            outputs[name] = output.detach()

        return hook

    mods = {id(m): m for _, m in prep.sites}.values()
    handles = [m.register_forward_pre_hook(pre) for m in mods]
    handles += [prep.net.get_submodule(n).register_forward_hook(keeper(n)) for n in rec]
    try:
        while True:
            state["same"] = seg[1:] == seg[:-1]
            try:
                with torch.no_grad():
                    out = prep.net(inputs(seg, t))
            except _Found as found:
                i, s = found.pair, found.s
                new_t = t[i] + s * (t[i + 1] - t[i])
                seg = torch.cat([seg, seg[i]])
                t = torch.cat([t, new_t])
                order = torch.argsort(t, stable=True)
                order = order[torch.argsort(seg[order], stable=True)]
                seg, t = seg[order], t[order]
                # drop duplicates (two units with the same kink, or a kink on an existing point)
                keep = torch.ones_like(seg, dtype=torch.bool)
                keep[1:] = ~((seg[1:] == seg[:-1]) & (t[1:] - t[:-1] <= 1e-14))
                seg, t = seg[keep], t[keep]
                if seg.numel() > max_points:
                    raise RuntimeError(
                        f"tracing needs more than max_points={max_points} points; raise "
                        f"max_points or trace fewer/shorter segments"
                    ) from None
                continue
            break
    finally:
        for h in handles:
            h.remove()
    outputs["output"] = out
    if "input" in layers:
        outputs["input"] = _points(a, d, seg, t)

    # check: every piece is affine (midpoint value = mean of endpoint values), and its pattern
    same = seg[1:] == seg[:-1]
    lo = torch.nonzero(same).squeeze(1)
    mid_t = 0.5 * (t[lo] + t[lo + 1])
    out_mid, states = _run_states(prep, inputs(seg[lo], mid_t))
    expect = 0.5 * (out[lo] + out[lo + 1])
    scale = float(out.abs().max()) if out.numel() else 0.0
    err = float((out_mid - expect).abs().max()) if out_mid.numel() else 0.0
    if err > 1e-7 * max(scale, 1e-12):
        raise NotPiecewiseLinearError(
            f"the model output is not affine between the traced breakpoints (error {err:.3g}); "
            f"a nonlinearity is applied outside the supported modules (e.g. F.relu inside "
            f"forward). Supported layers: {SUPPORTED_NAMES}"
        )
    if any(isinstance(m, POOL_LAYERS) for _, m in prep.sites) and lo.numel() > 1:
        # A max-pool crossing is inserted where the winners at the two ends tie; a third unit may
        # win there, which leaves a point with the same pattern on both sides: merge those.
        flat = torch.cat([s.flatten(1).to(torch.int64) for s in states], dim=1)
        dup = (lo[1:] == lo[:-1] + 1) & (flat[1:] == flat[:-1]).all(1)
        if bool(dup.any()):
            drop_piece = torch.nonzero(dup).squeeze(1) + 1
            keep = torch.ones_like(seg, dtype=torch.bool)
            keep[lo[drop_piece]] = False
            keep_piece = torch.ones(lo.numel(), dtype=torch.bool, device=lo.device)
            keep_piece[drop_piece] = False
            seg, t = seg[keep], t[keep]
            outputs = {k: v[keep] for k, v in outputs.items()}
            states = [s[keep_piece] for s in states]
    return seg, t, outputs, (states if patterns else None)


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


def _trace_sequential(
    prep: Prepared,
    leaves: list[tuple[str, nn.Module]],
    a: torch.Tensor,
    b: torch.Tensor,
    layers: list[str],
    eps: float,
    max_points: int,
) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """One pass through a Sequential: kinks are inserted at each nonlinearity with the exact
    (interpolated) values of that layer's input, and every recorded layer is interpolated too."""
    n_seg = a.shape[0]
    dev = a.device
    seg = torch.arange(n_seg, device=dev).repeat_interleave(2)
    t = torch.tensor([0.0, 1.0], dtype=torch.float64, device=dev).repeat(n_seg)
    h = torch.stack([a, b], 1).reshape(2 * n_seg, *a.shape[1:])  # (P, *in)
    rec: dict[str, torch.Tensor] = {}
    if "input" in layers:
        rec["input"] = h
    wanted = set(layers)
    for name, mod in leaves:
        while isinstance(mod, THRESHOLD_LAYERS + POOL_LAYERS):
            same = seg[1:] == seg[:-1]
            if isinstance(mod, POOL_LAYERS):
                i, frac = _pool_crossings(h, mod, same, eps)
            else:
                i, frac = _threshold_crossings(h, mod, same, eps)
            if i.numel() == 0:
                break
            fr = frac.view((-1,) + (1,) * (h.dim() - 1))
            h = torch.cat([h, h[i] + fr * (h[i + 1] - h[i])])
            for k, v in rec.items():
                fv = frac.view((-1,) + (1,) * (v.dim() - 1))
                rec[k] = torch.cat([v, v[i] + fv * (v[i + 1] - v[i])])
            seg = torch.cat([seg, seg[i]])
            t = torch.cat([t, t[i] + frac * (t[i + 1] - t[i])])
            order = torch.argsort(t, stable=True)
            order = order[torch.argsort(seg[order], stable=True)]
            seg, t = seg[order], t[order]
            keep = torch.ones_like(seg, dtype=torch.bool)
            keep[1:] = ~((seg[1:] == seg[:-1]) & (t[1:] - t[:-1] <= 1e-14))
            order = order[keep]
            seg, t = seg[keep], t[keep]
            h = h[order]
            rec = {k: v[order] for k, v in rec.items()}
            if seg.numel() > max_points:
                raise RuntimeError(
                    f"tracing needs more than max_points={max_points} points; raise "
                    f"max_points or trace fewer/shorter segments"
                )
            if not isinstance(mod, POOL_LAYERS):
                break  # all units' kinks of this layer are in: no interval crosses one now
        with torch.no_grad():
            h = mod(h)
        if name in wanted:
            rec[name] = h
    rec["output"] = h
    return seg, t, rec


def trace_segments(
    model: nn.Module,
    starts: torch.Tensor,
    ends: torch.Tensor,
    layers: Sequence[str] | None = None,
    *,
    patterns: bool = False,
    eps: float = EPS,
    max_points: int = 20_000_000,
    chunk_elements: int = 2**24,
) -> PLTrace:
    """Trace straight segments ``starts[s] -> ends[s]`` exactly through ``model``.

    Parameters
    ----------
    model : supported piecewise-linear ``nn.Module`` (not modified).
    starts, ends : (S, *input_shape) segment endpoints; any float dtype (computed in float64).
    layers : names whose values at the points to keep: ``"output"`` (default), ``"input"``, or
        any name from ``model.named_modules()`` (its output).
    patterns : also return the activation pattern of every piece (evaluated at its midpoint).
    eps : relative kink tolerance (see :data:`EPS`).
    max_points : cap on the number of points per chunk.
    chunk_elements : segments are processed in chunks of about this many input elements times an
        assumed 64 points per segment, to bound memory.

    Returns
    -------
    PLTrace
    """
    if starts.shape != ends.shape or starts.dim() < 2:
        raise ValueError(
            f"starts and ends must both be (S, *input_shape); got {tuple(starts.shape)} and "
            f"{tuple(ends.shape)}"
        )
    prep = prepare(model, starts[0])
    names = _resolve_layers(prep, layers)
    a = starts.detach().to(device=prep.device, dtype=torch.float64)
    b = ends.detach().to(device=prep.device, dtype=torch.float64)
    n_seg = a.shape[0]
    leaves = flat_sequential(prep.net)
    if any(isinstance(m, POOL_LAYERS) for _, m in prep.sites):
        leaves = None  # max-pool ties need the pattern clean-up of the general path
    # memory per segment: ~64 points of the widest layer (the one-pass path forms inputs only at
    # the two endpoints)
    if leaves is not None and not patterns:
        per = max(prep.max_hidden, math.prod(a.shape[1:]) // 32)
        budget = min(chunk_elements, 2**21)  # smaller chunks stay in cache: measured ~2x faster
    else:
        per, budget = prep.max_units, chunk_elements
    chunk = max(1, budget // (64 * per))
    segs, ts, outs, pats = [], [], [], []
    for lo in range(0, n_seg, chunk):
        if leaves is not None and not patterns:
            # a Sequential of supported leaves: one pass, nothing hidden to check
            seg, t, o = _trace_sequential(
                prep, leaves, a[lo : lo + chunk], b[lo : lo + chunk], names, eps, max_points
            )
            st = None
        else:
            seg, t, o, st = _trace_chunk(
                prep, a[lo : lo + chunk], b[lo : lo + chunk], names, eps, max_points, patterns
            )
        segs.append(seg + lo)
        ts.append(t)
        outs.append(o)
        pats.append(st)
    outputs = {k: torch.cat([o[k] for o in outs]) for k in outs[0]}
    site_names = tuple(n for n, _ in prep.sites)
    pat = None
    if patterns:
        n_sites = len(pats[0]) if pats[0] is not None else 0
        pat = Patterns(site_names, tuple(torch.cat([p[k] for p in pats]) for k in range(n_sites)))
    return PLTrace(torch.cat(segs), torch.cat(ts), outputs, n_seg, site_names, pat)


def trace_polyline(
    model: nn.Module,
    vertices: torch.Tensor,
    layers: Sequence[str] | None = None,
    *,
    patterns: bool = False,
    eps: float = EPS,
) -> PLTrace:
    """Trace the polyline through ``vertices`` (K, *input_shape): segments k = 0 .. K - 2.

    ``PLTrace.param`` gives ``k + t`` in ``[0, K - 1]``; ``PLTrace.length(name)`` is the exact
    length of the polyline's image in layer ``name``. Vertices appear twice (end of one segment,
    start of the next).
    """
    if vertices.dim() < 2 or vertices.shape[0] < 2:
        raise ValueError(f"vertices must be (K >= 2, *input_shape); got {tuple(vertices.shape)}")
    return trace_segments(model, vertices[:-1], vertices[1:], layers, patterns=patterns, eps=eps)
