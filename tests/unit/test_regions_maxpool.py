"""count_2d / distance_to_boundary with MaxPool1d/2d against a plain float64 reference.

The reference enumerates the regions of a window independently of ``count_2d``: take a polygon,
evaluate the activation pattern at its centroid, linearize the network there (ReLU masks and
max-pool winners frozen), clip the polygon by every half-plane of that pattern (``s_j z_j >= 0``
for ReLU units, ``a_m - a_i >= 0`` for each max-pool window's winner ``m``) and recurse on the
pieces cut off. A fixed pattern's region is convex, so pattern -> total area identifies the
regions exactly: no sampling, no tolerance on the count.
"""

import copy

import numpy as np
import pytest
import torch
from torch import nn

from depthlab import pl, regions

# ------------------------------------------------------------------------------ the reference


def _window_members(mod, shape):
    """Per pool output (channel-major), the set of flat spatial inputs of its window, found by
    probing the module itself: put 0 at one input and -1 elsewhere."""
    spatial = shape[1:]
    n_sp = int(np.prod(spatial))
    members = None
    for i in range(n_sp):
        x = -torch.ones((1, 1, *spatial), dtype=torch.float64)
        x.view(-1)[i] = 0.0
        hit = (mod(x) == 0).flatten()
        if members is None:
            members = [set() for _ in range(hit.numel())]
        for o in torch.nonzero(hit).flatten().tolist():
            members[o].add(i)
    return members


class _Linearizer:
    """The model's states at a point and its sites' inputs as affine functions of the plane."""

    def __init__(self, model, plane):
        self.net = copy.deepcopy(model).double().eval()
        self.plane = plane
        self.sites = [
            m for m in self.net.modules() if isinstance(m, (nn.ReLU, nn.MaxPool1d, nn.MaxPool2d))
        ]
        self.members = {}

    def __call__(self, c):
        uv = torch.tensor(c[None] + np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]))
        x = self.plane.embed(uv)
        states, ins = [], []

        def hook(mod, inputs, output):
            z = inputs[0]
            ins.append((mod, z))
            if isinstance(mod, nn.ReLU):
                mask = z[:1] > 0
                states.append(mask.flatten().long())
                return z * mask  # frozen at the state of the first row
            fn = (
                torch.nn.functional.max_pool1d
                if isinstance(mod, nn.MaxPool1d)
                else torch.nn.functional.max_pool2d
            )
            _, idx = fn(
                z[:1], mod.kernel_size, mod.stride, mod.padding, mod.dilation, mod.ceil_mode, True
            )
            states.append(idx.flatten())
            idx3 = idx.flatten(2).expand(z.shape[0], -1, -1)
            return z.flatten(2).gather(2, idx3).view(output.shape)

        hs = [m.register_forward_hook(hook) for m in self.sites]
        try:
            with torch.no_grad():
                self.net(x)
        finally:
            for h in hs:
                h.remove()
        rows = []  # alpha + beta . (p - c) >= 0 inside the pattern's region
        for (mod, z), st in zip(ins, states, strict=True):
            zf = z.flatten(1)  # (3, U)
            a, g = zf[0], torch.stack([zf[1] - zf[0], zf[2] - zf[0]], 1)
            if isinstance(mod, nn.ReLU):
                s = torch.where(st > 0, 1.0, -1.0).double()
                rows.append(torch.cat([(s * a)[:, None], s[:, None] * g], 1))
                continue
            key = (id(mod), tuple(z.shape[1:]))
            if key not in self.members:
                self.members[key] = _window_members(mod, z.shape[1:])
            members = self.members[key]
            n_sp = int(np.prod(z.shape[2:]))
            n_o = len(members)
            for o_flat, m in enumerate(st.tolist()):
                ch, o = divmod(o_flat, n_o)
                for i in members[o] - {m}:
                    um, ui = ch * n_sp + m, ch * n_sp + i
                    rows.append(torch.cat([(a[um] - a[ui]).view(1), g[um] - g[ui]])[None])
        return tuple(torch.cat([s.long() for s in states]).tolist()), torch.cat(rows).numpy()


