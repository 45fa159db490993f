import torch
from torch import nn

from depthlab import pl
from depthlab.nets import mlp
from depthlab.testing import unchanged


def test_trace_leaves_model_unchanged():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    net.train()  # traced in eval mode on a copy; the original stays in train mode
    net(torch.randn(4, 3)).sum().backward()
    with unchanged(net):
        pl.trace_segments(net, torch.randn(2, 3), torch.randn(2, 3), layers=["2"], patterns=True)
        pl.activation_patterns(net, torch.randn(5, 3))
    m = mlp([2, 4, 1]).to(torch.float32)
    with unchanged(m):
        pl.trace_polyline(m, torch.randn(3, 2))
