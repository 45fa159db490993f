"""Exact 1-D region counts: :func:`count_1d` (one segment or a batch) and
:func:`segments_through`."""

from __future__ import annotations

import warnings

import torch
from torch import nn

from depthlab import pl
from depthlab.probes import _memory
from depthlab.probes._guard import guard_probe
from depthlab.probes.regions import _one_d_fast
from depthlab.probes.regions._results import Regions1D, Regions1DBatch


@guard_probe(name="regions.count_1d")
def count_1d(
    model: nn.Module,
    start: torch.Tensor,
    end: torch.Tensor,
    *,
    batch: bool | None = None,
    dtype: torch.dtype = torch.float64,
    max_memory: int | str | None = None,
) -> Regions1D | Regions1DBatch:
    """Exact activation regions along one segment ``start -> end``, or along a batch of segments
    ``start[s] -> end[s]``.

    Parameters
    ----------
    model : piecewise-linear ``nn.Module`` (layers listed in :mod:`depthlab.pl`); not modified.
    start, end : one segment, ``(*input_shape)`` (e.g. ``(d,)``), or a batch,
        ``(S, *input_shape)`` (e.g. ``(S, d)``), of one shape.
    batch : whether ``start`` and ``end`` are a batch. By default it is read off their shape: a
        1-D tensor is one segment; otherwise the model's first rank-fixing layer
        (:func:`depthlab.pl.input_rank`: ``Linear`` -> 1, ``Conv1d`` -> 2, ``Conv2d`` -> 3) gives
        the per-sample rank ``r``, and ``r + 1`` dimensions are a batch. A model whose input rank
        is not fixed (a leading ``Flatten``) needs ``batch=`` for inputs of 2 or more dimensions.
    dtype : batches only: working precision of the Sequential engine: ``torch.float64``
        (default, exact reference) or ``torch.float32`` (faster; breakpoints to about 1e-6,
        near-degenerate crossings may be decided differently). The general engine, and one
        segment, always work in float64.
    max_memory : memory budget checked before tracing (bytes or ``"2GB"``; default
        ``DEPTHLAB_MAX_MEMORY`` or half the free memory): see :mod:`depthlab.probes._memory`.

    Returns
    -------
    Regions1D
        For one segment: ``n_regions`` pieces with their breakpoints ``t`` (float64) and
        activation patterns.
    Regions1DBatch
        For a batch: ``n_regions`` (S,), ``lengths`` and ``density`` per segment. All segments are
        traced together (in memory-bounded chunks): the fast path for Hanin-Rolnick-style
        densities ``n_regions[s] / ||end[s] - start[s]||``. An ``nn.Sequential`` of affine layers
        and elementwise nonlinearities (an MLP) takes the vectorised layer-by-layer engine; any
        other supported model the general engine :func:`depthlab.pl.trace_segments`. Both give
        the same pieces and breakpoints in float64.

    Examples
    --------
    >>> from depthlab.nets import sawtooth
    >>> count_1d(sawtooth(3), torch.tensor([0.0]), torch.tensor([1.0])).n_regions
    8
    >>> count_1d(sawtooth(3), torch.zeros(2, 1), torch.ones(2, 1)).n_regions.tolist()
    [8, 8]
    """
    if batch is None:
        batch = _is_batch(model, start, end)
    n_seg = (start.shape[0] if start.dim() else 0) if batch else 1
    example = (start[0] if batch else start).detach() if n_seg else None
    fast = None
    if batch and n_seg and start.shape == end.shape and start.dim() >= 2:
        fast = _one_d_fast.chunk_plan(model, example, n_seg, dtype)
    if fast is None:  # the general engine: every layer's output at every breakpoint at once
        _memory.check(  # a malformed or empty batch is named by the engines below, not here
            "regions.count_1d",
            model,
            points=_memory.exact_points(2 * n_seg, n_seg),
            example=example,
            param_factor=2.0,  # the float64 copy the tracer makes
            act_factor=4.0,  # every layer's output at every breakpoint, folded, candidates
            itemsize=8,
            lower="fewer segments per call or a smaller input",
            max_memory=max_memory,
        )
    else:
        # the torch engine keeps one chunk's values of one layer per point (values, slopes,
        # interpolated rows, candidates), the numba kernel one segment's plus the first layer's
        # values at a chunk's ends; both, the breakpoints and outputs of every segment
        chunk, width, n_out, kernel = fast
        units = _memory.forward_sizes(model, example)[1]
        all_points = _memory.exact_points(2 * n_seg, n_seg)(units)
        _memory.check(
            "regions.count_1d",
            model,
            points=2 * chunk if kernel else _memory.exact_points(2 * chunk, chunk),
            example=example,
            param_factor=2.0,
            act_factor=4.0,
            itemsize=8,
            activations=width + int(example.numel()) // max(chunk, 1) + 1,
            extra_bytes=all_points * (8 + 8 + 8 * n_out),  # t, segment, outputs
            lower="fewer segments per call or a smaller input",
            max_memory=max_memory,
        )
    if batch:
        return _count_batch(model, start, end, dtype)
    if dtype != torch.float64:
        raise ValueError(
            f"dtype={dtype} applies to batches only; one segment is traced in torch.float64"
        )
    if start.shape != end.shape or start.dim() == 0:
        raise ValueError(
            "start and end must be one segment's endpoints, (*input_shape) tensors of one "
            f"shape, got {tuple(start.shape)} and {tuple(end.shape)}"
        )
    return _count_one(model, start, end)


