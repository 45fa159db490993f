"""Exact linear (activation) regions of piecewise-linear networks in 1-D and 2-D, and the exact
distance to the nearest region boundary.

An *activation region* is a maximal connected set of inputs on which every nonlinearity is in the
same state (Hanin & Rolnick 2019, "Deep ReLU networks have surprisingly few activation patterns";
"Complexity of linear regions in deep networks"). On each region the network is affine.

- :func:`count_1d` / :func:`count_1d_batch`: exact breakpoints along segments, from the shared
  engine :mod:`depthlab.pl`.
- :func:`count_2d`: the exact partition of a square window (or triangle) of a plane into convex
  polygons. Each nonlinearity's units are applied in turn; for each unit, *all* current polygons
  are split by its zero set at once with tensor operations (no Python loop over regions). The
  unit's input is affine on every current polygon, so its values at the polygon vertices (shared,
  computed by the model's own forward, or interpolated along edges) decide the split exactly.
  A max pool is split output by output along the ties of each window's entries with its winner
  (a tournament over the entries, then a merge of the pieces with the same winner).
- :func:`distance_to_boundary`: ``min_j |z_j(x) - c_j| / ||grad_x z_j(x)||`` over units ``j`` and
  their kinks ``c_j`` (and ``|a_m - a_i| / ||grad (a_m - a_i)||`` over max-pool windows with
  winner ``m``); exact because the region is the convex polytope cut out by the local affine
  extensions of all units.

Everything runs in float64 on a deep copy of the model, on the model's device.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from depthlab import pl
from depthlab.probes import regions_1d


class RegionLimitError(RuntimeError):
    """``count_2d`` met more regions than ``max_regions``."""


# ---------------------------------------------------------------------------------------- 1-D


@dataclass(frozen=True)
class Regions1D:
    """Exact activation regions along one segment ``x(t) = start + t (end - start)``.

    Attributes
    ----------
    n_regions : number of pieces (regions met by the segment).
    breakpoints : (n_regions - 1,) float64 interior kink parameters ``t`` in (0, 1).
    length : Euclidean length of the segment in input space.
    patterns : (n_regions, units) int64 activation state of each piece (see
        :class:`depthlab.pl.Patterns`); ``sites`` names the nonlinear layers.
    outputs : (n_regions + 1, *out) model outputs at ``[0, breakpoints..., 1]``.
    """

    n_regions: int
    breakpoints: torch.Tensor
    length: float
    patterns: torch.Tensor = field(repr=False)
    outputs: torch.Tensor = field(repr=False)
    sites: tuple[str, ...] = field(repr=False, default=())

    @property
    def density(self) -> float:
        """Regions per unit length."""
        return self.n_regions / self.length if self.length > 0 else math.nan

    def to_frame(self) -> pd.DataFrame:
        """One row per piece: ``piece, t_start, t_end, pattern_hash``."""
        t = torch.cat(
            [self.breakpoints.new_zeros(1), self.breakpoints, self.breakpoints.new_ones(1)]
        )
        return pd.DataFrame(
            {
                "piece": np.arange(self.n_regions),
                "t_start": t[:-1].cpu().numpy(),
                "t_end": t[1:].cpu().numpy(),
                "pattern_hash": pattern_hash(self.patterns).cpu().numpy(),
            }
        )

    def __repr__(self) -> str:
        return f"Regions1D(n_regions={self.n_regions}, length={self.length:.4g})"


@dataclass(frozen=True)
class Regions1DBatch:
    """Exact region counts along many segments.

    Attributes
    ----------
    n_regions : (S,) int64 pieces per segment.
    lengths : (S,) float64 segment lengths in input space.
    trace : the underlying :class:`depthlab.pl.PLTrace` (breakpoints of every segment).
    """

    n_regions: torch.Tensor
    lengths: torch.Tensor
    trace: pl.PLTrace = field(repr=False)

    @property
    def density(self) -> torch.Tensor:
        """(S,) regions per unit length."""
        return self.n_regions.to(torch.float64) / self.lengths

    def to_frame(self) -> pd.DataFrame:
        """One row per segment: ``segment, n_regions, length, density``."""
        return pd.DataFrame(
            {
                "segment": np.arange(len(self.n_regions)),
                "n_regions": self.n_regions.cpu().numpy(),
                "length": self.lengths.cpu().numpy(),
                "density": self.density.cpu().numpy(),
            }
        )

    def __repr__(self) -> str:
        return (
            f"Regions1DBatch(segments={len(self.n_regions)}, "
            f"mean n_regions={float(self.n_regions.double().mean()):.4g})"
        )


def count_1d(model: nn.Module, start: torch.Tensor, end: torch.Tensor) -> Regions1D:
    """Exact activation regions met by the segment from ``start`` to ``end``.

    Parameters
    ----------
    model : piecewise-linear ``nn.Module`` (layers listed in :mod:`depthlab.pl`); not modified.
    start, end : (*input_shape) endpoints (no batch dimension).

    Returns
    -------
    Regions1D
        ``n_regions`` pieces with their breakpoints ``t`` (float64) and activation patterns.

    Examples
    --------
    >>> from depthlab.nets import sawtooth
    >>> count_1d(sawtooth(3), torch.tensor([0.0]), torch.tensor([1.0])).n_regions
    8
    """
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


def count_1d_batch(
    model: nn.Module,
    starts: torch.Tensor,
    ends: torch.Tensor,
    *,
    dtype: torch.dtype = torch.float64,
) -> Regions1DBatch:
    """Exact region counts along many segments ``starts[s] -> ends[s]``, (S, *input_shape).

    All segments are traced together (in memory-bounded chunks), so this is the fast path for
    Hanin-Rolnick-style densities: ``density[s] = n_regions[s] / ||ends[s] - starts[s]||``.

    An ``nn.Sequential`` of affine layers and elementwise nonlinearities (an MLP) takes the
    vectorised layer-by-layer engine :mod:`depthlab.probes.regions_1d`; any other supported
    model takes the general engine :func:`depthlab.pl.trace_segments`. Both give the same
    pieces and breakpoints in float64.

    Parameters
    ----------
    model : piecewise-linear ``nn.Module`` (layers listed in :mod:`depthlab.pl`); not modified.
    starts, ends : (S, *input_shape) segment endpoints.
    dtype : working precision of the Sequential engine: ``torch.float64`` (default, exact
        reference) or ``torch.float32`` (faster; breakpoints to about 1e-6, near-degenerate
        crossings may be decided differently). The general engine always works in float64.
    """
    if starts.shape != ends.shape or starts.dim() < 2 or starts.shape[0] == 0:
        raise ValueError(
            "starts and ends must be (S >= 1, *input_shape) tensors of one shape, got "
            f"{tuple(starts.shape)} and {tuple(ends.shape)}"
        )
    fast = regions_1d.trace_segments_fast(model, starts, ends, dtype=dtype)
    if fast is not None:
        tr, lengths = fast
        return Regions1DBatch(tr.n_pieces, lengths, tr)
    tr = pl.trace_segments(model, starts, ends)
    lengths = (ends.double() - starts.double()).flatten(1).norm(dim=1).to(tr.t.device)
    return Regions1DBatch(tr.n_pieces, lengths, tr)


def segments_through(
    x: torch.Tensor, n: int, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` segments between random pairs of distinct data points ``x`` (N, *input_shape)."""
    if x.shape[0] < 2:
        raise ValueError(f"need at least 2 data points to draw segments, got {x.shape[0]}")
    i = torch.randint(0, x.shape[0], (n,), generator=generator)
    j = (i + torch.randint(1, x.shape[0], (n,), generator=generator)) % x.shape[0]
    return x[i.to(x.device)], x[j.to(x.device)]


