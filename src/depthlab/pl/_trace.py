"""The exact 1-D tracer: segments through a piecewise-linear model, breakpoint by breakpoint
(see :mod:`depthlab.pl` for how it works), and activation patterns."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from depthlab.pl._layers import (
    EPS,
    POOL_LAYERS,
    SUPPORTED_NAMES,
    find_rule,
    layer_rule,
)
from depthlab.pl._prepare import Prepared, Stopped, flat_sequential, folded, prepare, site_visits


class NotPiecewiseLinearError(RuntimeError):
    """The traced model is not affine between the found breakpoints (a hidden nonlinearity)."""


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

    def visit(k: int, mod: nn.Module, z: torch.Tensor) -> None:
        states.append(layer_rule(mod).states(mod, z))  # type: ignore[misc]

    with site_visits(prep, visit) as run:
        out = run(x)
    assert isinstance(out, torch.Tensor)
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

    def visit(k: int, mod: nn.Module, z: torch.Tensor):
        # stop the forward at the first site whose input crosses a kink between two points
        i, s = layer_rule(mod).crossings(z, mod, state["same"], eps)  # type: ignore[misc]
        return (i, s) if i.numel() else None

    # values at the points, recorded with forward hooks on the asked-for modules; the pass that
    # adds no point is the final one and its recordings are kept
    outputs: dict[str, torch.Tensor] = {}
    rec = [n for n in layers if n not in ("output", "input")]

    def keeper(name: str):
        def hook(mod, inp, output) -> None:
            outputs[name] = output.detach()

        return hook

    handles = [prep.net.get_submodule(n).register_forward_hook(keeper(n)) for n in rec]
    try:
        with site_visits(prep, visit) as run:
            while True:
                state["same"] = seg[1:] == seg[:-1]
                out = run(inputs(seg, t))
                if not isinstance(out, Stopped):
                    break
                i, s = out.value
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
                    )
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
        rule = find_rule(mod)
        while rule is not None and rule.site:
            same = seg[1:] == seg[:-1]
            i, frac = rule.crossings(h, mod, same, eps)  # type: ignore[misc]
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
            if rule.kind != "pool":
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
    if not eps >= 0.0:
        raise ValueError(f"eps must be >= 0 (a relative tolerance), got {eps}")
    prep = prepare(model, starts[0])
    names = _resolve_layers(prep, layers)
    a = starts.detach().to(device=prep.device, dtype=torch.float64)
    b = ends.detach().to(device=prep.device, dtype=torch.float64)
    bad = ~(torch.isfinite(a.flatten(1)).all(dim=1) & torch.isfinite(b.flatten(1)).all(dim=1))
    if bool(bad.any()):
        raise ValueError(
            f"segment {int(bad.nonzero()[0])}: an end point has NaN or inf coordinates; "
            f"exact tracing needs finite inputs"
        )
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
