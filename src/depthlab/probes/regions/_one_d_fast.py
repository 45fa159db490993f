"""Fast exact 1-D region counting for ``nn.Sequential`` piecewise-linear networks.

This is the engine behind :func:`depthlab.regions.count_1d` on a batch when the model qualifies (an
``nn.Sequential``, possibly nested, of affine layers and elementwise piecewise-linear
nonlinearities; see :func:`plan`). It gives the same pieces and breakpoints as the general engine
:func:`depthlab.pl.trace_segments`, with far less work per point.

Algorithm
---------
The network is reduced to alternating blocks ``z_{k+1} = phi_k(z_k) M_k^T + c_k``: every run of
consecutive affine layers (Linear, eval BatchNorm, Flatten, Dropout, Identity, small convolutions)
is collapsed into one matrix ``M_k`` (``n_out x n_in``, float64; a lone Linear keeps its own
weight, anything else is read off by applying the layers to the identity) and one bias ``c_k``. Segments ``x_s(t) = a_s + t (b_s - a_s)`` are carried as sorted
points ``(s, t)``, first only ``t = 0`` and ``t = 1``, together with the pre-activations ``z`` of
the current nonlinearity at those points (``P x n``). Only the two endpoints are ever formed in
input space.

At nonlinearity ``k`` with kinks ``c`` (0 for ReLU / LeakyReLU / abs, ``min_val`` and ``max_val``
for Hardtanh), between two consecutive points ``i, i + 1`` of one segment every unit is affine in
``t``, so unit ``j`` crosses its kink iff ``z_ij - c`` and ``z_{i+1,j} - c`` have opposite signs
(both farther than ``eps * max|z|`` from it, as in :mod:`depthlab.pl`). All crossings of all units
and all segments are found at once; the crossing sits at

    t* = t_i + (t_{i+1} - t_i) (z_ij - c) / (z_ij - z_{i+1,j}),

and the pre-activations of all units there are the linear interpolation of the two neighbours.
Only the new points are sorted (by ``(s, t)``) and their positions in the merged order are
computed by counting; points closer than ``1e-14`` in ``t`` to their predecessor in the same
segment are merged (two units crossing at the same ``t``, or a kink on an existing point), the
same rule as :mod:`depthlab.pl`. Then ``phi`` and the next block are applied to old and new
points; the product writes both into one buffer in storage order (old rows, then new rows), and a
permutation gives the sorted order, so only sign bytes and 1-D arrays are ever permuted. After the
last block the points are the breakpoints, ``n_pieces = points - 1`` per segment, and the values
are the exact model outputs there.

Cost: one matrix product per block on the points that exist at that block, a few elementwise
passes, no Python loop over segments or units; segments are processed in chunks only to bound
memory. Everything is device-agnostic (runs on CUDA when the model and inputs are there).

``dtype=torch.float64`` (the default) is the exact reference arithmetic. ``dtype=torch.float32``
is an opt-in speed mode (about 3x faster matrix products on a CPU); breakpoints then carry float32
rounding (about 1e-6 relative) and near-degenerate crossings can be decided differently, like
regioncam, which works in float32.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from depthlab import pl
from depthlab.probes import _regions_kernel as _kernel

#: largest collapsed affine block (n_in * n_out entries) the fast path will form
MAX_BLOCK_ELEMENTS: int = 2**24

_DEDUP: float = 1e-14  # pl's merge rule for points in one segment
_NO_OPS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Identity, nn.Flatten)


@dataclass(frozen=True)
class Block:
    """``x -> act(x) @ weight.T + bias`` (``act`` None: identity; ``weight`` None: identity).

    ``weight`` is ``(n_out, n_in)``, as in ``nn.Linear``.

    ``kinks`` are the kink locations of ``act`` (empty for the first block).
    """

    act: nn.Module | None
    kinks: tuple[float, ...]
    weight: torch.Tensor | None
    bias: torch.Tensor | None


def _affine_matrix(
    layers: list[nn.Module], shape: tuple[int, ...], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, tuple[int, ...]] | None:
    """The matrix ``(n_out, n_in)`` and bias of a run of affine layers on per-sample inputs of
    ``shape``, and the per-sample output shape. A lone Linear (up to no-ops in eval mode: Dropout,
    Identity, a full Flatten) gives its own parameters, exactly."""
    n_in = math.prod(shape)
    core = [m for m in layers if not isinstance(m, _NO_OPS)]
    if len(core) == 1 and isinstance(core[0], nn.Linear) and core[0].in_features == n_in:
        lin = core[0]
        if all(
            not isinstance(m, nn.Flatten) or (m.start_dim, m.end_dim) == (1, -1) for m in layers
        ):
            w = lin.weight.detach()
            c = lin.bias.detach() if lin.bias is not None else w.new_zeros(w.shape[0])
            return w.contiguous(), c, (w.shape[0],)
    seq = nn.Sequential(*layers)
    with torch.no_grad():
        zero = seq(torch.zeros((1, *shape), dtype=torch.float64, device=device))
        n_out = zero[0].numel()
        if n_in * n_out > MAX_BLOCK_ELEMENTS:
            return None
        eye = torch.eye(n_in, dtype=torch.float64, device=device).reshape(n_in, *shape)
        m = seq(eye).reshape(n_in, n_out) - zero.reshape(1, n_out)
    return m.T.contiguous(), zero.reshape(n_out), tuple(zero.shape[1:])


def plan(prep: pl.Prepared) -> tuple[list[Block], tuple[int, ...]] | None:
    """Collapse a prepared ``nn.Sequential`` into alternating blocks (and the per-sample output
    shape), or None if it does not qualify (not a plain Sequential, max-pooling, or an affine
    block larger than :data:`MAX_BLOCK_ELEMENTS`)."""
    leaves = pl.flat_sequential(prep.net)
    if leaves is None:
        return None
    blocks: list[Block] = []
    shape = prep.input_shape
    act: nn.Module | None = None
    run: list[nn.Module] = []

    def close() -> bool:
        nonlocal shape
        if run:
            got = _affine_matrix(run, shape, prep.device)
            if got is None:
                return False
            m, c, shape = got
        else:
            m = c = None
        blocks.append(Block(act, pl.thresholds(act) if act is not None else (), m, c))
        return True

    for _, mod in leaves:
        rule = pl.find_rule(mod)
        if rule is not None and rule.kind == "elementwise":
            if not close():
                return None
            act, run = mod, []
        elif rule is not None and rule.kind == "affine":
            run.append(mod)
        else:
            return None
    if not close():
        return None
    return blocks, shape


def _act_(act: nn.Module, h: torch.Tensor) -> torch.Tensor:
    """``act(h)``, in place where torch has an in-place form (``h`` is a scratch buffer)."""
    return pl.layer_rule(act).apply_(act, h)  # type: ignore[misc]


def _apply_(block: Block, h: torch.Tensor) -> torch.Tensor:
    """``block`` on the rows of ``h`` (which it may overwrite)."""
    if block.act is not None:
        h = _act_(block.act, h)
    if block.weight is not None:
        h = F.linear(h, block.weight, block.bias)
    return h


def _crossings(
    seg: torch.Tensor,
    t: torch.Tensor,
    z: torch.Tensor,
    perm: torch.Tensor,
    kinks: tuple[float, ...],
    eps: float,
) -> tuple[torch.Tensor, ...] | None:
    """All kink crossings between consecutive points of one segment.

    ``seg, t`` (P,) are in sorted order; ``z`` (P, n) holds the points' pre-activations in
    storage order, ``perm`` (P,) the storage row of each sorted point.

    Returns ``(k, ra, rb, frac, t_new)``: the sorted index of the left point of each crossing's
    interval, the storage rows of its two ends, the fraction in it and the crossing's ``t``,
    sorted by ``(k, t)`` with near-duplicates (``<= 1e-14`` in ``t`` from the previous point of
    the segment) removed; None if there is none.
    """
    if z.shape[0] < 2 or z.numel() == 0:
        return None
    # the tolerance scales with each segment's own largest |z|, so a segment's pieces do not
    # depend on which other segments share its batch
    seg_max = pl.segment_max(seg, z.abs().amax(1).index_select(0, perm))
    ks, ras, rbs, fracs = [], [], [], []
    n = z.shape[1]
    for c in kinks:
        d = z - c if c != 0.0 else z
        # candidates: the sign bit flips between sorted neighbours (a superset of strict sign
        # changes: +-0 counts; the bytes, not the floats, are put in sorted order); then the
        # tolerance and same-segment tests on the few candidates only
        sb = d.signbit().index_select(0, perm)
        flat = (sb[:-1] ^ sb[1:]).view(-1).nonzero().squeeze(1)
        if flat.numel() == 0:
            continue
        k = torch.div(flat, n, rounding_mode="floor")
        j = flat - k * n
        ra, rb = perm.index_select(0, k), perm.index_select(0, k + 1)
        dflat = d.reshape(-1)
        da, db = dflat.index_select(0, ra * n + j), dflat.index_select(0, rb * n + j)
        sk = seg.index_select(0, k)
        scale = eps * seg_max.index_select(0, sk).clamp(min=max(abs(c), 1e-300))
        ok = (da.abs() > scale) & (db.abs() > scale) & (sk == seg[k + 1])
        sel = ok.nonzero().squeeze(1)
        if sel.numel():
            ks.append(k.index_select(0, sel))
            ras.append(ra.index_select(0, sel))
            rbs.append(rb.index_select(0, sel))
            da, db = da.index_select(0, sel), db.index_select(0, sel)
            fracs.append(da / (da - db))
    if not ks:
        return None
    k, ra, rb = torch.cat(ks), torch.cat(ras), torch.cat(rbs)
    frac = torch.cat(fracs).to(torch.float64)
    tl, tr = t.index_select(0, k), t.index_select(0, k + 1)
    tn = tl + frac * (tr - tl)
    # sort by (segment, t): one sort on a fused key, checked, else two exact stable sorts
    order = torch.argsort(seg.index_select(0, k).to(torch.float64) * 2.0 + tn)
    ko, to = k.index_select(0, order), tn.index_select(0, order)
    if bool(((ko[1:] < ko[:-1]) | ((ko[1:] == ko[:-1]) & (to[1:] < to[:-1]))).any()):
        order = torch.argsort(tn, stable=True)
        order = order[torch.argsort(k[order], stable=True)]
    k, ra, rb, frac, tn, tl, tr = (v.index_select(0, order) for v in (k, ra, rb, frac, tn, tl, tr))
    drop = (tn - tl <= _DEDUP) | (tr - tn <= _DEDUP)
    drop[1:] |= (k[1:] == k[:-1]) & (tn[1:] - tn[:-1] <= _DEDUP)
    if not bool(drop.any()):
        return k, ra, rb, frac, tn
    sel = (~drop).nonzero().squeeze(1)
    return tuple(v.index_select(0, sel) for v in (k, ra, rb, frac, tn))


def trace_chunk(
    blocks: list[Block], a: torch.Tensor, b: torch.Tensor, eps: float, max_points: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Exact breakpoints of segments ``a[s] -> b[s]`` ((S, n_in), the working dtype).

    Returns ``seg`` (P,) int64, ``t`` (P,) float64 (sorted by ``(seg, t)``) and the model outputs
    (P, n_out) at the points, in the working dtype.

    The points' values stay in storage order (old points first, each block's new points
    appended, written there directly by the matrix product); ``perm`` maps sorted order to
    storage rows, so only 1-byte sign bits and 1-D arrays are ever permuted.
    """
    n_seg = a.shape[0]
    dev = a.device
    seg = torch.arange(n_seg, device=dev).repeat_interleave(2)
    t = torch.tensor([0.0, 1.0], dtype=torch.float64, device=dev).repeat(n_seg)
    first = blocks[0]
    if first.act is None and first.weight is not None:  # apply it before interleaving a and b
        z = torch.stack([_apply_(first, a), _apply_(first, b)], 1).reshape(2 * n_seg, -1)
    else:
        z = _apply_(first, torch.stack([a, b], 1).reshape(2 * n_seg, -1))
    perm = torch.arange(2 * n_seg, device=dev)
    for block in blocks[1:]:
        found = _crossings(seg, t, z, perm, block.kinks, eps) if block.kinks else None
        if found is None or found[0].numel() == 0:
            z = _apply_(block, z)
            continue
        k, ra, rb, frac, tn = found
        m, p = k.numel(), t.numel()
        if p + m > max_points:
            raise RuntimeError(
                f"tracing needs more than max_points={max_points} points; raise max_points "
                f"or trace fewer/shorter segments"
            )
        z_new = torch.lerp(z.index_select(0, ra), z.index_select(0, rb), frac.to(z.dtype)[:, None])
        h_old = _act_(block.act, z) if block.act is not None else z
        h_new = _act_(block.act, z_new) if block.act is not None else z_new
        if block.weight is not None:
            z = h_old.new_empty(p + m, block.weight.shape[0])
            torch.addmm(block.bias, h_old, block.weight.T, out=z[:p])
            torch.addmm(block.bias, h_new, block.weight.T, out=z[p:])
        else:
            z = torch.cat([h_old, h_new])
        # sorted positions: point q moves right by the number of new points before it
        cnt = torch.bincount(k, minlength=p - 1)
        pos_old = torch.arange(p, device=dev)
        pos_old[1:] += torch.cumsum(cnt, 0)
        pos_new = k + 1 + torch.arange(m, device=dev)
        perm_all = perm.new_empty(p + m)
        perm_all.index_copy_(0, pos_old, perm)
        perm_all.index_copy_(0, pos_new, torch.arange(p, p + m, device=dev))
        t_all = t.new_empty(p + m)
        t_all.index_copy_(0, pos_old, t)
        t_all.index_copy_(0, pos_new, tn)
        s_all = seg.new_empty(p + m)
        s_all.index_copy_(0, pos_old, seg)
        s_all.index_copy_(0, pos_new, seg.index_select(0, k))
        perm, t, seg = perm_all, t_all, s_all
    return seg, t, z.index_select(0, perm)


