"""The compiled half of :mod:`depthlab.probes._regions_kernel`: its numba functions, built by
:func:`make_kernel` on first use (so importing this module needs no numba). The algorithm, the
lean step and the decisions they share with the torch engine are described there.
"""

from __future__ import annotations

import numpy as np

#: a block narrower than this (and every later one, and the last) is applied to the values at
#: the points directly (one product per point) instead of carrying slopes
DIRECT_BELOW: int = 8


def make_kernel(numba):  # compiled lazily, once per process (cached on disk by numba)
    # Arrays are never rebound inside a hot loop: numba counts references of a rebound array
    # variable at every loop iteration (atomic operations), so each stage's work is a function
    # of fixed arrays and the buffers grow between stages only.
    njit = numba.njit(cache=True, nogil=True)

    @njit
    def grow2(a, rows):
        if a.shape[0] >= rows:
            return a
        b = np.empty((max(rows, 2 * a.shape[0]), a.shape[1]), a.dtype)
        b[: a.shape[0]] = a
        return b

    @njit
    def grow1(a, n):
        if a.shape[0] >= n:
            return a
        b = np.empty(max(n, 2 * a.shape[0]), a.dtype)
        b[: a.shape[0]] = a
        return b

    @njit
    def abs_max(z, p, n, cm):
        """The largest ``|z[:p, :n]|``: a running maximum per column (vectorised along each
        row; one running maximum would be a serial chain of compares), then over columns."""
        for j in range(n):
            cm[j] = 0.0
        for i in range(p):
            for j in range(n):
                a = abs(z[i, j])
                b = cm[j]
                cm[j] = a if a > b else b
        smax = 0.0
        for j in range(n):
            smax = cm[j] if cm[j] > smax else smax
        return smax

    @njit
    def abs_max_min(z, p, n, c, cm, cn):
        """:func:`abs_max` and, in the same pass, the smallest ``|z[:p, :n] - c|``."""
        for j in range(n):
            cm[j] = 0.0
            cn[j] = np.inf
        for i in range(p):
            for j in range(n):
                v = z[i, j]
                a = abs(v)
                b = cm[j]
                cm[j] = a if a > b else b
                e = abs(v - c)
                f = cn[j]
                cn[j] = e if e < f else f
        smax = 0.0
        zmin = np.inf
        for j in range(n):
            smax = cm[j] if cm[j] > smax else smax
            zmin = cn[j] if cn[j] < zmin else zmin
        return smax, zmin

    @njit
    def start_value(x, n, n2, wk, bias, b0, z, idx):
        """``z[0] = bias + sum_j x[j] wk[j]`` over the nonzero ``x[j]`` in order of ``j`` (their
        indices gathered first, without a branch: a skip per unit mispredicts half the time)."""
        na = 0
        for j in range(n):
            idx[na] = j
            na += x[j] != 0.0
        for o in range(n2):
            z[0, o] = bias[b0 + o]
        for q in range(na):
            j = idx[q]
            xj = x[j]
            for o in range(n2):
                z[0, o] += xj * wk[j, o]

    @njit
    def crossings(z, tt, p, n, kinks, k0, m, eps, lean_eps, c_i, c_t, c_f, c_u, cm, cn, flags,
                  pre, pre_hits):  # fmt: skip
        """Crossings of the kinks ``kinks[k0:k0+m]`` between consecutive points, sorted by
        interval then ``t`` (stable); returns their number. ``flags[0]`` is set to 1 when the
        lean step applies so far: one kink, at 0, and no value within ``lean_eps * max|z|``
        of it (``lean_eps = eps`` in float64; wider in float32, whose rounding is). With ``pre``
        (one kink), the lean step that made ``z`` has already taken the column maxima ``cm``
        and minima ``cn`` of :func:`abs_max_min` and each interval's count of sign changes
        (``pre_hits``), from the rows while they were in cache."""
        flags[0] = 0
        if m == 1:
            c0 = kinks[k0]
            if pre:
                smax = 0.0
                zmin = np.inf
                for j in range(n):
                    smax = cm[j] if cm[j] > smax else smax
                    zmin = cn[j] if cn[j] < zmin else zmin
            else:
                smax, zmin = abs_max_min(z, p, n, c0, cm, cn)
            # the lean step's arguments hold for a kink at 0 (interpolation rounds relative to
            # the values, not to c); zmin > 0 as well, whatever eps
            if c0 == 0.0 and zmin > 0.0 and zmin > lean_eps * max(smax, abs(c0), 1e-300):
                flags[0] = 1
        else:
            smax = abs_max(z, p, n, cm)
        nc = 0
        for i in range(p - 1):
            first = nc
            for q in range(m):
                c = kinks[k0 + q]
                if pre:
                    hits = pre_hits[i]
                else:
                    hits = 0  # a vectorised count first: most intervals have no crossing
                    for j in range(n):
                        hits += (z[i, j] - c < 0.0) != (z[i + 1, j] - c < 0.0)
                if hits == 0:
                    continue
                scale = eps * max(smax, abs(c), 1e-300)
                for j in range(n):
                    da = z[i, j] - c
                    db = z[i + 1, j] - c
                    if (da < 0.0) != (db < 0.0):  # opposite sign bits
                        if abs(da) > scale and abs(db) > scale:  # both beyond the band
                            fr = np.float64(da / (da - db))
                            c_i[nc] = i
                            c_f[nc] = fr
                            c_u[nc] = j
                            c_t[nc] = tt[i] + fr * (tt[i + 1] - tt[i])
                            nc += 1
                        hits -= 1
                        if hits == 0:  # all of this interval's flips seen
                            break
            for u in range(first + 1, nc):  # insertion sort of this interval's crossings
                tu, fu, uu = c_t[u], c_f[u], c_u[u]
                v = u - 1
                while v >= first and c_t[v] > tu:
                    c_t[v + 1] = c_t[v]
                    c_f[v + 1] = c_f[v]
                    c_u[v + 1] = c_u[v]
                    v -= 1
                c_t[v + 1] = tu
                c_f[v + 1] = fu
                c_u[v + 1] = uu
        return nc

    @njit
    def merge_points(tt, p, nc, c_i, c_t, c_f, c_u, dedup, gap, t2, grp, hint, wf, flags):
        """The points of :func:`merge` without the values (``wf``: the fraction of each new
        point along its old interval). Clears ``flags[0]`` (the lean step) when a crossing is
        dropped by the merge rule or a new point lies within ``gap`` of a neighbour."""
        q2 = 0
        u = 0
        for i in range(p - 1):
            t2[q2] = tt[i]
            grp[q2] = i
            hint[q2] = -1
            q2 += 1
            tl, tr = tt[i], tt[i + 1]
            prev = -1.0
            has_prev = False
            last = tl
            while u < nc and c_i[u] == i:
                tn = c_t[u]
                drop = (tn - tl <= dedup) or (tr - tn <= dedup)
                if has_prev and tn - prev <= dedup:
                    drop = True
                prev = tn
                has_prev = True
                if drop:
                    flags[0] = 0
                else:
                    if tn - last < gap:
                        flags[0] = 0
                    last = tn
                    t2[q2] = tn
                    wf[q2] = c_f[u]
                    grp[q2] = i
                    hint[q2] = c_u[u]
                    q2 += 1
                u += 1
            if tr - last < gap and last != tl:
                flags[0] = 0
        t2[q2] = tt[p - 1]
        grp[q2] = p - 1
        hint[q2] = -1
        return q2 + 1

    @njit
    def merge_rows(z, q2, n, grp, hint, wf, z2):
        """The values of :func:`merge` at the points of :func:`merge_points`: old rows copied,
        new ones by linear interpolation (torch.lerp's formula)."""
        for mm in range(q2):
            i = grp[mm]
            if hint[mm] < 0:
                for j in range(n):
                    z2[mm, j] = z[i, j]
            else:
                w = wf[mm]
                if w < 0.5:
                    for j in range(n):
                        z2[mm, j] = z[i, j] + w * (z[i + 1, j] - z[i, j])
                else:
                    for j in range(n):
                        z2[mm, j] = z[i + 1, j] - (z[i + 1, j] - z[i, j]) * (1.0 - w)

    @njit
    def row_stats(z, mm, n2, c, cm, cn):
        """Row ``mm + 1`` of ``z`` into the column maxima of ``|z|`` and minima of ``|z - c|``;
        returns the number of sign changes (against ``c``) from row ``mm``."""
        cnt = 0
        for o in range(n2):
            v = z[mm + 1, o]
            cnt += (z[mm, o] - c < 0.0) != (v - c < 0.0)
            a = abs(v)
            b = cm[o]
            cm[o] = a if a > b else b
            e = abs(v - c)
            f = cn[o]
            cn[o] = e if e < f else f
        return cnt

    @njit
    def advance_lean(z_old, t2, q2, p, grp, hint, n, n2, sl, c, lo, hi, blo, bhi, wk, bias,
                     b0, z, sl2, xbuf, ybuf, idx, fuse, c_next, cm, cn, pre_hits):  # fmt: skip
        """:func:`advance` for one kink when no value lies in its eps band, no crossing was
        dropped and new points keep ``gap`` from their neighbours. Then the slope of ``phi`` on
        the first sub-interval of old interval ``g`` is that of the side of ``z_old[g]``, and
        at each new point exactly its own unit changes piece, so neither the values at the new
        points nor a select per sub-interval are needed. The arithmetic is that of
        :func:`advance` (same products, same updates), so the results are the same bits."""
        x0 = ybuf[:n]  # the value at t = 0: as in advance
        for j in range(n):
            v0 = z_old[0, j]
            above = hi[j] * v0 + bhi[j]
            below = lo[j] * v0 + blo[j]
            x0[j] = above if v0 > c else below
        start_value(x0, n, n2, wk, bias, b0, z, idx)
        if fuse:  # the next stage's statistics start at row 0
            for o in range(n2):
                v = z[0, o]
                cm[o] = abs(v)
                cn[o] = abs(v - c_next)
        xs = xbuf[: (p - 1) * n].reshape((p - 1, n))
        for g in range(p - 1):
            for j in range(n):
                above, below = hi[j], lo[j]
                xs[g, j] = (above if z_old[g, j] > c else below) * sl[g, j]
        ys = ybuf[: (p - 1) * n2].reshape((p - 1, n2))
        np.dot(xs, wk, ys)
        for mm in range(q2 - 1):
            g = grp[mm]
            d = t2[mm + 1] - t2[mm]
            ju = hint[mm]
            if ju < 0:  # the first sub-interval of an old interval
                for o in range(n2):
                    v = ys[g, o]
                    sl2[mm, o] = v
                    z[mm + 1, o] = z[mm, o] + d * v
                if fuse:
                    pre_hits[mm] = row_stats(z, mm, n2, c_next, cm, cn)
                continue
            # a unit crosses once per old interval: from the side of z_old[g] to the other
            above = z_old[g, ju] > c
            old = hi[ju] if above else lo[ju]
            new = lo[ju] if above else hi[ju]
            x = (new - old) * sl[g, ju]
            # the one-unit update of advance, written out again: a shared njit helper (inlined
            # or not) measured 3-7 % slower per segment
            if x != 0.0:
                for o in range(n2):
                    v = sl2[mm - 1, o] + x * wk[ju, o]
                    sl2[mm, o] = v
                    z[mm + 1, o] = z[mm, o] + d * v
            else:
                for o in range(n2):
                    v = sl2[mm - 1, o]
                    sl2[mm, o] = v
                    z[mm + 1, o] = z[mm, o] + d * v
            if fuse:
                pre_hits[mm] = row_stats(z, mm, n2, c_next, cm, cn)

    @njit
    def advance(z2, t2, q2, p, grp, hint, n, n2, sl, kinks, k0, m, sig, bet, s0, wt, w0, bias, b0,
                z, sl2, sgm, direct, hbuf, xbuf, ybuf, idx):  # fmt: skip
        """The next block's values ``z`` at the points and slopes ``sl2`` per interval; with
        ``direct``, only the values, as ``phi`` at every point times the matrix (one BLAS
        product; no slopes)."""
        wk = wt[w0 : w0 + n * n2].reshape((n, n2))
        if direct:
            h = hbuf[: q2 * n].reshape((q2, n))
            if m == 1:  # one kink: both pieces, then a select (vectorised; a select of
                # loads, or an index chosen by the sign, is a branch or a gather per unit)
                c = kinks[k0]
                slo, shi = sig[s0 : s0 + n], sig[s0 + n : s0 + 2 * n]
                blo, bhi = bet[s0 : s0 + n], bet[s0 + n : s0 + 2 * n]
                for mm in range(q2):
                    for j in range(n):
                        v = z2[mm, j]
                        above = shi[j] * v + bhi[j]
                        below = slo[j] * v + blo[j]
                        h[mm, j] = above if v > c else below
            else:
                for mm in range(q2):
                    for j in range(n):
                        v = z2[mm, j]
                        r = 0
                        for q in range(m):
                            if v > kinks[k0 + q]:
                                r += 1
                        h[mm, j] = sig[s0 + r * n + j] * v + bet[s0 + r * n + j]
            y = ybuf[: q2 * n2].reshape((q2, n2))
            np.dot(h, wk, y)  # into a buffer of the segment loop: no allocation per stage
            for mm in range(q2):
                for o in range(n2):
                    z[mm, o] = y[mm, o] + bias[b0 + o]
            return
        x0 = hbuf[:n]  # the value at t = 0: one product (inactive units skipped)
        for j in range(n):
            r = 0
            for q in range(m):
                if z2[0, j] > kinks[k0 + q]:
                    r += 1
            x0[j] = sig[s0 + r * n + j] * z2[0, j] + bet[s0 + r * n + j]
        start_value(x0, n, n2, wk, bias, b0, z, idx)
        # slopes of phi per interval (read at the midpoint); at the first sub-interval of each
        # old interval the slope is new: those products are one matrix product (BLAS)
        xs = xbuf[: (p - 1) * n].reshape((p - 1, n))
        lo, hi = sig[s0 : s0 + n], sig[s0 + n : s0 + 2 * n]
        for mm in range(q2 - 1):
            g = grp[mm]
            if m == 1:  # one kink (ReLU, LeakyReLU, abs): a select, vectorised
                c = kinks[k0]
                for j in range(n):
                    above, below = hi[j], lo[j]  # loaded first: a select, not a branch
                    sgm[mm, j] = above if z2[mm, j] + z2[mm + 1, j] > 2.0 * c else below
            else:
                for j in range(n):
                    zm = 0.5 * (z2[mm, j] + z2[mm + 1, j])
                    r = 0
                    for q in range(m):
                        if zm > kinks[k0 + q]:
                            r += 1
                    sgm[mm, j] = sig[s0 + r * n + j]
            if mm == 0 or grp[mm - 1] != g:
                for j in range(n):
                    xs[g, j] = sgm[mm, j] * sl[g, j]
        ys = ybuf[: (p - 1) * n2].reshape((p - 1, n2))
        np.dot(xs, wk, ys)
        for mm in range(q2 - 1):
            g = grp[mm]
            d = t2[mm + 1] - t2[mm]
            if mm == 0 or grp[mm - 1] != g:
                for o in range(n2):
                    v = ys[g, o]
                    sl2[mm, o] = v
                    z[mm + 1, o] = z[mm, o] + d * v
                continue
            # same slope before phi, some units changed piece: one row of wk per unit
            nd = 0  # a vectorised count first
            for j in range(n):
                nd += sgm[mm, j] != sgm[mm - 1, j]
            ju = hint[mm]  # the unit whose crossing made this point: usually the only one
            if nd == 1 and ju >= 0 and sgm[mm, ju] != sgm[mm - 1, ju]:
                # one pass: the slope's update and the next value (same arithmetic as below)
                x = (sgm[mm, ju] - sgm[mm - 1, ju]) * sl[g, ju]
                if x != 0.0:
                    for o in range(n2):
                        v = sl2[mm - 1, o] + x * wk[ju, o]
                        sl2[mm, o] = v
                        z[mm + 1, o] = z[mm, o] + d * v
                else:
                    for o in range(n2):
                        v = sl2[mm - 1, o]
                        sl2[mm, o] = v
                        z[mm + 1, o] = z[mm, o] + d * v
                continue
            for o in range(n2):
                sl2[mm, o] = sl2[mm - 1, o]
            for j in range(n):  # a scan that stops at the last changed unit
                if nd == 0:
                    break
                if sgm[mm, j] != sgm[mm - 1, j]:
                    nd -= 1
                    x = (sgm[mm, j] - sgm[mm - 1, j]) * sl[g, j]
                    if x != 0.0:
                        for o in range(n2):
                            sl2[mm, o] += x * wk[j, o]
            for o in range(n2):
                z[mm + 1, o] = z[mm, o] + d * sl2[mm, o]

    @njit
    def trace(za, zb, dims, wt, w_off, bias, b_off, kinks, k_off, sig, bet, s_off, eps, dedup,
              s_begin, out_t, out_z, counts, lean, lean_eps, gap, stats):  # fmt: skip
        """Segments ``s_begin, s_begin + 1, ...`` of the chunk; returns the number of points
        written and the index of the first segment not done (the output buffers were full)."""
        dt = za.dtype
        n_stage = dims.shape[0] - 1
        nmax = 1
        for k in range(dims.shape[0]):
            nmax = max(nmax, dims[k])
        cap = 256
        tt = np.empty(cap, np.float64)
        t2 = np.empty(cap, np.float64)
        z = np.empty((cap, nmax), dt)
        z2 = np.empty((cap, nmax), dt)
        sl = np.empty((cap, nmax), dt)
        sl2 = np.empty((cap, nmax), dt)
        grp = np.empty(cap, np.int64)
        c_i = np.empty(cap * nmax, np.int64)
        c_t = np.empty(cap * nmax, np.float64)
        c_f = np.empty(cap * nmax, np.float64)
        c_u = np.empty(cap * nmax, np.int64)
        hint = np.empty(cap, np.int64)
        sgm = np.empty((cap, nmax), dt)
        hbuf = np.empty(cap * nmax, dt)
        xbuf = np.empty(cap * nmax, dt)
        ybuf = np.empty(cap * nmax, dt)
        cm = np.empty(nmax, dt)
        cn = np.empty(nmax, dt)
        idx = np.empty(nmax, np.int64)
        pre_hits = np.empty(cap, np.int64)
        wf = np.empty(cap, np.float64)
        flags = np.zeros(1, np.int64)
        n_out = dims[n_stage]
        written = 0
        for s in range(s_begin, za.shape[0]):
            n = dims[0]
            p = 2
            tt[0] = 0.0
            tt[1] = 1.0
            for j in range(n):
                z[0, j] = za[s, j]
                z[1, j] = zb[s, j]
                sl[0, j] = zb[s, j] - za[s, j]
            direct = False
            n_lean = 0  # counted into stats once the segment is written
            pre = False
            slopes = True  # sl holds the slopes of this stage's values (none after a direct step)
            for k in range(n_stage):
                # values straight from phi at the points once a block is narrow or the last
                # (cheaper than slopes there; and a later block would need slopes)
                direct = direct or dims[k + 1] < DIRECT_BELOW or k == n_stage - 1
                n2 = dims[k + 1]
                k0, m = k_off[k], k_off[k + 1] - k_off[k]
                bound = (p - 1) * n * m
                if bound > c_i.shape[0]:
                    c_i = grow1(c_i, bound)
                    c_t = grow1(c_t, bound)
                    c_f = grow1(c_f, bound)
                    c_u = grow1(c_u, bound)
                nc = crossings(z, tt, p, n, kinks, k0, m, eps, lean_eps, c_i, c_t, c_f, c_u, cm,
                               cn, flags, pre, pre_hits)  # fmt: skip
                need = p + nc
                if need > tt.shape[0]:
                    tt = grow1(tt, need)
                    t2 = grow1(t2, need)
                    grp = grow1(grp, need)
                    hint = grow1(hint, need)
                    z = grow2(z, need)
                    z2 = grow2(z2, need)
                    sl = grow2(sl, need)
                    sl2 = grow2(sl2, need)
                    sgm = grow2(sgm, need)
                    hbuf = grow1(hbuf, need * nmax)
                    xbuf = grow1(xbuf, need * nmax)
                    ybuf = grow1(ybuf, need * nmax)
                    wf = grow1(wf, need)
                q2 = merge_points(tt, p, nc, c_i, c_t, c_f, c_u, dedup, gap, t2, grp, hint, wf,
                                  flags)  # fmt: skip
                # not on a narrow block before the last: there the general step takes phi at
                # every point directly, and the next stage's values would differ in the last bits
                use_lean = lean and flags[0] == 1 and slopes and (not direct or k == n_stage - 1)
                if use_lean:
                    n_lean += 1
                pre = False
                if use_lean:
                    s0 = s_off[k]
                    w0 = w_off[k]
                    # the next stage's statistics on the fly (one kink there)
                    pre = (
                        k + 1 < n_stage
                        and k_off[k + 2] - k_off[k + 1] == 1
                        and kinks[k_off[k + 1]] == 0.0
                    )
                    c_next = 0.0
                    if q2 > pre_hits.shape[0]:
                        pre_hits = grow1(pre_hits, q2)
                    advance_lean(z, t2, q2, p, grp, hint, n, n2, sl, kinks[k0],
                                 sig[s0 : s0 + n], sig[s0 + n : s0 + 2 * n], bet[s0 : s0 + n],
                                 bet[s0 + n : s0 + 2 * n], wt[w0 : w0 + n * n2].reshape((n, n2)),
                                 bias, b_off[k], z2, sl2, xbuf, ybuf, idx, pre, c_next, cm, cn,
                                 pre_hits)  # fmt: skip
                    z, z2 = z2, z
                else:
                    merge_rows(z, q2, n, grp, hint, wf, z2)
                    advance(z2, t2, q2, p, grp, hint, n, n2, sl, kinks, k0, m, sig, bet, s_off[k],
                            wt, w_off[k], bias, b_off[k], z, sl2, sgm, direct, hbuf, xbuf,
                            ybuf, idx)  # fmt: skip
                    slopes = not direct
                tt, t2 = t2, tt
                sl, sl2 = sl2, sl
                p = q2
                n = n2
            if written + p > out_t.shape[0]:
                return written, s  # this segment again, in the next buffer
            stats[0] += n_lean
            stats[1] += n_stage - n_lean
            for i in range(p):
                out_t[written + i] = tt[i]
                for o in range(n_out):
                    out_z[written + i, o] = z[i, o]
            counts[s] = p - 1
            written += p
        return written, za.shape[0]

    return trace