def pattern_hash(patterns: torch.Tensor) -> torch.Tensor:
    """A stable 31-bit hash of each row of an integer pattern matrix (R, U) -> (R,) int64.

    The weights come from a fixed-seed generator, so a pattern gets the same hash (and colour)
    in every run and on every device.
    """
    u = patterns.shape[1]
    g = torch.Generator().manual_seed(20190125)
    w = torch.randint(1, 2**31 - 1, (u,), generator=g, dtype=torch.int64).to(patterns.device)
    h = (patterns.to(torch.int64) + 1) * w
    return (h.sum(dim=1) * 2654435761 + u) % (2**31 - 1)


# ---------------------------------------------------------------------------------------- 2-D


@dataclass(frozen=True)
class Plane:
    """An affine 2-D slice of input space: ``x(u, v) = origin + u * basis[0] + v * basis[1]``.

    For three points the convention is regioncam's: ``basis`` is Gram-Schmidt of
    ``(p1 - p0, p2 - p0)`` and ``origin`` centres the points' bounding box in plane coordinates.
    """

    origin: torch.Tensor  # (*input_shape)
    basis: torch.Tensor  # (2, *input_shape), orthonormal rows (identity for 2-D inputs)

    @classmethod
    def through(cls, points: torch.Tensor) -> Plane:
        p = points.double()
        flat = p.flatten(1)
        e1 = flat[1] - flat[0]
        e1 = e1 / e1.norm()
        e2 = flat[2] - flat[0]
        e2 = e2 - (e2 @ e1) * e1
        if float(e2.norm()) < 1e-12 * float(flat.norm()):
            raise ValueError("the three points are collinear; they do not span a plane")
        e2 = e2 / e2.norm()
        basis = torch.stack([e1, e2])
        uv = (flat - flat[0]) @ basis.T  # (3, 2)
        centre = 0.5 * (uv.min(0).values + uv.max(0).values)
        origin = flat[0] + centre @ basis
        return cls(origin.view(p.shape[1:]), basis.view(2, *p.shape[1:]))

    def coords(self, x: torch.Tensor) -> torch.Tensor:
        """Plane coordinates (B, 2) of points (B, *input_shape) (orthogonal projection)."""
        d = (x.double() - self.origin).flatten(1)
        return d @ self.basis.flatten(1).T

    def embed(self, uv: torch.Tensor) -> torch.Tensor:
        """Input points (B, *input_shape) of plane coordinates (B, 2)."""
        flat = self.origin.flatten() + uv @ self.basis.flatten(1)
        return flat.view(uv.shape[0], *self.origin.shape)


@dataclass(frozen=True)
class Regions2D:
    """The exact activation-region partition of a convex window of a plane.

    Attributes
    ----------
    n_regions : number of regions (faces) R.
    vertices : (V, 2) float64 vertex coordinates in the plane (shared between faces).
    faces : (R, M) int64 vertex indices of each convex polygon, counter-clockwise, padded with -1.
    n_vertices_per_face : (R,) int64.
    areas : (R,) float64 polygon areas (shoelace formula).
    patterns : (R, units) activation state of each region (``None`` if not asked for): int8
        (ReLU-like units), or int32 when there is a max pool (its units are the pool outputs,
        each state the winner's index in its channel's spatial input, as ``return_indices``).
    plane : the :class:`Plane` (plane coordinates -> input space).
    window : the window polygon's vertices (K, 2).
    sites : nonlinear layer names in call order.
    """

    n_regions: int
    vertices: torch.Tensor = field(repr=False)
    faces: torch.Tensor = field(repr=False)
    n_vertices_per_face: torch.Tensor = field(repr=False)
    areas: torch.Tensor = field(repr=False)
    patterns: torch.Tensor | None = field(repr=False)
    plane: Plane = field(repr=False)
    window: torch.Tensor = field(repr=False)
    sites: tuple[str, ...] = field(repr=False, default=())

    @property
    def polygons(self) -> list[torch.Tensor]:
        """One (k, 2) vertex array per region, counter-clockwise."""
        v = self.vertices.cpu()
        f = self.faces.cpu()
        n = self.n_vertices_per_face.cpu().tolist()
        return [v[f[r, : n[r]]] for r in range(self.n_regions)]

    @property
    def centroids(self) -> torch.Tensor:
        """(R, 2) mean of each polygon's vertices: an interior point of the convex region."""
        mask = self.faces >= 0
        xy = self.vertices[self.faces.clamp(min=0)] * mask[..., None]
        return xy.sum(1) / mask.sum(1, keepdim=True)

    @property
    def edges(self) -> torch.Tensor:
        """(E, 2) unique undirected edges (vertex index pairs) of the subdivision."""
        f = self.faces
        n = self.n_vertices_per_face
        k = torch.arange(f.shape[1], device=f.device)
        valid = k[None, :] < n[:, None]
        nxt = f.gather(1, ((k[None, :] + 1) % n[:, None]).clamp(min=0))
        a, b = f[valid], nxt[valid]
        pairs = torch.stack([torch.minimum(a, b), torch.maximum(a, b)], 1)
        return torch.unique(pairs, dim=0)

    @property
    def window_area(self) -> float:
        return float(_shoelace(self.window[None], torch.tensor([len(self.window)]))[0])

    def euler_characteristic(self) -> int:
        """``V - E + F`` of the subdivision (without the outer face); 1 for a valid partition."""
        used = torch.unique(self.faces[self.faces >= 0]).numel()
        return int(used - self.edges.shape[0] + self.n_regions)

    def to_frame(self) -> pd.DataFrame:
        """One row per region: ``region, area, n_vertices, u, v`` (centroid), ``pattern_hash``."""
        c = self.centroids.cpu().numpy()
        df = pd.DataFrame(
            {
                "region": np.arange(self.n_regions),
                "area": self.areas.cpu().numpy(),
                "n_vertices": self.n_vertices_per_face.cpu().numpy(),
                "u": c[:, 0],
                "v": c[:, 1],
            }
        )
        if self.patterns is not None:
            df["pattern_hash"] = pattern_hash(self.patterns).cpu().numpy()
        return df

    def __repr__(self) -> str:
        return f"Regions2D(n_regions={self.n_regions}, window_area={self.window_area:.4g})"