def widest(blocks: list[Block]) -> int:
    """The widest block's output (the values kept per point)."""
    return max([bl.weight.shape[0] for bl in blocks if bl.weight is not None] + [1])


def default_chunk(
    blocks: list[Block], device: torch.device, dtype: torch.dtype, use_kernel: bool,
    max_points: int,
) -> int:  # fmt: skip
    """Segments per chunk when ``chunk_segments`` is not given. The torch engine: about 100
    points per segment at the widest layer in about 8 MB on a CPU (fits in cache; measured
    fastest on one core for 784-64x3), 256 MB on an accelerator (few launches). The kernel keeps
    one segment at a time and converts its inputs in blocks, so a chunk is its outputs and the
    first layer's values at both ends: 16384 segments, fewer when the points per segment of
    the last call would pass ``max_points`` (which is per chunk)."""
    size = torch.empty((), dtype=dtype).element_size()
    if use_kernel:
        per_segment = int(1.2 * _kernel.points_per_segment() + 1)
        return int(max(1, min(16384, max_points // per_segment)))
    budget = 2**23 if device.type == "cpu" else 2**28
    return max(1, budget // (100 * widest(blocks) * size))


def chunk_plan(
    model: nn.Module, example: torch.Tensor, n_seg: int, dtype: torch.dtype = torch.float64
) -> tuple[int, int, int, bool] | None:
    """For :func:`trace_segments_fast` on ``n_seg`` segments of ``model`` (with the default
    engine choice and chunk size): ``(segments per chunk, widest layer, outputs per point,
    whether the numba kernel runs)``, or None if the model does not qualify (the general engine
    traces the whole batch at once). For memory planning (``regions.count_1d``)."""
    planned = plan(pl.prepare(model, example))
    if planned is None:
        return None
    blocks, out_shape = planned
    device = next((p.device for p in model.parameters()), example.device)
    use_kernel = _kernel.worth_it(n_seg, device)
    chunk = default_chunk(blocks, device, dtype, use_kernel, 20_000_000)
    return min(chunk, n_seg), widest(blocks), math.prod(out_shape), use_kernel


def trace_segments_fast(
    model: nn.Module,
    starts: torch.Tensor,
    ends: torch.Tensor,
    *,
    dtype: torch.dtype = torch.float64,
    eps: float = pl.EPS,
    max_points: int = 20_000_000,
    chunk_segments: int | None = None,
    kernel: str = "auto",
) -> tuple[pl.PLTrace, torch.Tensor] | None:
    """Trace segments ``starts[s] -> ends[s]`` ((S, *input_shape)) through a qualifying
    ``nn.Sequential``; None if the model does not qualify (use :func:`depthlab.pl.trace_segments`).

    ``eps`` and ``max_points`` (per chunk) are as in :func:`depthlab.pl.trace_segments`;
    ``chunk_segments`` (default: sized to the widest layer and the device) bounds memory.
    Runs on the model's device. ``kernel``: ``"torch"`` (this module, the reference),
    ``"numba"`` (the fused CPU kernel of :mod:`depthlab.probes._regions_kernel`, same decisions;
    an error if numba is missing or the model does not suit it) or ``"auto"`` (numba when it
    is installed, the device is a CPU, there are at least
    :data:`~depthlab.probes._regions_kernel.AUTO_MIN_SEGMENTS` segments (so that its one-time
    compilation pays) and the model suits it; else torch).

    Returns the :class:`depthlab.pl.PLTrace` (``outputs["output"]`` float64) and the (S,)
    segment lengths ``||ends[s] - starts[s]||`` (computed in ``dtype``).
    """
    if starts.shape != ends.shape or starts.dim() < 2:
        raise ValueError(
            f"starts and ends must both be (S, *input_shape); got {tuple(starts.shape)} and "
            f"{tuple(ends.shape)}"
        )
    if kernel not in ("auto", "torch", "numba"):
        raise ValueError(f"kernel must be 'auto', 'torch' or 'numba', got {kernel!r}")
    if dtype not in (torch.float64, torch.float32):
        raise ValueError(f"dtype must be torch.float64 or torch.float32, got {dtype}")
    if not eps >= 0.0:
        raise ValueError(f"eps must be >= 0 (a relative tolerance), got {eps}")
    prep = pl.prepare(model, starts[0])
    planned = plan(prep)
    if planned is None:
        return None
    blocks, out_shape = planned
    if dtype != torch.float64:
        blocks = [
            Block(
                bl.act,
                bl.kinks,
                None if bl.weight is None else bl.weight.to(dtype),
                None if bl.bias is None else bl.bias.to(dtype),
            )
            for bl in blocks
        ]
    n_seg = starts.shape[0]
    use_kernel = kernel == "numba" or (kernel == "auto" and _kernel.worth_it(n_seg, prep.device))
    if chunk_segments is None:
        chunk_segments = default_chunk(blocks, prep.device, dtype, use_kernel, max_points)
    segs, ts, outs, lens = [], [], [], []
    if use_kernel:
        _kernel.reset_steps()
    for lo in range(0, n_seg, chunk_segments):
        fused = None
        if use_kernel:  # the kernel converts the inputs itself, a block at a time
            a = starts[lo : lo + chunk_segments].detach().to(device=prep.device).flatten(1)
            b = ends[lo : lo + chunk_segments].detach().to(device=prep.device).flatten(1)
            if a.dtype not in (torch.float32, torch.float64):  # ints, halves: numpy-ready
                a, b = a.to(dtype), b.to(dtype)
            fused = _kernel.trace_blocks(
                blocks, a, b, eps, _DEDUP, max_points, dtype=dtype, offset=lo
            )
            if fused is None and kernel == "numba":
                raise RuntimeError(
                    "kernel='numba' needs numba (pip install depthlab[fast]) and a CPU"
                )
        if fused is not None:
            seg, t, out, length = fused
        else:
            a = starts[lo : lo + chunk_segments].detach().to(device=prep.device, dtype=dtype)
            b = ends[lo : lo + chunk_segments].detach().to(device=prep.device, dtype=dtype)
            a, b = a.flatten(1), b.flatten(1)
            bad = ~(torch.isfinite(a).all(dim=1) & torch.isfinite(b).all(dim=1))
            if bool(bad.any()):
                raise ValueError(
                    f"segment {lo + int(bad.nonzero()[0])}: an end point has NaN or inf "
                    f"coordinates; regions need finite inputs"
                )
            length = (b - a).norm(dim=1)
            seg, t, out = trace_chunk(blocks, a, b, eps, max_points)
        lens.append(length)
        segs.append(seg + lo)
        ts.append(t)
        outs.append(out)
    sites = tuple(n for n, _ in prep.sites)

    def cat(parts):  # one chunk (the kernel's usual case): no copy
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    out = cat(outs).to(torch.float64).reshape(-1, *out_shape)
    tr = pl.PLTrace(cat(segs), cat(ts), {"output": out}, n_seg, sites)
    return tr, cat(lens).to(torch.float64)
