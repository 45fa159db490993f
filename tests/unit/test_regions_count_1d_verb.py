"""count_1d is one verb for one segment or a batch; count_1d_batch is its deprecated alias; the
facade's names are the package's."""

import pytest
import torch
from torch import nn

import depthlab.probes.regions as impl
from depthlab import regions
from depthlab.init import initialize
from depthlab.nets import mlp


def _net(widths, seed):
    g = torch.Generator().manual_seed(seed)
    return initialize(mlp(widths), "he_normal", g, sigma_b2=0.01)


def _segments(n, d, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g), torch.randn(n, d, generator=g)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_a_batch_counts_what_each_segment_counts_alone(dtype):
    net = _net([3, 24, 24, 1], 0)
    a, b = _segments(12, 3, 1)
    res = regions.count_1d(net, a, b, dtype=dtype)
    assert isinstance(res, regions.Regions1DBatch)
    single = [regions.count_1d(net, a[i], b[i]) for i in range(12)]
    assert all(isinstance(r, regions.Regions1D) for r in single)
    counts = [r.n_regions for r in single]
    assert min(counts) >= 2  # the segments do cross kinks: the comparison is not vacuous
    if dtype == torch.float64:
        assert res.n_regions.tolist() == counts
        for i, r in enumerate(single):
            torch.testing.assert_close(res.trace.breakpoints(i), r.breakpoints, rtol=0, atol=1e-12)
    else:  # float32 may decide near-degenerate crossings differently: almost all agree
        assert sum(x == y for x, y in zip(res.n_regions.tolist(), counts, strict=True)) >= 11
    lengths = torch.tensor([r.length for r in single], dtype=torch.float64)
    torch.testing.assert_close(
        res.lengths, lengths, rtol=1e-6 if dtype == torch.float32 else 0, atol=0
    )


def test_the_shape_decides_one_or_many_for_conv_inputs_too():
    net = nn.Sequential(
        nn.Conv1d(1, 2, 3), nn.ReLU(), nn.MaxPool1d(2, stride=1), nn.Flatten(), nn.Linear(6, 1)
    ).double()
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    a, b = torch.randn(4, 1, 6, generator=g), torch.randn(4, 1, 6, generator=g)
    many = regions.count_1d(net, a, b)  # (S, C, L): rank 2 + 1
    assert isinstance(many, regions.Regions1DBatch)
    one = [regions.count_1d(net, a[i], b[i]) for i in range(4)]  # (C, L)
    assert all(isinstance(r, regions.Regions1D) for r in one)
    assert many.n_regions.tolist() == [r.n_regions for r in one]
    assert sum(r.n_regions for r in one) > 4


def test_batch_flag_overrides_and_ambiguous_shapes_are_refused():
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1)).double()
    a, b = _segments(3, 4, 3)
    with pytest.raises(ValueError, match="pass batch=True or batch=False"):
        regions.count_1d(net, a, b)
    assert regions.count_1d(net, a, b, batch=True).n_regions.shape == (3,)
    one = regions.count_1d(net, a[:1], b[:1], batch=False)  # (1, 4) is one input of this net
    assert isinstance(one, regions.Regions1D)
    assert one.n_regions == int(regions.count_1d(net, a[:1], b[:1], batch=True).n_regions[0])
    with pytest.raises(ValueError, match="one shape"):
        regions.count_1d(_net([4, 8, 1], 0), a, b[:2])
    with pytest.raises(ValueError, match="rank 1"):
        regions.count_1d(_net([4, 8, 1], 0), a[None], b[None])
    with pytest.raises(ValueError, match="batches only"):
        regions.count_1d(_net([4, 8, 1], 0), a[0], b[0], dtype=torch.float32)


def test_count_1d_batch_is_a_deprecated_alias_with_the_same_numbers():
    net = _net([2, 16, 16, 1], 4)
    a, b = _segments(6, 2, 5)
    with pytest.warns(DeprecationWarning, match="count_1d takes"):
        old = regions.count_1d_batch(net, a, b)
    new = regions.count_1d(net, a, b)
    assert torch.equal(old.n_regions, new.n_regions)
    assert torch.equal(old.trace.t, new.trace.t)
    assert int(new.n_regions.sum()) > 6


def test_the_facade_exports_the_package_names():
    assert regions.__all__ == impl.__all__
    assert "count_1d" in regions.__all__ and "count_1d_batch" in regions.__all__
    for name in regions.__all__:
        assert getattr(regions, name) is getattr(impl, name)
