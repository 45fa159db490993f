"""Max pooling in the 2-D and distance engines.

A max pool output ``max(a_1 .. a_K)`` splits the plane where the winning entry changes, i.e. along
the ties ``a_m = a_i`` with the winner ``m``: a tournament over the window's entries cuts every
polygon the current winner and the next entry both lead on, then the pieces with the same winner
are merged (each region keeps one pattern; no over-splitting).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from depthlab import pl
from depthlab.probes.regions._mesh import _compact, _cut, _pack, _Rows, _shoelace
from depthlab.probes.regions._results import RegionLimitError


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

    dims = pl.layer_rule(mod).rank - 1  # type: ignore[operator]  # spatial dims: 1 or 2
    tup = _single if dims == 1 else _pair
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
