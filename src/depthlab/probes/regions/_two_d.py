"""The exact 2-D partition: :func:`count_2d`.

Each nonlinearity's units are applied in turn; for each unit, *all* current polygons are split by
its zero set at once with tensor operations (no Python loop over regions). The unit's input is
affine on every current polygon, so its values at the polygon vertices (shared, computed by the
model's own forward stopped at the site, or interpolated along edges) decide the split exactly.
A max pool is split in :mod:`._maxpool`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from depthlab import pl
from depthlab.probes import _memory
from depthlab.probes._guard import guard_probe
from depthlab.probes.regions._maxpool import _pool_site, _pool_windows
from depthlab.probes.regions._mesh import _cut, _pack, _Rows, _shoelace, _unpack
from depthlab.probes.regions._results import Plane, RegionLimitError, Regions2D
from depthlab.progress import AUTO


def _site_inputs(
    prep: pl.Prepared, plane: Plane, uv: torch.Tensor, site: int, chunk_elements: int
) -> tuple[torch.Tensor, tuple[int, ...]]:
    """Input of the ``site``-th nonlinearity call at plane points ``uv`` (V, 2) -> (V, units),
    and its per-point shape (e.g. ``(C, H, W)`` before a max pool): the forward is stopped there
    (:func:`depthlab.pl.site_visits`)."""

    def visit(k: int, mod: nn.Module, z: torch.Tensor):
        return (z.flatten(1), tuple(z.shape[1:])) if k == site else None

    per = max(1, math.prod(plane.origin.shape))
    chunk = max(1, chunk_elements // per)
    out = []
    shape: tuple[int, ...] = ()
    basis = plane.basis
    with (
        pl.site_visits(prep, visit) as run,
        pl.folded(prep, plane.origin[None], basis[:1], basis[1:]) as encode,
    ):
        if encode is not None:  # an affine first layer is folded: no need to form the inputs
            chunk = max(1, chunk_elements // 64)
        for lo in range(0, uv.shape[0], chunk):
            part = uv[lo : lo + chunk]
            x = (
                plane.embed(part)
                if encode is None
                else encode(part.new_zeros(part.shape[0]), part[:, 0], part[:, 1])
            )
            got = run(x)
            if not isinstance(got, pl.Stopped):  # pragma: no cover - sites come from a forward
                raise RuntimeError(f"nonlinearity #{site} was not reached")
            z, shape = got.value
            out.append(z)
    return torch.cat(out), shape


#: planning figure for the memory guard: mesh vertices held at once (plus 16 per unit)
COUNT_2D_VERTICES = 4096


@guard_probe(name="regions.count_2d")
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
    max_memory: int | str | None = None,
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
    max_memory : memory budget checked before the mesh is built (bytes or ``"2GB"``; default
        ``DEPTHLAB_MAX_MEMORY`` or half the free memory): see :mod:`depthlab.probes._memory`.
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
    _memory.check(
        "regions.count_2d",
        model,
        points=lambda units: COUNT_2D_VERTICES + 16 * units,
        example=torch.zeros(2) if points is None else points[0].detach(),
        param_factor=2.0,  # the float64 copy pl.prepare makes
        act_factor=2.0,  # every unit's value at every mesh vertex, and the split rows
        itemsize=8,
        lower="a smaller window or input, or a smaller max_regions",
        max_memory=max_memory,
    )
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
    has_pool = any(pl.layer_rule(m).kind == "pool" for _, m in prep.sites)
    code_dtype = torch.int32 if has_pool else torch.int8  # max-pool states are window indices

    for site, (sname, mod) in enumerate(AUTO.track(prep.sites, "regions.count_2d (layers)")):
        z0, in_shape = _site_inputs(prep, plane, verts.data, site, chunk_elements)  # (V, U)
        zrows = _Rows(z0)
        rule = pl.layer_rule(mod)
        pool = _pool_windows(mod, in_shape, dev) if rule.kind == "pool" else None
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
        for c in rule.kinks(mod):  # type: ignore[misc]
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
