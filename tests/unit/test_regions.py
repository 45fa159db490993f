"""count_1d / count_2d / distance_to_boundary: dense references, geometry checks and errors."""

import pytest
import torch

from depthlab import pl, regions
from depthlab.init import initialize
from depthlab.nets import mlp


def _net(widths, seed, sigma_b2=0.01):
    return initialize(
        mlp(widths), "he_normal", torch.Generator().manual_seed(seed), sigma_b2=sigma_b2
    )


@pytest.mark.parametrize("seed", range(4))
def test_count_1d_equals_dense_sampling(seed):
    net = _net([3, 10, 10, 10, 1], seed)
    g = torch.Generator().manual_seed(seed)
    a, b = torch.randn(3, generator=g), torch.randn(3, generator=g)
    r = regions.count_1d(net, a, b)
    t = torch.linspace(0, 1, 200001, dtype=torch.float64)
    p = pl.activation_patterns(net, a.double() + t[:, None] * (b - a).double()).flat()
    assert r.n_regions == int((p[1:] != p[:-1]).any(1).sum()) + 1
    assert r.patterns.shape == (r.n_regions, 30)
    df = r.to_frame()
    assert len(df) == r.n_regions and df["t_end"].iloc[-1] == 1.0


def test_batch_matches_single_segments():
    net = _net([5, 16, 16, 1], 3)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(20, 5, generator=g)
    a, b = regions.segments_through(x, 6, g)
    batch = regions.count_1d_batch(net, a, b)
    single = [regions.count_1d(net, a[i], b[i]).n_regions for i in range(6)]
    assert batch.n_regions.tolist() == single
    assert torch.allclose(batch.density, batch.n_regions.double() / (b - a).double().norm(dim=1))
    assert list(batch.to_frame().columns) == ["segment", "n_regions", "length", "density"]


def test_triangle_domain_area_and_patterns():
    net = _net([10, 12, 12, 1], 5)
    pts = torch.randn(3, 10, generator=torch.Generator().manual_seed(2))
    r = regions.count_2d(net, pts, domain="triangle")
    uv = r.plane.coords(pts)
    tri = 0.5 * abs(
        float(
            (uv[1, 0] - uv[0, 0]) * (uv[2, 1] - uv[0, 1])
            - (uv[2, 0] - uv[0, 0]) * (uv[1, 1] - uv[0, 1])
        )
    )
    assert float(r.areas.sum()) == pytest.approx(tri, rel=1e-9)
    assert torch.equal(
        pl.activation_patterns(net, r.plane.embed(r.centroids)).flat(), r.patterns.long()
    )
    assert r.euler_characteristic() == 1
    assert len(r.polygons) == r.n_regions == len(r.to_frame())


def test_max_regions_raises_a_clear_error():
    with pytest.raises(regions.RegionLimitError, match="max_regions=10"):
        regions.count_2d(_net([2, 30, 30, 1], 0), max_regions=10)


def test_bad_window_and_domain_are_named():
    with pytest.raises(ValueError, match="window"):
        regions.count_2d(_net([2, 3, 1], 0), window=(1, 0, 0, 1))
    with pytest.raises(ValueError, match="domain"):
        regions.count_2d(_net([3, 3, 1], 0), torch.randn(3, 3), domain="disc")


def _point_segment_distance(p, a, b):
    d = b - a
    s = ((p - a) @ d / (d @ d)).clamp(0, 1)
    return float((p - (a + s * d)).norm())


def test_distance_to_boundary_equals_distance_to_polygon_edges():
    net = _net([2, 8, 8, 1], 7, sigma_b2=0.1)
    r = regions.count_2d(net, window=(-3, 3, -3, 3))
    polys = r.polygons
    inner = [i for i, p in enumerate(polys) if bool((p.abs().max(1).values < 3 - 1e-9).all())]
    assert len(inner) >= 5
    c = r.centroids[inner]
    d = regions.distance_to_boundary(net, c).distance
    for k, i in enumerate(inner):
        p = polys[i]
        ref = min(_point_segment_distance(c[k], p[j], p[(j + 1) % len(p)]) for j in range(len(p)))
        assert float(d[k]) == pytest.approx(ref, rel=1e-9)


def test_distance_to_boundary_in_high_dimension_is_a_lower_bound_of_sampled_escapes():
    net = _net([20, 16, 16, 1], 1)
    x = torch.randn(4, 20, generator=torch.Generator().manual_seed(3))
    d = regions.distance_to_boundary(net, x)
    p0 = pl.activation_patterns(net, x).flat()
    dirs = torch.randn(64, 20, generator=torch.Generator().manual_seed(4)).double()
    dirs = dirs / dirs.norm(dim=1, keepdim=True)
    for i in range(4):
        inside = x[i].double() + 0.999 * float(d.distance[i]) * dirs
        assert bool((pl.activation_patterns(net, inside).flat() == p0[i]).all())
    assert list(d.to_frame().columns) == ["point", "distance", "nearest_layer"]
