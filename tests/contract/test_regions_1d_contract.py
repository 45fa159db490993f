import torch
from torch import nn

from depthlab import regions
from depthlab.probes.regions import _one_d_fast as regions_1d
from depthlab.testing import unchanged


def test_count_1d_batch_fast_path_leaves_model_unchanged():
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Linear(3, 8), nn.BatchNorm1d(8), nn.LeakyReLU(0.1), nn.Dropout(0.2), nn.Linear(8, 2)
    )
    net.train()
    net(torch.randn(4, 3)).sum().backward()
    with unchanged(net):
        for dtype in (torch.float64, torch.float32):
            res = regions.count_1d_batch(net, torch.randn(5, 3), torch.randn(5, 3), dtype=dtype)
            assert res.n_regions.shape == (5,)
        tr, _ = regions_1d.trace_segments_fast(net, torch.randn(2, 3), torch.randn(2, 3))
        assert tr.n_segments == 2
