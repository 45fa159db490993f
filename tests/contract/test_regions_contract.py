import torch
from torch import nn

from depthlab import regions
from depthlab.testing import unchanged


def test_region_probes_leave_model_unchanged():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 1))
    net.train()
    net(torch.randn(4, 2)).sum().backward()
    with unchanged(net):
        regions.count_1d(net, torch.zeros(2), torch.ones(2))
        regions.count_1d_batch(net, torch.randn(3, 2), torch.randn(3, 2))
        regions.count_2d(net)
        regions.count_2d(net, torch.randn(3, 2))
        regions.distance_to_boundary(net, torch.randn(5, 2))


def test_maxpool_probes_leave_model_unchanged():
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv1d(1, 2, 3), nn.BatchNorm1d(2), nn.ReLU(), nn.MaxPool1d(2, stride=1),
        nn.Flatten(), nn.Linear(4, 1),
    )  # fmt: skip
    net.train()  # BatchNorm in train mode: the probes must not update its stats
    net(torch.randn(4, 1, 5)).sum().backward()
    pts, xs = torch.randn(3, 1, 5), torch.randn(3, 1, 5)
    rng = torch.get_rng_state()
    with unchanged(net):
        regions.count_2d(net, pts)
        regions.distance_to_boundary(net, xs)
    assert torch.equal(torch.get_rng_state(), rng)  # the global RNG is not drawn from