def _clip(poly, h):
    """Sutherland-Hodgman: the part of convex ``poly`` (k, 2) where ``h(p) >= 0`` (h affine)."""
    out = []
    vals = h(poly)
    for k in range(len(poly)):
        p, q, vp, vq = poly[k], poly[(k + 1) % len(poly)], vals[k], vals[(k + 1) % len(poly)]
        if vp >= 0:
            out.append(p)
        if (vp >= 0) != (vq >= 0):
            out.append(p + vp / (vp - vq) * (q - p))
    return np.array(out).reshape(-1, 2)


def _area(poly):
    if len(poly) < 3:
        return 0.0
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * float(x @ np.roll(y, -1) - np.roll(x, -1) @ y)


def _halfplane(row, c):
    """``p -> alpha + beta . (p - c)`` for ``row = (alpha, beta_u, beta_v)``."""
    return lambda p: row[0] + (p - c) @ row[1:]


def reference_regions(model, plane, window):
    """pattern -> area of every activation region of ``model`` on the polygon ``window``."""
    lin = _Linearizer(model, plane)
    total = _area(window)
    found: dict[tuple, float] = {}
    stack = [window]
    while stack:
        poly = stack.pop()
        c = poly.mean(0)
        pattern, rows = lin(c)
        q = poly
        for row in rows:
            h = _halfplane(row, c)
            if h(q).min() >= -1e-12 * max(1.0, float(np.abs(h(q)).max())):
                continue
            out = _clip(q, lambda p, h=h: -h(p))
            if _area(out) > 1e-14 * total:
                stack.append(out)
            q = _clip(q, h)
        found[pattern] = found.get(pattern, 0.0) + _area(q)
    return found


# --------------------------------------------------------------------------------- the cases


def _seeded(net, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * (0.8 if p.dim() > 1 else 0.3))
    return net


def _conv1d():  # MaxPool1d with padding, stride < kernel, and a ReLU after it
    return nn.Sequential(
        nn.Conv1d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool1d(3, stride=2, padding=1),
        nn.Flatten(), nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 1),
    )  # fmt: skip


def _conv2d_overlap():  # MaxPool2d 2x2 windows with stride 1 (overlapping)
    return nn.Sequential(
        nn.Conv2d(1, 2, 2), nn.ReLU(), nn.MaxPool2d(2, stride=1), nn.Flatten(),
        nn.Linear(8, 3), nn.ReLU(), nn.Linear(3, 1),
    )  # fmt: skip


def _conv2d_ceil():  # padding, ceil_mode (a clipped last window) and 3x3 windows
    return nn.Sequential(
        nn.Conv2d(1, 1, 2), nn.ReLU(), nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True),
        nn.Flatten(), nn.Linear(4, 1),
    )  # fmt: skip


def _pool_first():  # max pool straight on the input (nothing folded in front of it)
    return nn.Sequential(nn.MaxPool1d(2), nn.Flatten(), nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))


CASES = [
    ("conv1d", _conv1d, (1, 5), 0),
    ("conv2d-overlap", _conv2d_overlap, (1, 4, 4), 1),
    ("conv2d-ceil", _conv2d_ceil, (1, 4, 4), 2),
    ("pool-first", _pool_first, (1, 6), 3),
]