def _shoelace(xy: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    """Areas of padded polygons ``xy`` (R, M, 2) with ``n`` (R,) valid vertices each."""
    m = xy.shape[1]
    k = torch.arange(m, device=xy.device)
    nxt = ((k[None, :] + 1) % n[:, None].to(xy.device)).clamp(min=0)
    valid = k[None, :] < n[:, None].to(xy.device)
    x, y = xy[..., 0], xy[..., 1]
    xn, yn = x.gather(1, nxt), y.gather(1, nxt)
    return 0.5 * ((x * yn - xn * y) * valid).sum(1)


class _Stop(Exception):
    def __init__(self, z: torch.Tensor) -> None:
        super().__init__()
        self.z = z


def _site_inputs(
    prep: pl.Prepared, plane: Plane, uv: torch.Tensor, site: int, chunk_elements: int
) -> tuple[torch.Tensor, tuple[int, ...]]:
    """Input of the ``site``-th nonlinearity call at plane points ``uv`` (V, 2) -> (V, units),
    and its per-point shape (e.g. ``(C, H, W)`` before a max pool)."""
    mods = {id(m): m for _, m in prep.sites}
    calls = [0]
    shape: list[tuple[int, ...]] = []

    def pre(mod, inputs) -> None:
        if calls[0] == site:
            shape[:] = [tuple(inputs[0].shape[1:])]
            raise _Stop(inputs[0].flatten(1))
        calls[0] += 1

    per = max(1, math.prod(plane.origin.shape))
    chunk = max(1, chunk_elements // per)
    out = []
    handles = [m.register_forward_pre_hook(pre) for m in mods.values()]
    basis = plane.basis
    try:
        with pl.folded(prep, plane.origin[None], basis[:1], basis[1:]) as encode:
            if encode is not None:  # an affine first layer is folded: no need to form the inputs
                chunk = max(1, chunk_elements // 64)
            for lo in range(0, uv.shape[0], chunk):
                calls[0] = 0
                part = uv[lo : lo + chunk]
                x = (
                    plane.embed(part)
                    if encode is None
                    else encode(part.new_zeros(part.shape[0]), part[:, 0], part[:, 1])
                )
                try:
                    with torch.no_grad():
                        prep.net(x)
                except _Stop as s:
                    out.append(s.z)
                else:  # pragma: no cover - sites come from a forward of the same model
                    raise RuntimeError(f"nonlinearity #{site} was not reached")
    finally:
        for h in handles:
            h.remove()
    return torch.cat(out), shape[0]


class _Rows:
    """A growable (n, *rest) tensor with doubling capacity."""

    def __init__(self, t: torch.Tensor) -> None:
        self.buf, self.n = t, t.shape[0]

    @property
    def data(self) -> torch.Tensor:
        return self.buf[: self.n]

    def append(self, rows: torch.Tensor) -> None:
        k = rows.shape[0]
        if self.n + k > self.buf.shape[0]:
            cap = max(2 * self.buf.shape[0], self.n + k, 16)
            new = self.buf.new_empty((cap, *self.buf.shape[1:]))
            new[: self.n] = self.buf[: self.n]
            self.buf = new
        self.buf[self.n : self.n + k] = rows
        self.n += k

    def widen(self, cols: int, fill) -> None:
        if cols > self.buf.shape[1]:
            pad = self.buf.new_full((self.buf.shape[0], cols - self.buf.shape[1]), fill)
            self.buf = torch.cat([self.buf, pad], 1)

    def keep(self, mask: torch.Tensor) -> None:
        """Drop the rows where ``mask`` (n,) is False."""
        self.buf = self.data[mask]
        self.n = self.buf.shape[0]


def count_2d(
    model: nn.Module,
    points: torch.Tensor | None = None,
    *,
    window: Sequence[float] | None = None,
    domain: str = "square",
    scale: float = 1.5,
    max_regions: int | None = 5_000_000,
    patterns: bool = True,
    eps: float = pl.EPS,
    chunk_elements: int = 2**24,
) -> Regions2D:
    """The exact activation regions of ``model`` on a 2-D window.

    Parameters
    ----------
    model : piecewise-linear ``nn.Module`` (see :mod:`depthlab.pl`, MaxPool1d/2d included); not
        modified. Computed in float64 on the model's device.
    points : (3, *input_shape) three inputs spanning the plane (e.g. three training images), or
        ``None`` for a model with 2 inputs (the plane is the input space itself).
    window : ``(u_min, u_max, v_min, v_max)`` in plane coordinates. Default: for three points a
        square of half-width ``scale * max |coordinate of the points|`` around the origin (the
        regioncam convention); for 2-D inputs ``[-1, 1]^2``.
    domain : ``"square"`` (the window) or ``"triangle"`` (the triangle of the three points).
    max_regions : raise :class:`RegionLimitError` once more regions than this appear.
    patterns : keep each region's activation pattern (R x units; int8, or int32 when the model
        has a max pool, whose state per output is the winning entry's spatial index).
    eps : relative tolerance for a vertex to count as lying on a unit's kink.

    Returns
    -------
    Regions2D
        ``n_regions``, ``polygons``, ``areas`` and ``patterns``.

    Notes
    -----
    A max pool output ``max(a_1 .. a_K)`` splits the plane where the winning entry changes, i.e.
    along the ties ``a_m = a_i`` with the winner ``m``; see :func:`_pool_site` for the exact
    tournament-and-merge construction (each region keeps one pattern; no over-splitting).

    Shallow ReLU nets with ``N`` units on a 2-D input have at most ``1 + N + C(N, 2)`` regions;
    Hanin & Rolnick (2019b) find the count per unit area grows like ``N^2`` whatever the depth.
    """
    if points is None:
        example = torch.zeros(2, dtype=torch.float64)
        prep = pl.prepare(model, example)
        dev = prep.device
        plane = Plane(
            torch.zeros(2, dtype=torch.float64, device=dev),
            torch.eye(2, dtype=torch.float64, device=dev),
        )
        win = (-1.0, 1.0, -1.0, 1.0) if window is None else tuple(map(float, window))
        if domain != "square":
            raise ValueError(f"domain={domain!r} needs three points; allowed without: 'square'")
        pts_uv = None
    else:
        if points.shape[0] != 3:
            raise ValueError(f"points must be (3, *input_shape); got {tuple(points.shape)}")
        prep = pl.prepare(model, points[0])
        dev = prep.device
        p = points.detach().to(device=dev, dtype=torch.float64)
        plane = Plane.through(p)
        pts_uv = plane.coords(p)
        h = scale * float(pts_uv.abs().max())
        win = (-h, h, -h, h) if window is None else tuple(map(float, window))
    if len(win) != 4 or not (win[0] < win[1] and win[2] < win[3]):
        raise ValueError(f"window must be (u_min, u_max, v_min, v_max) with min < max; got {win}")
    if domain == "square":
        corners = torch.tensor(
            [[win[0], win[2]], [win[1], win[2]], [win[1], win[3]], [win[0], win[3]]],
            dtype=torch.float64,
            device=dev,
        )
    elif domain == "triangle":
        assert pts_uv is not None
        corners = pts_uv.clone()
        if float(_shoelace(corners[None], torch.tensor([3]))[0]) < 0:
            corners = corners.flip(0)
    else:
        raise ValueError(f"domain={domain!r}; allowed: 'square', 'triangle'")

    k0 = corners.shape[0]
    verts = _Rows(corners.clone())
    faces = _Rows(torch.arange(k0, device=dev)[None].clone())
    nv = _Rows(torch.tensor([k0], device=dev))
    # units per site, known after the first forward to each site
    codes: _Rows | None = None
    code_blocks: list[int] = []
    site_names = tuple(n for n, _ in prep.sites)
    has_pool = any(isinstance(m, pl.POOL_LAYERS) for _, m in prep.sites)
    code_dtype = torch.int32 if has_pool else torch.int8  # max-pool states are window indices

    for site, (sname, mod) in enumerate(prep.sites):
        z0, in_shape = _site_inputs(prep, plane, verts.data, site, chunk_elements)  # (V, U)
        zrows = _Rows(z0)
        pool = _pool_windows(mod, in_shape, dev) if isinstance(mod, pl.POOL_LAYERS) else None
        n_units = z0.shape[1] if pool is None else pool[0].shape[0]
        col0 = sum(code_blocks)
        code_blocks.append(n_units)
        if patterns:
            block = torch.zeros((faces.n, n_units), dtype=code_dtype, device=dev)
            codes = _Rows(block) if codes is None else _Rows(torch.cat([codes.data, block], 1))
        if pool is not None:
            tol = eps * max(float(z0.abs().max()), 1e-300)
            _pool_site(
                verts, faces, nv, zrows, codes, col0, *pool, tol, k0, max_regions, sname,
                chunk_elements,
            )  # fmt: skip
            continue
        for c in pl.thresholds(mod):
            tol = eps * max(float((z0 - c).abs().max()), 1e-300)
            any_pos, any_neg = _face_sides(faces.data, nv.data, zrows.data, c, tol)
            # (R, W) int64 bit sets: the units that may cut each polygon
            cand = _Rows(any_pos & any_neg)
            if codes is not None:
                codes.buf[: codes.n, col0 : col0 + n_units] += _unpack(
                    any_pos & ~any_neg, n_units
                ).to(code_dtype)
            del any_pos, any_neg
            for j in range(n_units):
                word, bit = divmod(j, 64)
                rows = torch.nonzero((cand.data[:, word] >> bit) & 1).squeeze(1)
                if rows.numel() == 0:
                    continue
                _split_rows(verts, faces, nv, zrows, codes, cand, rows, j, c, tol, col0 + j)
                if max_regions is not None and faces.n > max_regions:
                    raise RegionLimitError(
                        f"count_2d exceeded max_regions={max_regions} at layer {sname!r} "
                        f"unit {j}; raise max_regions or use a smaller window"
                    )
    f = faces.data
    n = nv.data
    m = int(n.max())
    f = f[:, :m].clone()
    xy = verts.data[f.clamp(min=0)]
    areas = _shoelace(xy, n)
    return Regions2D(
        n_regions=f.shape[0],
        vertices=verts.data.clone(),
        faces=f,
        n_vertices_per_face=n.clone(),
        areas=areas,
        patterns=None if codes is None else codes.data.clone(),
        plane=plane,
        window=corners,
        sites=site_names,
    )


def _pack(bits: torch.Tensor) -> torch.Tensor:
    """(N, U) bool -> (N, ceil(U / 64)) int64 bit sets (bit j % 64 of word j // 64)."""
    n, u = bits.shape
    w = (u + 63) // 64
    full = torch.zeros((n, w * 64), dtype=torch.int64, device=bits.device)
    full[:, :u] = bits.to(torch.int64)
    shifts = torch.arange(64, dtype=torch.int64, device=bits.device)
    return (full.view(n, w, 64) << shifts).sum(-1)  # distinct bits: the sum is the OR


def _unpack(words: torch.Tensor, u: int) -> torch.Tensor:
    """(N, W) int64 bit sets -> (N, U) bool."""
    shifts = torch.arange(64, dtype=torch.int64, device=words.device)
    return ((words[:, :, None] >> shifts) & 1).view(words.shape[0], -1)[:, :u].bool()


def _face_sides(
    f: torch.Tensor, n: torch.Tensor, z: torch.Tensor, c: float, tol: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per polygon, the bit sets of units with some vertex above ``c + tol`` / below ``c - tol``."""
    pos = _pack(z - c > tol)  # (V, W)
    neg = _pack(z - c < -tol)
    r, m = f.shape
    acc_p = torch.zeros((r, pos.shape[1]), dtype=torch.int64, device=f.device)
    acc_n = torch.zeros_like(acc_p)
    for k in range(m):
        ok = (k < n)[:, None]
        idx = f[:, k].clamp(min=0)
        acc_p |= torch.where(ok, pos[idx], 0)
        acc_n |= torch.where(ok, neg[idx], 0)
    return acc_p, acc_n


def _split_rows(
    verts: _Rows,
    faces: _Rows,
    nv: _Rows,
    z: _Rows,
    codes: _Rows | None,
    cand: _Rows,
    r: torch.Tensor,
    unit: int,
    c: float,
    tol: float,
    col: int,
) -> None:
    """Split polygons ``r`` by ``z[:, unit] = c`` at once; the + side keeps the row (code + 1),
    the - side is appended (and inherits the row's codes and candidate units)."""
    fr = faces.buf[r]  # (C, M)
    nr = nv.buf[r]
    m = fr.shape[1]
    k = torch.arange(m, device=fr.device)
    validr = k[None, :] < nr[:, None]
    val = z.buf[fr.clamp(min=0), unit] - c  # (C, M)
    sr = (val > tol).to(torch.int8) - (val < -tol).to(torch.int8)
    sr = sr * validr
    pos = (sr > 0).any(1)
    neg = (sr < 0).any(1)
    cut = pos & neg
    if codes is not None:
        codes.buf[r[pos & ~neg], col] += 1
    if not bool(cut.all()):
        r, fr, nr, sr, validr = r[cut], fr[cut], nr[cut], sr[cut], validr[cut]
        if r.numel() == 0:
            return
    _cut(verts, faces, nv, z, codes, cand, r, fr, nr, sr, validr, unit, c, None)
    if codes is not None:
        codes.buf[r, col] += 1


def _cut(
    verts: _Rows,
    faces: _Rows,
    nv: _Rows,
    z: _Rows,
    codes: _Rows | None,
    cand: _Rows,
    r: torch.Tensor,
    fr: torch.Tensor,
    nr: torch.Tensor,
    sr: torch.Tensor,
    validr: torch.Tensor,
    unit: int,
    c: float,
    ref: torch.Tensor | None,
) -> None:
    """Cut polygons ``r`` (each has vertices of both signs ``sr``) along the zero line of
    ``g = z[:, unit] - c`` (or ``z[:, unit] - z[:, ref[i]]`` for row ``i`` when ``ref`` is given).

    The + side keeps the row; the - side is appended as a new row (in the order of ``r``) and
    inherits the row's codes and candidate bits. Crossing vertices are shared through their edge
    key, so the mesh stays conforming.
    """
    dev = fr.device
    m = fr.shape[1]
    k = torch.arange(m, device=dev)
    nxt = (k[None, :] + 1) % nr[:, None]  # (C, M)
    crossing = validr & (sr * sr.gather(1, nxt) < 0)  # edge k -> k+1 changes side
    a = fr[crossing]
    b = fr.gather(1, nxt)[crossing]
    big = verts.n + 1
    key = torch.minimum(a, b) * big + torch.maximum(a, b)
    ukey, inv = torch.unique(key, return_inverse=True)
    ua, ub = ukey // big, ukey % big
    if ref is None:
        za, zb = z.buf[ua, unit] - c, z.buf[ub, unit] - c
    else:  # the cut of the first row (in order) that crosses the edge: deterministic
        rowpos = torch.arange(fr.shape[0], device=dev)[:, None].expand_as(fr)[crossing]
        first = torch.full_like(ukey, fr.shape[0]).scatter_reduce_(0, inv, rowpos, "amin")
        rr = ref[first]
        za = z.buf[ua, unit] - z.buf[ua, rr]
        zb = z.buf[ub, unit] - z.buf[ub, rr]
    s = (za / (za - zb))[:, None]  # exact crossing fraction along edge ua -> ub
    va, vb = verts.buf[ua], verts.buf[ub]
    base = verts.n
    verts.append(va + s * (vb - va))
    zua = z.buf[ua]
    z.append(zua + s * (z.buf[ub] - zua))
    new_id = torch.full_like(fr, -1)
    new_id[crossing] = base + inv
    # interleave: slot 2k = vertex k, slot 2k + 1 = the crossing on edge k
    seq = torch.stack([fr, new_id], 2).reshape(-1, 2 * m)
    s2 = torch.stack([sr, sr.new_zeros(sr.shape)], 2).reshape(-1, 2 * m)
    v2 = torch.stack([validr, crossing], 2).reshape(-1, 2 * m)
    keep_p = v2 & (s2 >= 0)  # crossings carry s2 = 0 and go to both sides
    keep_m = v2 & (s2 <= 0)
    n_cut = seq.shape[0]
    both, n_both = _compact(torch.cat([seq, seq]), torch.cat([keep_p, keep_m]))
    faces.widen(both.shape[1], -1)
    both = torch.nn.functional.pad(both, (0, faces.buf.shape[1] - both.shape[1]), value=-1)
    faces.buf[r] = both[:n_cut]  # + side keeps the row
    nv.buf[r] = n_both[:n_cut]
    faces.append(both[n_cut:])  # - side is a new row
    nv.append(n_both[n_cut:])
    cand.append(cand.buf[r])
    if codes is not None:
        codes.append(codes.buf[r])  # advanced indexing copies


def _compact(seq: torch.Tensor, keep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-align the kept entries of each row (order preserved); pad with -1."""
    cnt = keep.sum(1)
    w = int(cnt.max())
    pos = torch.cumsum(keep, 1) - 1
    out = torch.full((seq.shape[0], w + 1), -1, dtype=seq.dtype, device=seq.device)
    pos = torch.where(keep, pos, torch.full_like(pos, w))  # dropped entries go to a spare column
    out.scatter_(1, pos, seq)
    return out[:, :w], cnt


# ------------------------------------------------------------------------------- max pooling


def _pool_windows(
    mod: nn.Module, shape: tuple[int, ...], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The entries of every pooling window of ``mod`` (MaxPool1d/2d) on inputs of ``shape``.

    Returns
    -------
    win : (O, K) int64 flat indices into the flattened input ``(C * prod(spatial))``, valid
        entries first, ``-1`` for padding; O = number of pool outputs in ``output.flatten(1)``
        order, K = kernel size.
    spatial : (O, K) int64 the same entries as indices into one channel's spatial input (what
        ``return_indices=True`` reports, i.e. the activation state), ``-1`` for padding.
    n_valid : (O,) int64 number of valid entries of each window (at least 1).
    """
    from torch.nn.modules.utils import _pair, _single

    tup = _single if isinstance(mod, nn.MaxPool1d) else _pair
    dims = 1 if isinstance(mod, nn.MaxPool1d) else 2
    ksz, std = tup(mod.kernel_size), tup(mod.stride if mod.stride is not None else mod.kernel_size)
    pad, dil = tup(mod.padding), tup(mod.dilation)
    spatial = shape[-dims:]
    chans = math.prod(shape[:-dims])
    fn = F.max_pool1d if dims == 1 else F.max_pool2d
    gen = torch.Generator().manual_seed(0)  # a fixed probe; the global RNG is left alone
    probe = torch.randn((2, chans, *spatial), dtype=torch.float64, generator=gen).to(device)
    ref, ref_idx = fn(probe, ksz, std, pad, dil, ceil_mode=mod.ceil_mode, return_indices=True)
    out_sp = ref.shape[2:]
    pos, ok = [], []
    for d in range(dims):
        start = torch.arange(out_sp[d], device=device) * std[d] - pad[d]
        p = start[:, None] + torch.arange(ksz[d], device=device)[None] * dil[d]  # (out_d, k_d)
        pos.append(p)
        ok.append((p >= 0) & (p < spatial[d]))
    if dims == 1:
        sp, valid = pos[0], ok[0]
    else:  # (oh, ow, kh, kw) -> (oh * ow, kh * kw)
        sp = pos[0][:, None, :, None] * spatial[1] + pos[1][None, :, None, :]
        valid = ok[0][:, None, :, None] & ok[1][None, :, None, :]
        sp = sp.reshape(out_sp[0] * out_sp[1], -1)
        valid = valid.reshape(out_sp[0] * out_sp[1], -1)
    order = torch.argsort((~valid).to(torch.int8), dim=1, stable=True)  # valid entries first
    sp, valid = sp.gather(1, order), valid.gather(1, order)
    sp = torch.where(valid, sp, -1)
    n_sp = math.prod(spatial)
    ch = torch.arange(chans, device=device)[:, None, None] * n_sp  # outputs: channel-major
    win = torch.where(valid[None], sp[None] + ch, -1).reshape(-1, sp.shape[1])
    sp = sp[None].expand(chans, -1, -1).reshape(-1, sp.shape[1])
    # self-check against PyTorch's own pooling (catches any ceil_mode / padding corner case)
    vals = probe.flatten(1)[:, win.clamp(min=0)].masked_fill(win < 0, -math.inf)
    best = vals.argmax(-1)
    if not (
        torch.equal(vals.max(-1).values, ref.flatten(1))
        and torch.equal(sp.gather(1, best.T).T, ref_idx.flatten(1))
    ):  # pragma: no cover - a guard, not a code path
        raise pl.UnsupportedLayerError(
            f"{type(mod).__name__} with these settings ({mod}) is not reproduced exactly"
        )
    return win, sp, (win >= 0).sum(1)


def _pool_vertex_states(
    z: torch.Tensor, win: torch.Tensor, tol: float, chunk_elements: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per vertex and pool output: the running-maximum record bits (V, O, ceil(K / 64)), a
    near-tie flag (V, O) and the argmax position (V, O).

    With entries ``a_0 .. a_{K-1}`` of a window and ``M_j = max(a_0 .. a_j)``, bit ``j`` of
    ``key`` is ``a_j > M_{j-1} + tol``; ``tie`` flags ``|a_j - M_{j-1}| <= tol`` for some ``j``.
    A polygon whose vertices share ``key`` without ties is never cut by the tournament in
    :func:`_pool_site` (each comparison is affine on it, with the same strict sign at all
    vertices), so its pool output has one winner on the whole polygon.
    """
    n_out, kk = win.shape
    valid = win >= 0
    idx = win.clamp(min=0)
    n_words = (kk + 63) // 64
    step = max(1, chunk_elements // max(1, n_out * kk))
    keys, ties, bests = [], [], []
    for lo in range(0, z.shape[0], step):
        a = z[lo : lo + step][:, idx].masked_fill(~valid, -math.inf)  # (c, O, K)
        run = a[..., 0]
        key = torch.zeros((*run.shape, n_words), dtype=torch.int64, device=z.device)
        tie = torch.zeros(run.shape, dtype=torch.bool, device=z.device)
        for j in range(1, kk):
            d = a[..., j] - run
            key[..., j // 64] |= (d > tol).to(torch.int64) << (j % 64)
            tie |= d.abs() <= tol
            run = torch.maximum(run, a[..., j])
        keys.append(key)
        ties.append(tie)
        bests.append(a.argmax(-1))
    return torch.cat(keys), torch.cat(ties), torch.cat(bests)


def _pool_candidates(
    f: torch.Tensor, n: torch.Tensor, key: torch.Tensor, tie: torch.Tensor, chunk_elements: int
) -> torch.Tensor:
    """(R, ceil(O / 64)) bit sets: the pool outputs whose winner may change inside each polygon
    (its vertices disagree on the record bits, or one of them is a near-tie)."""
    r, m = f.shape
    n_out = key.shape[1]
    out = torch.zeros((r, (n_out + 63) // 64), dtype=torch.int64, device=f.device)
    step = max(1, chunk_elements // max(1, n_out))
    for lo in range(0, r, step):
        fr, nr = f[lo : lo + step], n[lo : lo + step]
        k0 = key[fr[:, 0]]
        diff = tie[fr[:, 0]].clone()
        for j in range(1, m):
            idx = fr[:, j].clamp(min=0)
            diff |= (j < nr)[:, None] & ((key[idx] != k0).any(-1) | tie[idx])
        out[lo : lo + step] = _pack(diff)
    return out


def _pool_site(
    verts: _Rows,
    faces: _Rows,
    nv: _Rows,
    z: _Rows,
    codes: _Rows | None,
    col0: int,
    win: torch.Tensor,
    spatial: torch.Tensor,
    n_valid: torch.Tensor,
    tol: float,
    n_fixed: int,
    limit: int | None,
    where: str,
    chunk_elements: int,
) -> None:
    """Split the mesh by a max pool's argmax partition, output by output, exactly.

    For one pool output with window entries ``a_0 .. a_{K-1}`` (each affine on every current
    polygon), every candidate polygon runs a tournament: its winner ``w`` starts at entry 0 and
    for ``j = 1 .. K-1`` the polygon is cut along ``a_j = a_w`` exactly like a ReLU unit along
    ``z = 0`` (the ``a_j > a_w`` side gets winner ``j``). The winner is then ``argmax_j a_j`` on
    every piece. The intermediate cuts can over-split (a line ``a_1 = a_0`` goes on through the
    part where ``a_2`` wins), so afterwards the pieces of one original polygon that share a
    winner are merged: their union ``polygon ∩ {a_w >= a_j for all j}`` is convex; its boundary
    is the pieces' edges that are not shared between two of them, ordered by angle around the
    boundary vertices' mean. The winner along any edge depends only on the point, not on the
    polygon, so both polygons next to an edge are cut at the same crossing vertices and the mesh
    stays conforming. Collinear degree-2 vertices left by the merges are removed at the end.
    """
    dev = faces.buf.device
    n_out, kk = win.shape
    key, tie, best = _pool_vertex_states(z.data, win, tol, chunk_elements)
    cand = _Rows(_pool_candidates(faces.data, nv.data, key, tie, chunk_elements))
    if codes is not None:  # polygons with one winner: the winner at their first vertex
        first = faces.data[:, 0]
        codes.buf[: codes.n, col0 : col0 + n_out] = spatial.gather(1, best[first].T).T.to(
            codes.buf.dtype
        )
    del key, tie, best
    n_dead = 0
    nval = n_valid.tolist()
    win_host = win.tolist()  # no device sync per stage
    n_cols = z.buf.shape[1]
    for o in range(n_out):
        if nval[o] < 2:
            continue
        word, bit = divmod(o, 64)
        g = torch.nonzero((cand.data[:, word] >> bit) & 1).squeeze(1)
        if g.numel() == 0:
            continue
        par = g.clone()
        w = torch.zeros_like(g)  # the current winner's position in the window
        wo = win[o]
        for j in range(1, nval[o]):
            uj = win_host[o][j]
            fr = faces.buf[g]
            nr = nv.buf[g]
            m = fr.shape[1]
            validr = torch.arange(m, device=dev)[None, :] < nr[:, None]
            fc = fr.clamp(min=0)
            # (G, M) a_j - a_w at the vertices; flat indexing is ~2x faster than z[rows, col]
            zf, base = z.buf.view(-1), fc * n_cols
            val = zf[base + uj] - zf[base + wo[w][:, None]]
            sr = ((val > tol).to(torch.int8) - (val < -tol).to(torch.int8)) * validr
            pos = (sr > 0).any(1)
            neg = (sr < 0).any(1)
            cut = pos & neg
            w = torch.where(pos & ~neg, j, w)
            if not bool(cut.any()):
                continue
            n_before = faces.n
            rc = g[cut]
            _cut(
                verts, faces, nv, z, codes, cand, rc, fr[cut], nr[cut], sr[cut], validr[cut],
                uj, 0.0, wo[w[cut]],
            )  # fmt: skip
            new = torch.arange(n_before, faces.n, device=dev)
            w_minus = w[cut]
            w = torch.where(cut, j, w)  # the + side (a_j > a_w) keeps the row
            g = torch.cat([g, new])
            par = torch.cat([par, par[cut]])
            w = torch.cat([w, w_minus])
        dead = _merge_pieces(verts, faces, nv, g, par, w, kk)
        if dead.numel():
            cand.buf[dead] = 0
            n_dead += dead.numel()
        if codes is not None:
            codes.buf[g, col0 + o] = spatial[o][w].to(codes.buf.dtype)
        if limit is not None and faces.n - n_dead > limit:
            raise RegionLimitError(
                f"count_2d exceeded max_regions={limit} at layer {where!r} pool output {o}; "
                f"raise max_regions or use a smaller window"
            )
    if n_dead:
        alive = nv.data > 0
        faces.keep(alive)
        nv.keep(alive)
        if codes is not None:
            codes.keep(alive)
        _drop_straight_vertices(faces, nv, verts.n, n_fixed)
        # renumber the vertices still in use (the merges leave some behind); order is kept, so
        # the window's corners stay 0 .. n_fixed - 1
        f = faces.data
        used = torch.zeros(verts.n, dtype=torch.bool, device=dev)
        used[f[f >= 0]] = True
        new_id = torch.cumsum(used, 0) - 1
        faces.buf[: faces.n] = torch.where(f >= 0, new_id[f.clamp(min=0)], -1)
        verts.keep(used)


def _merge_pieces(
    verts: _Rows,
    faces: _Rows,
    nv: _Rows,
    g: torch.Tensor,
    par: torch.Tensor,
    w: torch.Tensor,
    kk: int,
) -> torch.Tensor:
    """Merge the rows ``g`` that share ``(par, w)`` into one convex polygon (kept in the group's
    smallest row); return the emptied rows (``nv = 0``)."""
    dev = g.device
    _, gid, cnt = torch.unique(par * kk + w, return_inverse=True, return_counts=True)
    multi = cnt[gid] > 1
    if not bool(multi.any()):
        return g[:0]
    rows = g[multi]
    ug, gd = torch.unique(gid[multi], return_inverse=True)  # dense group ids
    n_g = ug.numel()  # a size, known without a device sync
    fr = faces.buf[rows]
    nr = nv.buf[rows]
    m = fr.shape[1]
    k = torch.arange(m, device=dev)
    valid = k[None, :] < nr[:, None]
    nxt = fr.gather(1, (k[None, :] + 1) % nr[:, None])
    a, b = fr[valid], nxt[valid]
    ge = gd[:, None].expand_as(fr)[valid]
    big = verts.n + 1
    ue, eid = torch.unique(torch.minimum(a, b) * big + torch.maximum(a, b), return_inverse=True)
    _, cinv, ccnt = torch.unique(ge * ue.numel() + eid, return_inverse=True, return_counts=True)
    outer = ccnt[cinv] == 1  # an edge of one piece only: on the union's boundary
    bv, bg = a[outer], ge[outer]
    xy = verts.buf[bv]
    nb = torch.bincount(bg, minlength=n_g)
    centre = torch.zeros((n_g, 2), dtype=xy.dtype, device=dev).index_add_(0, bg, xy)
    centre = centre / nb[:, None]
    d = xy - centre[bg]
    order = torch.argsort(torch.atan2(d[:, 1], d[:, 0]), stable=True)  # counter-clockwise
    order = order[torch.argsort(bg[order], stable=True)]
    bv, bg = bv[order], bg[order]
    slot = torch.arange(bv.numel(), device=dev) - (torch.cumsum(nb, 0) - nb)[bg]
    width = int(nb.max())
    faces.widen(width, -1)
    merged = torch.full((n_g, faces.buf.shape[1]), -1, dtype=fr.dtype, device=dev)
    merged[bg, slot] = bv
    # the union of the pieces is convex: its area is the sum of theirs (guards the geometry)
    piece_area = _shoelace(verts.buf[fr.clamp(min=0)], nr)
    want = torch.zeros(n_g, dtype=xy.dtype, device=dev).index_add_(0, gd, piece_area)
    got = _shoelace(verts.buf[merged[:, :width].clamp(min=0)], nb)
    if float((got - want).abs().max()) > 1e-9 * float(want.abs().max()):
        raise RuntimeError(  # pragma: no cover - a guard, not a code path
            "count_2d: merging max-pool pieces lost area (a non-conforming mesh); please report"
        )
    # each group's smallest face row; the start value must exceed every row index (not a vertex
    # bound: faces can outnumber vertices), so that it never survives the minimum
    rep = torch.full((n_g,), int(rows.max()) + 1, dtype=rows.dtype, device=dev)
    rep = rep.scatter_reduce_(0, gd, rows, "amin")
    faces.buf[rep] = merged
    nv.buf[rep] = nb
    dead = rows[rows != rep[gd]]
    faces.buf[dead] = -1
    nv.buf[dead] = 0
    return dead


def _drop_straight_vertices(faces: _Rows, nv: _Rows, n_verts: int, n_fixed: int) -> None:
    """Remove vertices with exactly two incident edges (straight, left by max-pool merges) from
    the faces; the first ``n_fixed`` vertices (the window's corners) stay."""
    f, n = faces.data, nv.data
    k = torch.arange(f.shape[1], device=f.device)
    valid = k[None, :] < n[:, None]
    nxt = f.gather(1, (k[None, :] + 1) % n[:, None])
    pairs = torch.stack([torch.minimum(f[valid], nxt[valid]), torch.maximum(f[valid], nxt[valid])])
    big = n_verts + 1
    u = torch.unique(pairs[0] * big + pairs[1])
    deg = torch.bincount(torch.cat([u // big, u % big]), minlength=n_verts)
    straight = deg == 2
    straight[:n_fixed] = False
    keep = valid & ~straight[f.clamp(min=0)]
    if bool((keep == valid).all()):
        return
    nf, nn_ = _compact(f, keep)
    faces.buf = torch.nn.functional.pad(nf, (0, f.shape[1] - nf.shape[1]), value=-1)
    faces.n = faces.buf.shape[0]
    nv.buf = nn_
    nv.n = nn_.shape[0]


# ------------------------------------------------------------------------- distance to boundary


@dataclass(frozen=True)
class BoundaryDistance:
    """Exact distance from each point to the boundary of its activation region.

    Attributes
    ----------
    distance : (B,) float64 ``min_j |z_j(x) - c_j| / ||grad_x z_j(x)||``.
    nearest_site : (B,) int64 index (into ``sites``) of the layer whose unit is nearest.
    sites : nonlinear layer names.
    """

    distance: torch.Tensor
    nearest_site: torch.Tensor
    sites: tuple[str, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        """One row per point: ``point, distance, nearest_layer``."""
        return pd.DataFrame(
            {
                "point": np.arange(len(self.distance)),
                "distance": self.distance.cpu().numpy(),
                "nearest_layer": [self.sites[i] for i in self.nearest_site.cpu().tolist()],
            }
        )

    def __repr__(self) -> str:
        return (
            f"BoundaryDistance(points={len(self.distance)}, mean={float(self.distance.mean()):.4g})"
        )


def distance_to_boundary(
    model: nn.Module, x: torch.Tensor, *, chunk_elements: int = 2**22
) -> BoundaryDistance:
    """Exact distance from each point of ``x`` (B, *input_shape) to its region's boundary.

    The activation region of ``x`` is the convex polytope cut out by the local affine
    extensions (at ``x``) of all "units", each of which must keep its sign:

    - an elementwise unit (ReLU, LeakyReLU, abs, Hardtanh / ReLU6) with input ``z_j`` and kink
      ``c`` gives ``g = z_j - c`` (Hardtanh has two kinks, so two such ``g``);
    - a max-pool output whose window entries are ``a_1 .. a_K`` with winner ``m = argmax a_i``
      at ``x`` gives ``g = a_m - a_i`` for every other entry ``i`` (the region ends where another
      entry ties with the winner; padding entries never win).

    The distance from an interior point to the boundary of a convex polytope is the distance to
    the nearest of its hyperplanes (Hanin & Rolnick 2019, Thm 3 studies its mean, ``>= C / N``):

        d(x) = min_g |g(x)| / ||grad_x g(x)||.

    Units with zero gradient (their input is constant near ``x``) are ignored. The gradients are
    exact: the model is run on ``x`` and on ``x + e_i`` for every input direction ``e_i`` with
    each nonlinearity frozen at its linearization around ``x`` (``f(z_x) + f'(z_x) (z - z_x)``;
    a max pool passes on the entry that wins at ``x``), so differences of the units' inputs are
    the Jacobian rows. Everything stays on the model's device.
    """
    prep = pl.prepare(model, x[0])
    xs = x.detach().to(device=prep.device, dtype=torch.float64)
    n_in = math.prod(xs.shape[1:])
    eye = torch.eye(n_in, dtype=torch.float64, device=xs.device).view(n_in, *xs.shape[1:])
    per_point = (n_in + 1) * max(n_in, 1)
    step = max(1, chunk_elements // per_point)
    windows: dict[tuple[int, tuple[int, ...]], tuple[torch.Tensor, ...]] = {}
    dists, which = [], []
    for lo in range(0, xs.shape[0], step):
        xb = xs[lo : lo + step]  # (b, *in)
        b = xb.shape[0]
        batch = torch.cat([xb, (xb[:, None] + eye[None]).reshape(b * n_in, *xs.shape[1:])])
        # per site: inputs (b, units), Jacobian (b, n_in, units), per-point input shape
        zs = _linearized_site_inputs(prep, batch, b, n_in, windows)
        best = torch.full((b,), math.inf, dtype=torch.float64, device=xb.device)
        arg = torch.zeros(b, dtype=torch.int64, device=xb.device)
        for si, ((_, mod), (z, jac, shape)) in enumerate(zip(prep.sites, zs, strict=True)):
            if isinstance(mod, pl.POOL_LAYERS):
                dmin = _pool_distance(z, jac, windows[(id(mod), shape)][0])
            else:
                g = jac.norm(dim=1)  # (b, units) gradient norms
                dmin = torch.full_like(best, math.inf)
                for c in pl.thresholds(mod):
                    d = torch.where(g > 0, (z - c).abs() / g, torch.full_like(g, math.inf))
                    dmin = torch.minimum(dmin, d.min(1).values)
            better = dmin < best
            best = torch.where(better, dmin, best)
            arg = torch.where(better, torch.full_like(arg, si), arg)
        dists.append(best)
        which.append(arg)
    return BoundaryDistance(torch.cat(dists), torch.cat(which), tuple(n for n, _ in prep.sites))


def _pool_distance(z: torch.Tensor, jac: torch.Tensor, win: torch.Tensor) -> torch.Tensor:
    """(b,) ``min |a_m - a_i| / ||grad (a_m - a_i)||`` over pool outputs and their non-winning
    window entries ``i`` (``m``: the winner), from the pool inputs ``z`` (b, U) and their
    Jacobian (b, n_in, U)."""
    b, n_in, _ = jac.shape
    n_out = win.shape[0]
    vals = z[:, win.clamp(min=0)].masked_fill(win < 0, -math.inf)  # (b, O, K)
    mu = win[None].expand(b, -1, -1).gather(2, vals.argmax(-1, keepdim=True)).squeeze(2)
    zm = z.gather(1, mu)  # (b, O) the winners' values
    jm = jac.gather(2, mu[:, None].expand(b, n_in, n_out))  # (b, n_in, O)
    out = torch.full((b,), math.inf, dtype=z.dtype, device=z.device)
    for k in range(win.shape[1]):
        uk = win[:, k]
        u = uk.clamp(min=0)
        gn = (jm - jac[:, :, u]).norm(dim=1)  # (b, O)
        ok = (uk >= 0)[None] & (mu != uk[None]) & (gn > 0)
        d = torch.where(ok, (zm - z[:, u]).abs() / gn, math.inf)
        out = torch.minimum(out, d.min(1).values)
    return out


def _linearized_site_inputs(
    prep: pl.Prepared,
    batch: torch.Tensor,
    b: int,
    n_in: int,
    windows: dict[tuple[int, tuple[int, ...]], tuple[torch.Tensor, ...]],
) -> list[tuple[torch.Tensor, torch.Tensor, tuple[int, ...]]]:
    """Run ``batch = [x (b rows); x + e_i (b * n_in rows)]`` with every nonlinearity linearized
    around its base row; return each site's input at ``x``, its Jacobian (b, n_in, units) and
    its per-point input shape. Max-pool windows are cached in ``windows``."""
    out: list[tuple[torch.Tensor, torch.Tensor, tuple[int, ...]]] = []

    def hook(mod, inputs, output):
        z = inputs[0]
        zb = z[:b]  # (b, ...)
        zd = z[b:].reshape(b, n_in, *z.shape[1:])
        fb = output[:b]
        shape = tuple(z.shape[1:])
        out.append((zb.flatten(1), (zd - zb[:, None]).flatten(2), shape))
        if isinstance(mod, pl.POOL_LAYERS):  # pass on the entry that wins at x
            key = (id(mod), shape)
            if key not in windows:
                windows[key] = _pool_windows(mod, shape, z.device)
            win = windows[key][0]
            vals = zb.flatten(1)[:, win.clamp(min=0)].masked_fill(win < 0, -math.inf)
            mu = win[None].expand(b, -1, -1).gather(2, vals.argmax(-1, keepdim=True)).squeeze(2)
            lin = zd.flatten(2).gather(2, mu[:, None].expand(b, n_in, mu.shape[1]))
            return torch.cat([fb, lin.reshape(b * n_in, *fb.shape[1:])])
        slope = torch.zeros_like(zb)
        if isinstance(mod, nn.Hardtanh):
            slope = ((zb > mod.min_val) & (zb < mod.max_val)).to(zb.dtype)
        elif isinstance(mod, nn.LeakyReLU):
            slope = torch.where(zb > 0, 1.0, mod.negative_slope).to(zb.dtype)
        elif isinstance(mod, nn.ReLU):
            slope = (zb > 0).to(zb.dtype)
        else:  # Abs
            slope = torch.sign(zb)
        lin = fb[:, None] + slope[:, None] * (zd - zb[:, None])
        return torch.cat([fb, lin.reshape(b * n_in, *z.shape[1:])])

    mods = {id(m): m for _, m in prep.sites}.values()
    handles = [m.register_forward_hook(hook) for m in mods]
    try:
        with torch.no_grad():
            prep.net(batch)
    finally:
        for h in handles:
            h.remove()
    return out
