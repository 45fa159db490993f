"""Exact 2-D and 1-D region counts against regioncam, an independent (Rust, float32) implementation."""

import numpy as np
import pytest
import torch

from depthlab import pl, regions
from depthlab.init import initialize
from depthlab.nets import mlp

regioncam = pytest.importorskip("regioncam")

# (widths, seed): 2-D inputs, planes through three points in 40-D and 784-D
CASES = [
    ([2, 3, 1], 0),
    ([2, 8, 1], 1),
    ([2, 32, 1], 2),
    ([2, 4, 4, 1], 3),
    ([2, 10, 10, 2], 4),
    ([2, 16, 16, 16, 1], 5),
    ([2, 8, 8, 8, 8, 8, 1], 6),
    ([2, 24, 12, 6, 3], 7),
    ([2, 40, 40, 1], 8),
    ([2, 5, 30, 5, 1], 9),
    ([2, 20, 20, 20, 20, 10], 10),
    ([40, 16, 1], 11),
    ([40, 16, 16, 1], 12),
    ([40, 32, 32, 32, 2], 13),
    ([40, 8, 8, 8, 8, 1], 14),
    ([40, 64, 1], 15),
    ([784, 16, 1], 16),
    ([784, 16, 16, 1], 17),
    ([784, 32, 32, 10], 18),
    ([784, 8, 8, 8, 8, 1], 19),
    ([784, 48, 24, 1], 20),
]


def _regioncam_faces(model, points=None) -> int:
    if points is None:
        rc = regioncam.Regioncam(1.0)
    else:
        rc = regioncam.Regioncam.through_points(points.numpy().astype(np.float32))
    lins = [m for m in model if isinstance(m, torch.nn.Linear)]
    for i, lin in enumerate(lins):
        w = lin.weight.detach().numpy().T.astype(np.float32).copy()
        rc.linear(w, lin.bias.detach().numpy().astype(np.float32))
        if i < len(lins) - 1:
            rc.relu()
    return rc.num_faces


def _net(widths, seed):
    g = torch.Generator().manual_seed(seed)
    return initialize(mlp(widths), "he_normal", g, sigma_b2=0.01)


@pytest.mark.parametrize(("widths", "seed"), CASES)
def test_count_2d_matches_regioncam(widths, seed):
    model = _net(widths, seed)
    g = torch.Generator().manual_seed(100 + seed)
    points = None if widths[0] == 2 else torch.randn(3, widths[0], generator=g)
    r = regions.count_2d(model, points)
    assert r.n_regions == _regioncam_faces(model, points)
    # the partition tiles the window, each region's pattern is the model's at its centroid,
    # and the subdivision is a valid planar graph
    assert float(r.areas.sum()) == pytest.approx(r.window_area, rel=1e-9)
    assert bool((r.areas > 0).all())
    centroids = r.plane.embed(r.centroids)
    assert torch.equal(pl.activation_patterns(model, centroids).flat(), r.patterns.long())
    assert r.euler_characteristic() == 1


def test_count_1d_matches_regioncam_1d():
    for seed in range(5):
        model = _net([6, 20, 20, 20, 1], seed)
        g = torch.Generator().manual_seed(seed)
        pts = torch.randn(2, 6, generator=g)
        rc = regioncam.Regioncam1D.through_points(pts.numpy().astype(np.float32), size=0.5)
        lins = [m for m in model if isinstance(m, torch.nn.Linear)]
        for i, lin in enumerate(lins):
            rc.linear(
                lin.weight.detach().numpy().T.astype(np.float32).copy(),
                lin.bias.detach().numpy().astype(np.float32),
            )
            if i < len(lins) - 1:
                rc.relu()
        # regioncam's line: the segment through both points, extended by size * half-length
        start, end = torch.tensor(rc.inputs[0]), torch.tensor(rc.inputs[-1])
        d = (pts[1] - pts[0]) / (pts[1] - pts[0]).norm()
        mid = 0.5 * (pts[0] + pts[1])
        a, b = mid + float(start) * d, mid + float(end) * d
        assert regions.count_1d(model, a, b).n_regions == rc.num_edges


def test_count_2d_leaky_relu_matches_regioncam():
    g = torch.Generator().manual_seed(9)
    model = initialize(mlp([2, 16, 16, 1], activation="leaky_relu"), "he_normal", g, sigma_b2=0.01)
    rc = regioncam.Regioncam(1.0)
    lins = [m for m in model if isinstance(m, torch.nn.Linear)]
    for i, lin in enumerate(lins):
        rc.linear(
            lin.weight.detach().numpy().T.astype(np.float32).copy(),
            lin.bias.detach().numpy().astype(np.float32),
        )
        if i < len(lins) - 1:
            rc.leaky_relu(0.01)
    assert regions.count_2d(model).n_regions == rc.num_faces


@pytest.mark.parametrize("activation", ["hardtanh", "abs", "leaky_relu"])
def test_count_2d_other_kinks_tile_and_match_patterns(activation):
    from depthlab.nets import residual_mlp

    g = torch.Generator().manual_seed(3)
    model = initialize(
        residual_mlp(2, 8, 1, depth=2, eta=0.7, activation=activation),
        "he_normal",
        g,
        sigma_b2=0.01,
    )
    r = regions.count_2d(model, window=(-2, 2, -2, 2))
    assert float(r.areas.sum()) == pytest.approx(16.0, rel=1e-9)
    assert torch.equal(pl.activation_patterns(model, r.centroids).flat(), r.patterns.long())
    assert r.euler_characteristic() == 1
    # the 1-D count along the window's diagonal equals the regions the 2-D map crosses there
    r1 = regions.count_1d(model, torch.tensor([-2.0, -2.0]), torch.tensor([2.0, 2.0]))
    t = torch.linspace(0, 1, 100001, dtype=torch.float64)
    p = pl.activation_patterns(model, torch.stack([4 * t - 2, 4 * t - 2], 1)).flat()
    assert r1.n_regions == int((p[1:] != p[:-1]).any(1).sum()) + 1