@pytest.mark.parametrize(("name", "make", "shape", "seed"), CASES, ids=[c[0] for c in CASES])
def test_count_2d_with_maxpool_equals_reference(name, make, shape, seed):
    model = _seeded(make(), seed)
    pts = torch.randn(3, *shape, generator=torch.Generator().manual_seed(10 + seed))
    r = regions.count_2d(model, pts)
    # geometry: the polygons tile the window and form a valid planar subdivision
    assert float(r.areas.sum()) == pytest.approx(r.window_area, rel=1e-9)
    assert bool((r.areas > 0).all())
    assert r.euler_characteristic() == 1
    # the pattern (ReLU states and max-pool winners) at each centroid is the model's
    pats = r.patterns.long()
    assert torch.equal(pl.activation_patterns(model, r.plane.embed(r.centroids)).flat(), pats)
    # each region has its own pattern, and the regions are exactly the reference's
    ref = reference_regions(model, r.plane, r.window.numpy())
    got = {tuple(p): float(a) for p, a in zip(pats.tolist(), r.areas, strict=True)}
    assert len(got) == r.n_regions
    assert set(got) == set(ref)
    for p, a in got.items():
        assert a == pytest.approx(ref[p], abs=1e-9 * r.window_area)
    assert r.n_regions > 10  # a real partition, not a trivial one


def test_max_pool_merge_when_faces_outnumber_vertices():
    """Regression: the merge of max-pool pieces chose each group's first face row starting from a
    vertex-count bound, so when faces outnumbered vertices some groups overwrote an unrelated row
    and regions vanished (1140 regions covering 94% of the window, Euler -15)."""
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 2, 2), nn.ReLU(), nn.MaxPool2d(3, stride=1, padding=1), nn.Flatten()
    )  # fmt: skip
    pts = torch.randn(3, 1, 5, 5)
    r = regions.count_2d(net, pts)
    assert float(r.areas.sum()) == pytest.approx(r.window_area, rel=1e-9)
    assert r.euler_characteristic() == 1
    pats = r.patterns.long()
    assert len({tuple(p) for p in pats.tolist()}) == r.n_regions == 1175
    assert torch.equal(pl.activation_patterns(net, r.plane.embed(r.centroids)).flat(), pats)


def test_maxout_on_a_2d_input_equals_reference():
    model = _seeded(
        nn.Sequential(
            nn.Linear(2, 9), nn.Unflatten(1, (1, 9)), nn.MaxPool1d(3), nn.Flatten(),
            nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1),
        ),
        4,
    )  # fmt: skip
    r = regions.count_2d(model, window=(-3, 3, -3, 3))
    ref = reference_regions(model, r.plane, r.window.numpy())
    assert r.n_regions == len(ref) and r.euler_characteristic() == 1
    # every vertex is used, and the count does not depend on keeping the patterns
    assert torch.unique(r.faces[r.faces >= 0]).numel() == r.vertices.shape[0]
    assert regions.count_2d(model, window=(-3, 3, -3, 3), patterns=False).n_regions == r.n_regions
    assert {tuple(p) for p in r.patterns.long().tolist()} == set(ref)


def test_kernel_one_max_pool_changes_nothing():
    g = torch.Generator().manual_seed(5)
    base = nn.Sequential(
        nn.Linear(2, 10), nn.ReLU(), nn.Linear(10, 10), nn.ReLU(), nn.Linear(10, 1)
    )
    with torch.no_grad():
        for p in base.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.7)
    pooled = nn.Sequential(
        base[0], base[1], nn.Unflatten(1, (1, 10)), nn.MaxPool1d(1), nn.Flatten(),
        base[2], base[3], base[4],
    )  # fmt: skip
    a = regions.count_2d(base, window=(-2, 2, -2, 2))
    b = regions.count_2d(pooled, window=(-2, 2, -2, 2))
    assert a.n_regions == b.n_regions > 20
    keep = torch.cat([torch.arange(10), torch.arange(20, 30)])  # drop the pool's columns
    assert {tuple(p) for p in a.patterns.long().tolist()} == {
        tuple(p) for p in b.patterns.long()[:, keep].tolist()
    }
    # a one-entry window always passes on its own entry: state = its spatial index
    assert torch.equal(b.patterns[:, 10:20].long(), torch.arange(10).expand(b.n_regions, -1))


