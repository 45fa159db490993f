"""The growable polygon mesh of the 2-D engine: padded faces over shared vertices, and the one
operation that cuts many polygons along a line at once (shared by the unit splits of
:mod:`._two_d` and the max-pool tournament of :mod:`._maxpool`)."""

from __future__ import annotations

import torch


def _shoelace(xy: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    """Areas of padded polygons ``xy`` (R, M, 2) with ``n`` (R,) valid vertices each."""
    m = xy.shape[1]
    k = torch.arange(m, device=xy.device)
    nxt = ((k[None, :] + 1) % n[:, None].to(xy.device)).clamp(min=0)
    valid = k[None, :] < n[:, None].to(xy.device)
    x, y = xy[..., 0], xy[..., 1]
    xn, yn = x.gather(1, nxt), y.gather(1, nxt)
    return 0.5 * ((x * yn - xn * y) * valid).sum(1)


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
