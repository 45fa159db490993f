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
    handles = []

    def hook(mod: nn.Module, inputs, output) -> None:
        called.append((inv.get(mod, "?"), mod))

    try:
        for _, m in names.items():
            if not list(m.children()):
                handles.append(m.register_forward_hook(hook))
        with torch.no_grad():
            net(example.to(device=device, dtype=torch.float64).unsqueeze(0))
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
    return Prepared(net, tuple(example.shape), device, sites, names)


class _Found(Exception):
    """Raised from a hook to stop the forward as soon as a layer adds points."""

    def __init__(self, pair: torch.Tensor, s: torch.Tensor) -> None:
        super().__init__()
        self.pair, self.s = pair, s


def _threshold_crossings(
    z: torch.Tensor, module: nn.Module, same: torch.Tensor, eps: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pairs ``i`` (points i, i+1) whose input crosses a kink, and the crossing fractions ``s``."""
    z = z.flatten(1)  # (P, F)
    za, zb = z[:-1], z[1:]
    pairs, fracs = [], []
    for c in thresholds(module):
        scale = eps * max(float(z.abs().max()) if z.numel() else 0.0, abs(c), 1e-300)
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
    scale = eps * max(float(zf.abs().max()) if zf.numel() else 0.0, 1e-300)
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
    n_seg = a.shape[0]
    dev = a.device
    d = b - a
    seg = torch.arange(n_seg, device=dev).repeat_interleave(2)
    t = torch.tensor([0.0, 1.0], dtype=torch.float64, device=dev).repeat(n_seg)
    state: dict[str, torch.Tensor] = {}

    def pre(mod: nn.Module, inputs) -> None:
        z = inputs[0]
        if isinstance(mod, POOL_LAYERS):
            i, s = _pool_crossings(z, mod, state["same"], eps)
        else:
            i, s = _threshold_crossings(z, mod, state["same"], eps)
        if i.numel():
            raise _Found(i, s)

    handles = [m.register_forward_pre_hook(pre) for m in {id(m): m for _, m in prep.sites}.values()]
    try:
        while True:
            state["same"] = seg[1:] == seg[:-1]
            try:
                with torch.no_grad():
                    prep.net(_points(a, d, seg, t))
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

    # values at the points, recorded with forward hooks on the asked-for modules
    outputs: dict[str, torch.Tensor] = {}
    x = _points(a, d, seg, t)
    rec = [n for n in layers if n not in ("output", "input")]
    handles = []

    def keeper(name: str):
        def hook(mod, inputs, output) -> None:
            outputs[name] = output.detach()

        return hook

    try:
        for n in rec:
            handles.append(prep.names[n].register_forward_hook(keeper(n)))
        with torch.no_grad():
            out = prep.net(x)
    finally:
        for h in handles:
            h.remove()
    outputs["output"] = out
    if "input" in layers:
        outputs["input"] = x

    # check: every piece is affine (midpoint value = mean of endpoint values), and its pattern
    same = seg[1:] == seg[:-1]
    lo = torch.nonzero(same).squeeze(1)
    mid_t = 0.5 * (t[lo] + t[lo + 1])
    out_mid, states = _run_states(prep, _points(a, d, seg[lo], mid_t))
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
    per = max(1, math.prod(a.shape[1:]))
    chunk = max(1, chunk_elements // (64 * per))
    segs, ts, outs, pats = [], [], [], []
    for lo in range(0, n_seg, chunk):
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
