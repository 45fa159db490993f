"""Fused numba kernel for exact 1-D regions of an ``nn.Sequential`` MLP (optional dependency).

This is a drop-in engine for :func:`depthlab.probes.regions._one_d_fast.trace_segments_fast`
(``kernel="numba"``; ``kernel="auto"``, the default behind :func:`depthlab.regions.count_1d` on a
batch, takes it when numba is installed, on a CPU, for at least :data:`AUTO_MIN_SEGMENTS`
segments). The pure-torch engine in
that module stays the reference: both implement the same decisions (the ``eps`` tolerance of a
crossing, the ``1e-14`` merge of points in one segment, :mod:`depthlab.pl`'s rules), in float64.

Algorithm (one segment at a time, all layers fused, no Python per segment)
------------------------------------------------------------------------
The blocks of :func:`~depthlab.probes.regions._one_d_fast.plan` are
``z_{k+1} = W_{k+1} phi_k(z_k) + c_{k+1}``. The first block is one matrix product of the two
endpoints of every segment of a chunk (BLAS calls outside the kernel, on blocks of
:data:`FIRST_BLOCK_ROWS` inputs converted to the working dtype, with the segments' lengths). After it the kernel
carries, per segment, the sorted points ``t_0 = 0 < ... < t_{P-1} = 1``, the pre-activations
``z_k`` at the points and, per interval between consecutive points, the slope ``dz_k/dt``
(``z_k`` is affine on each interval).

At nonlinearity ``k``:

1. crossings: unit ``j`` crosses kink ``c`` between points ``i, i+1`` iff ``z_ij - c`` and
   ``z_{i+1,j} - c`` have opposite sign bits and both exceed ``eps * max(max|z_k|, |c|)`` in
   absolute value (the segment's own largest ``|z_k|`` over its points); it sits at
   ``t* = t_i + (t_{i+1} - t_i) (z_ij - c) / (z_ij - z_{i+1,j})``. Crossings of one interval are
   sorted by ``t``; one within ``1e-14`` of an end of its interval or of the previous crossing
   of the interval is dropped (the merge rule of :mod:`depthlab.pl`). The pre-activations at a
   new point are the linear interpolation of its interval's ends.
2. the next block, without a matrix product per point: on each new interval ``phi_k`` is affine
   per unit, with slope ``sigma`` read at the interval's midpoint, so
   ``dz_{k+1}/dt = W_{k+1} (sigma * dz_k/dt)``. Within one interval of the previous stage
   ``dz_k/dt`` is constant and consecutive sub-intervals differ only in the units that crossed,
   so the slope is updated by one column of ``W_{k+1}`` per crossing (a rank-one update,
   ``O(n)``); a full matrix-vector product (skipping zero entries, the inactive ReLU units) is
   needed only at the first sub-interval of each previous interval. The values are then
   ``z_{k+1}(t_{m+1}) = z_{k+1}(t_m) + (t_{m+1} - t_m) dz_{k+1}/dt``, from
   ``z_{k+1}(0) = W_{k+1} phi_k(z_k(0)) + c_{k+1}``.

Lean step (one kink per unit, at 0: ReLU, LeakyReLU, abs; not on a narrow block before the
last, see :data:`DIRECT_BELOW`). When no value at the points lies inside the ``eps`` band of the
kink, no crossing was dropped by the merge rule, and every new point is
at least :data:`GAP` from its neighbours, the piece of each unit on a sub-interval is that of its
side at the old interval's left end, changed only by the unit's own crossing. Then step 2 needs
neither the values at the new points (no interpolated rows) nor a select and a comparison of all
units per sub-interval: it flips one unit per new point. Its products and updates are those of
the general step, so the results are the same bits (a test checks this on every segment);
otherwise the general step runs.

The last block, and every block from the first one narrower than :data:`DIRECT_BELOW` units on,
takes the values directly instead: ``phi_k`` at every point (both pieces computed, then a select,
which numba vectorises; a select of loads or a sign-chosen index is a branch or a gather per
unit) times ``W_{k+1}^T`` in one BLAS product. There the product per point is cheaper than the
per-point slope bookkeeping.

Cost per segment: the first layer's ``2 n_0 n_1`` products, then per stage ``k`` about
``(#points of stage k-1) * n_k * n_{k+1} / 2`` for the slope products and ``O(n)`` per new
point; the torch engine does ``#points * n_k * n_{k+1}`` per stage. Rounding: values are
accumulated along the segment (a few units in the last place per point), the same order as the
matrix products of the torch engine; decisions can differ from it only for a unit within that
rounding of the ``eps`` band or two crossings within it of the ``1e-14`` merge distance.

The kernel takes float64 (the reference arithmetic) or float32 arrays (numba compiles one
version per dtype). Without numba, :func:`available` is False and the torch engine is used.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from depthlab.probes._regions_jit import DIRECT_BELOW as DIRECT_BELOW
from depthlab.probes._regions_jit import make_kernel

try:  # optional dependency: pip install depthlab[fast]
    import numba
except ImportError:  # pragma: no cover - exercised by monkeypatching in the tests
    numba = None

__all__ = ["AUTO_MIN_SEGMENTS", "act_tables", "available", "trace_blocks", "worth_it"]


#: fewest segments for which ``kernel="auto"`` takes the kernel (its first call in a fresh
#: environment compiles it, seconds; numba caches the result on disk)
AUTO_MIN_SEGMENTS: int = 256


def available() -> bool:
    """Whether numba is installed (the kernel can run)."""
    return numba is not None


def worth_it(n_segments: int, device: torch.device) -> bool:
    """Whether ``kernel="auto"`` takes the kernel: numba installed, a CPU, and at least
    :data:`AUTO_MIN_SEGMENTS` segments."""
    return available() and device.type == "cpu" and n_segments >= AUTO_MIN_SEGMENTS


def act_tables(act: nn.Module, kinks: tuple[float, ...], n: int) -> tuple[np.ndarray, ...] | None:
    """Per-unit ``phi(z) = sigma[r, j] * z + beta[r, j]`` on the regions ``r`` between the sorted
    ``kinks`` of the elementwise ``act`` on ``n`` units, read off ``act`` itself (float64), or
    None if ``act`` is not affine between its kinks (checked at a third point per region)."""
    c = sorted(float(x) for x in kinks)
    if not c:
        return None
    m = len(c)
    probes = []  # three points inside each region
    for r in range(m + 1):
        if r == 0:
            lo = c[0] - 1.0
            probes += [lo, lo - 1.0, lo - 3.0]
        elif r == m:
            hi = c[-1] + 1.0
            probes += [hi, hi + 1.0, hi + 3.0]
        else:
            w = c[r] - c[r - 1]
            probes += [c[r - 1] + 0.25 * w, c[r - 1] + 0.5 * w, c[r - 1] + 0.75 * w]
    z = torch.tensor(probes, dtype=torch.float64)[:, None].expand(-1, n).contiguous()
    with torch.no_grad():
        h = act(z.clone()).to(torch.float64)
    z3, h3 = z.reshape(m + 1, 3, n), h.reshape(m + 1, 3, n)
    sigma = (h3[:, 1] - h3[:, 0]) / (z3[:, 1] - z3[:, 0])
    beta = h3[:, 0] - sigma * z3[:, 0]
    pred = sigma * z3[:, 2] + beta
    if not bool(torch.allclose(pred, h3[:, 2], rtol=1e-12, atol=1e-12)):
        return None
    return (
        np.asarray(c, dtype=np.float64),
        sigma.numpy().copy(),
        beta.numpy().copy(),
    )


#: the lean step (see the module docstring) needs new points at least this far (in ``t``) from
#: their neighbours, so that the piece of every unit at a midpoint is that of its side
GAP: float = 1e-9

#: in float32 (rounding about 6e-8 of the largest value), the lean step's gap and its band: no
#: value within ``LEAN_EPS32 * max|z|`` of the kink; otherwise the general step
GAP32: float = 1e-4
LEAN_EPS32: float = 1e-5


_KERNEL = None


def _kernel():
    global _KERNEL
    if _KERNEL is None:
        _KERNEL = make_kernel(numba)
    return _KERNEL


class Packed:
    """The blocks after the first, packed into flat arrays for the kernel."""

    def __init__(self, blocks, n0: int, dtype: np.dtype):
        dims, wts, biases, kinks, sigs, bets = [n0], [], [], [], [], []
        self.ok = True
        for bl in blocks:
            n = dims[-1]
            tables = act_tables(bl.act, bl.kinks, n) if bl.act is not None else None
            if tables is None:
                self.ok = False
                return
            c, sigma, beta = tables
            if bl.weight is None:
                w = np.eye(n)
                b = np.zeros(n)
            else:
                w = bl.weight.detach().cpu().double().numpy()
                b = bl.bias.detach().cpu().double().numpy()
            wts.append(np.ascontiguousarray(w.T).ravel())
            biases.append(b)
            kinks.append(c)
            sigs.append(sigma.ravel())
            bets.append(beta.ravel())
            dims.append(w.shape[0])

        def off(parts):
            return np.cumsum([0] + [len(x) for x in parts]).astype(np.int64)

        def cat(parts):
            return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)

        self.dims = np.asarray(dims, dtype=np.int64)
        self.wt, self.w_off = cat(wts), off(wts)
        self.bias, self.b_off = cat(biases), off(biases)
        self.kinks, self.k_off = cat(kinks), off(kinks)
        self.sig, self.bet, self.s_off = cat(sigs), cat(bets), off(sigs)


#: how many stages (summed over segments) took the lean step and how many the general one,
#: since :func:`reset_steps` (which ``trace_segments_fast`` calls first; for tests and
#: benchmarks)
LAST_STEPS: dict[str, int] = {"lean": 0, "general": 0}


def reset_steps() -> None:
    """Zero :data:`LAST_STEPS`."""
    LAST_STEPS.update(lean=0, general=0)


_POINTS_PER_SEGMENT = [64.0]  # of the last call: the next call's first output buffer

#: the first output buffer of a call is at most this large (bytes)
FIRST_BUFFER_BYTES: int = 2**28


def points_per_segment() -> float:
    """Points per segment of the kernel's last call (64 before any): the planning figure for
    the next call's buffers and chunks."""
    return _POINTS_PER_SEGMENT[0]