def _is_batch(model: nn.Module, start: torch.Tensor, end: torch.Tensor) -> bool:
    """Whether ``start``/``end`` are a batch of segments, read off their shape (see count_1d)."""
    if start.shape != end.shape or start.dim() == 0:
        raise ValueError(
            "start and end must be tensors of one shape, (*input_shape) for one segment or "
            f"(S >= 1, *input_shape) for a batch, got {tuple(start.shape)} and {tuple(end.shape)}"
        )
    if start.dim() == 1:
        return False
    rank = pl.input_rank(model)
    if rank is None:
        raise ValueError(
            f"cannot tell whether start of shape {tuple(start.shape)} is one input or a batch: "
            "the model's first layers do not fix its input rank; pass batch=True or batch=False"
        )
    if start.dim() not in (rank, rank + 1):
        raise ValueError(
            f"the model takes inputs of rank {rank}, so start must be (*input_shape) "
            f"({rank} dims) or (S, *input_shape) ({rank + 1} dims); got {tuple(start.shape)}"
        )
    return start.dim() == rank + 1


def _count_one(model: nn.Module, start: torch.Tensor, end: torch.Tensor) -> Regions1D:
    tr = pl.trace_segments(model, start[None], end[None], patterns=True)
    assert tr.patterns is not None
    return Regions1D(
        n_regions=int(tr.n_pieces[0]),
        breakpoints=tr.breakpoints(0),
        length=float((end.double() - start.double()).norm()),
        patterns=tr.patterns.flat(),
        outputs=tr.outputs["output"],
        sites=tr.sites,
    )


def _count_batch(
    model: nn.Module, starts: torch.Tensor, ends: torch.Tensor, dtype: torch.dtype
) -> Regions1DBatch:
    if starts.shape != ends.shape or starts.dim() < 2 or starts.shape[0] == 0:
        raise ValueError(
            "starts and ends must be (S >= 1, *input_shape) tensors of one shape, got "
            f"{tuple(starts.shape)} and {tuple(ends.shape)}"
        )
    fast = _one_d_fast.trace_segments_fast(model, starts, ends, dtype=dtype)
    if fast is not None:
        tr, lengths = fast
        return Regions1DBatch(tr.n_pieces, lengths, tr)
    tr = pl.trace_segments(model, starts, ends)
    lengths = (ends.double() - starts.double()).flatten(1).norm(dim=1).to(tr.t.device)
    return Regions1DBatch(tr.n_pieces, lengths, tr)


def count_1d_batch(
    model: nn.Module,
    starts: torch.Tensor,
    ends: torch.Tensor,
    *,
    dtype: torch.dtype = torch.float64,
) -> Regions1DBatch:
    """Deprecated alias of ``count_1d(model, starts, ends, batch=True, dtype=dtype)``; it goes
    in the next release. :func:`count_1d` takes a batch ``(S, *input_shape)`` itself."""
    warnings.warn(
        "count_1d_batch is deprecated and will be removed in the next release; count_1d takes "
        "a batch of segments too: count_1d(model, starts, ends) (batch=True to be explicit)",
        DeprecationWarning,
        stacklevel=2,
    )
    res = count_1d(model, starts, ends, batch=True, dtype=dtype)
    assert isinstance(res, Regions1DBatch)
    return res


def segments_through(
    x: torch.Tensor, n: int, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` segments between random pairs of distinct data points ``x`` (N, *input_shape)."""
    if x.shape[0] < 2:
        raise ValueError(f"need at least 2 data points to draw segments, got {x.shape[0]}")
    i = torch.randint(0, x.shape[0], (n,), generator=generator)
    j = (i + torch.randint(1, x.shape[0], (n,), generator=generator)) % x.shape[0]
    return x[i.to(x.device)], x[j.to(x.device)]
