"""count_2d with MaxPool1d against regioncam (an independent Rust, float32 implementation).

regioncam's ``max_pool`` is a max over a whole layer, so a windowed ``MaxPool1d`` becomes one
selection layer plus ``max_pool`` per window (all read the same input layer); an elementwise
ReLU after the pool is applied per window. The partition is the same as the PyTorch model's.

With overlapping windows regioncam can cut one region into several faces (the same tie line is
computed once per window in float32, leaving slivers of area ~1e-10 and faces that share an
activation pattern). So the comparison is on patterns: the distinct patterns of regioncam's faces
(evaluated at their centroids) are exactly our regions' patterns, one region each.
"""

import numpy as np
import pytest
import torch
from torch import nn

from depthlab import pl, regions

regioncam = pytest.importorskip("regioncam")


def _model(hidden, width, kernel, stride, relu_after, seed):
    layers = [
        nn.Linear(2, hidden), nn.ReLU(), nn.Linear(hidden, width), nn.Unflatten(1, (1, width)),
        nn.MaxPool1d(kernel, stride), nn.Flatten(),
    ]  # fmt: skip
    if relu_after:
        layers.append(nn.ReLU())
    net = nn.Sequential(*layers)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * (0.8 if p.dim() > 1 else 0.3))
    return net


def _regioncam(net, size, width, kernel, stride, relu_after):
    rc = regioncam.Regioncam(size)
    f32 = lambda t: t.detach().numpy().astype(np.float32)  # noqa: E731
    rc.linear(f32(net[0].weight).T.copy(), f32(net[0].bias))
    rc.relu()
    pre = rc.linear(f32(net[2].weight).T.copy(), f32(net[2].bias))
    for o in range((width - kernel) // stride + 1):
        sel = np.zeros((width, kernel), np.float32)
        sel[o * stride + np.arange(kernel), np.arange(kernel)] = 1.0
        rc.linear(sel, np.zeros(kernel, np.float32), input_layer=pre)
        rc.max_pool()
        if relu_after:
            rc.relu()
    return rc


def _face_patterns(rc, net) -> torch.Tensor:
    xy = np.asarray(rc.vertex_inputs, dtype=np.float64)
    cents = np.stack([xy[np.asarray(f.vertex_ids, dtype=np.int64)].mean(0) for f in rc.faces])
    return pl.activation_patterns(net, torch.from_numpy(cents)).flat()


# (hidden, width, kernel, stride, relu after the pool, seed); stride < kernel: overlapping windows
CASES = [
    (6, 6, 2, 2, False, 0),
    (8, 12, 3, 2, False, 1),
    (8, 12, 3, 1, False, 2),
    (10, 12, 4, 2, True, 3),
    (12, 16, 2, 1, True, 4),
    (6, 10, 5, 5, False, 5),
]


@pytest.mark.parametrize(("hidden", "width", "kernel", "stride", "relu_after", "seed"), CASES)
def test_count_2d_maxpool_matches_regioncam(hidden, width, kernel, stride, relu_after, seed):
    net = _model(hidden, width, kernel, stride, relu_after, seed)
    r = regions.count_2d(net, window=(-2, 2, -2, 2))
    rc = _regioncam(net, 2.0, width, kernel, stride, relu_after)
    theirs = {tuple(p) for p in _face_patterns(rc, net).tolist()}
    ours = [tuple(p) for p in r.patterns.long().tolist()]
    assert len(set(ours)) == r.n_regions == len(theirs) <= rc.num_faces
    assert set(ours) == theirs
    assert float(r.areas.sum()) == pytest.approx(16.0, rel=1e-9)
    assert r.euler_characteristic() == 1
    assert torch.equal(pl.activation_patterns(net, r.centroids).flat(), r.patterns.long())
    # and along the window's diagonal the 2-D map agrees with the 1-D count of the same model
    r1 = regions.count_1d(net, torch.tensor([-2.0, -2.0]), torch.tensor([2.0, 2.0]))
    t = torch.linspace(0, 1, 50001, dtype=torch.float64)
    p = pl.activation_patterns(net, torch.stack([4 * t - 2, 4 * t - 2], 1)).flat()
    assert r1.n_regions == int((p[1:] != p[:-1]).any(1).sum()) + 1