_PACKED: tuple | None = None  # (blocks, dtype, Packed) of the last call


#: rows per block of the first layer's product: the inputs are converted to the working dtype
#: one block at a time, so the converted copy stays in cache (measured on one core, 784-D
#: float32 inputs: the whole-chunk conversion cost 2.8 us per segment; 128-512 rows alike)
FIRST_BLOCK_ROWS: int = 256


def first_layer(
    first, a: torch.Tensor, b: torch.Tensor, dtype, offset: int = 0
) -> tuple[np.ndarray, ...]:
    """The first block's pre-activations at both ends of every segment, ``za, zb`` (S, n1),
    and the segment lengths ``||b - a||`` (S,), all in ``dtype``, from ``a, b`` ((S, n_in), CPU,
    any float dtype), converted block by block (:data:`FIRST_BLOCK_ROWS`). The products are
    torch's (its BLAS: 3.8 us per segment for both ends of a 784 -> 64 layer on one core
    here, against numpy's 5.6)."""
    tdt = torch.float64 if dtype == np.float64 else torch.float32
    a, b = a.detach(), b.detach()
    n_seg = a.shape[0]
    lengths = torch.empty(n_seg, dtype=tdt)
    if first.weight is not None:
        wt = first.weight.detach().to(device="cpu", dtype=tdt).T
        c = first.bias.detach().to(device="cpu", dtype=tdt)
        za = torch.empty(n_seg, wt.shape[1], dtype=tdt)
        zb = torch.empty(n_seg, wt.shape[1], dtype=tdt)
    else:
        za = torch.empty(a.shape, dtype=tdt)
        zb = torch.empty(a.shape, dtype=tdt)
    with torch.no_grad():
        for lo in range(0, n_seg, FIRST_BLOCK_ROWS):
            hi = min(lo + FIRST_BLOCK_ROWS, n_seg)
            ab = a[lo:hi].to(tdt)
            bb = b[lo:hi].to(tdt)
            torch.linalg.vector_norm(bb - ab, dim=1, out=lengths[lo:hi])
            if first.weight is not None:
                torch.mm(ab, wt, out=za[lo:hi])
                torch.mm(bb, wt, out=zb[lo:hi])
            else:
                za[lo:hi] = ab
                zb[lo:hi] = bb
        if first.weight is not None:
            za += c
            zb += c
    za, zb, lengths = za.numpy(), zb.numpy(), lengths.numpy()
    for z in (za, zb):  # a NaN or inf input shows in the first layer (cheaper than 784-D)
        bad = ~np.isfinite(z).all(axis=1)
        if bad.any():
            raise ValueError(
                f"segment {offset + int(np.argmax(bad))}: an end point has NaN or inf "
                f"coordinates (or gives them in the first layer); regions need finite inputs"
            )
    return za, zb, lengths