def test_max_regions_is_checked_inside_a_max_pool():
    net = _seeded(nn.Sequential(nn.Linear(2, 12), nn.Unflatten(1, (1, 12)), nn.MaxPool1d(3, 1)), 9)
    with pytest.raises(regions.RegionLimitError, match="max_regions=5 at layer '2' pool output"):
        regions.count_2d(net, window=(-3, 3, -3, 3), max_regions=5)


def test_unsupported_adaptive_max_pool_is_named():
    net = nn.Sequential(nn.Linear(2, 6), nn.Unflatten(1, (1, 6)), nn.AdaptiveMaxPool1d(2))
    with pytest.raises(pl.UnsupportedLayerError, match="AdaptiveMaxPool1d"):
        regions.count_2d(net)
    with pytest.raises(pl.UnsupportedLayerError, match="AdaptiveMaxPool1d"):
        regions.distance_to_boundary(net, torch.zeros(1, 2))


# ------------------------------------------------------------------------- distance to boundary


def _point_segment_distance(p, a, b):
    d = b - a
    s = ((p - a) @ d / (d @ d)).clamp(0, 1)
    return float((p - (a + s * d)).norm())


def _maxpool_1d_net():
    return nn.Sequential(
        nn.Linear(2, 12), nn.ReLU(), nn.Unflatten(1, (2, 6)), nn.MaxPool1d(3, stride=2, padding=1),
        nn.Flatten(), nn.Linear(6, 1),
    )  # fmt: skip


def _maxpool_2d_net():
    return nn.Sequential(
        nn.Linear(2, 16), nn.ReLU(), nn.Unflatten(1, (1, 4, 4)), nn.Conv2d(1, 2, 2), nn.ReLU(),
        nn.MaxPool2d(2, stride=1), nn.Flatten(), nn.Linear(8, 1),
    )  # fmt: skip


@pytest.mark.parametrize(("make", "seed"), [(_maxpool_1d_net, 6), (_maxpool_2d_net, 7)])
def test_distance_to_boundary_with_maxpool_equals_distance_to_polygon_edges(make, seed):
    net = _seeded(make(), seed)
    r = regions.count_2d(net, window=(-3, 3, -3, 3))
    polys = r.polygons
    inner = [i for i, p in enumerate(polys) if bool((p.abs().max(1).values < 3 - 1e-9).all())]
    assert len(inner) >= 5
    c = r.centroids[inner]
    res = regions.distance_to_boundary(net, c)
    for k, i in enumerate(inner):
        p = polys[i]
        ref = min(_point_segment_distance(c[k], p[j], p[(j + 1) % len(p)]) for j in range(len(p)))
        assert float(res.distance[k]) == pytest.approx(ref, rel=1e-9)
    # some of the nearest boundaries are max-pool ties
    pool_site = [n for n, m in net.named_modules() if isinstance(m, nn.MaxPool1d | nn.MaxPool2d)]
    assert pool_site[0] in {res.sites[s] for s in res.nearest_site.tolist()}


def test_distance_to_boundary_with_maxpool_in_higher_dimension_is_a_safe_radius():
    net = _seeded(_conv1d(), 8)
    x = torch.randn(4, 1, 5, generator=torch.Generator().manual_seed(3))
    d = regions.distance_to_boundary(net, x)
    p0 = pl.activation_patterns(net, x).flat()
    dirs = torch.randn(64, 1, 5, generator=torch.Generator().manual_seed(4)).double()
    dirs = dirs / dirs.flatten(1).norm(dim=1)[:, None, None]
    for i in range(4):
        inside = x[i].double() + 0.999 * float(d.distance[i]) * dirs
        assert bool((pl.activation_patterns(net, inside).flat() == p0[i]).all())
    assert bool(torch.isfinite(d.distance).all()) and bool((d.distance > 0).all())