def trace_blocks(
    blocks,
    a: torch.Tensor,
    b: torch.Tensor,
    eps: float,
    dedup: float,
    max_points: int,
    dtype: torch.dtype | None = None,
    lean: bool = True,
    offset: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor] | None:
    """The kernel's form of ``_one_d_fast.trace_chunk``: breakpoints of segments ``a[s] -> b[s]``
    ((S, n_in), CPU) through ``blocks``, in ``dtype`` (float64 or float32; default: that of
    ``a``). Returns ``seg`` (P,) int64, ``t`` (P,) float64, the outputs (P, n_out) in
    ``dtype`` and the (S,) lengths ``||b[s] - a[s]||`` in ``dtype``, or None if the blocks do
    not suit the kernel (numba missing, or a nonlinearity it cannot tabulate). ``lean=False``
    turns the lean step off (the tests check that it gives the same bits). ``offset``: the
    index of ``a[0]`` in the caller's batch (for error messages). Raises ValueError for NaN or
    inf end points."""
    if numba is None or a.device.type != "cpu":
        return None
    dtype = a.dtype if dtype is None else dtype
    dtype = np.float64 if dtype == torch.float64 else np.float32
    first, rest = blocks[0], blocks[1:]
    if rest:  # check before the first layer's product (which is most of the cost)
        global _PACKED
        if _PACKED is not None and _PACKED[0] is blocks and _PACKED[1] == dtype:
            packed = _PACKED[2]  # the next chunk of the same call: blocks unchanged
        else:
            packed = Packed(rest, first.weight.shape[0] if first.weight is not None
                            else a.shape[1], dtype)  # fmt: skip
            _PACKED = (blocks, dtype, packed)
        if not packed.ok:
            return None
    za, zb, lengths = first_layer(first, a, b, dtype, offset)
    lengths = torch.from_numpy(lengths)
    n_seg = za.shape[0]
    if not rest:  # affine model: one piece per segment
        t = torch.tensor([0.0, 1.0], dtype=torch.float64).repeat(n_seg)
        out = torch.from_numpy(np.stack([za, zb], 1).reshape(2 * n_seg, -1))
        return torch.arange(n_seg).repeat_interleave(2), t, out, lengths
    kernel = _kernel()
    lean_eps, gap = (eps, GAP) if dtype == np.float64 else (max(eps, LEAN_EPS32), GAP32)
    za, zb = np.ascontiguousarray(za, dtype=dtype), np.ascontiguousarray(zb, dtype=dtype)
    n_out = int(packed.dims[-1])
    # output buffers sized from the points per segment of the previous call (a second buffer
    # and a concatenation cost about 1 us per segment when the first one is too small), at most
    # FIRST_BUFFER_BYTES (the estimate may come from another model; the buffers grow anyway)
    row_bytes = 8 + np.dtype(dtype).itemsize * n_out
    cap = int(1.2 * _POINTS_PER_SEGMENT[0] * n_seg) + 1024
    cap = max(min(cap, FIRST_BUFFER_BYTES // row_bytes, max_points), 1)
    counts = np.zeros(n_seg, dtype=np.int64)
    stats = np.zeros(2, dtype=np.int64)
    ts, zs = [], []
    s = 0
    total = 0
    while s < n_seg:
        out_t = np.empty(cap, dtype=np.float64)
        out_z = np.empty((cap, n_out), dtype=dtype)
        written, s_next = kernel(
            za, zb, packed.dims, packed.wt, packed.w_off, packed.bias, packed.b_off,
            packed.kinks, packed.k_off, packed.sig, packed.bet, packed.s_off,
            float(eps), float(dedup), s, out_t, out_z, counts, bool(lean), lean_eps, gap, stats,
        )  # fmt: skip
        total += written
        if s_next == s or total > max_points:
            if cap >= max_points or total > max_points:
                raise RuntimeError(
                    f"tracing needs more than max_points={max_points} points; raise max_points "
                    f"or trace fewer/shorter segments"
                )
            cap = min(2 * cap, max_points)
            continue
        ts.append(out_t[:written])
        zs.append(out_z[:written])
        s = s_next
    seg = torch.from_numpy(np.repeat(np.arange(n_seg), counts + 1))
    t = torch.from_numpy(ts[0] if len(ts) == 1 else np.concatenate(ts))
    out = torch.from_numpy(zs[0] if len(zs) == 1 else np.concatenate(zs))
    _POINTS_PER_SEGMENT[0] = total / max(n_seg, 1)
    LAST_STEPS["lean"] += int(stats[0])
    LAST_STEPS["general"] += int(stats[1])
    return seg, t, out, lengths
