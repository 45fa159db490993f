"""The exact piecewise-linear engine against dense sampling and hand-countable nets."""

import pytest
import torch
from torch import nn

from depthlab import pl
from depthlab.nets import mlp, residual_mlp, sawtooth
from depthlab.nets.activations import Abs


def _dense_pieces(model: nn.Module, a: torch.Tensor, b: torch.Tensor, n: int = 40001) -> int:
    t = torch.linspace(0, 1, n, dtype=torch.float64)
    x = a.double() + t.view(-1, *([1] * a.dim())) * (b - a).double()
    p = pl.activation_patterns(model, x).flat()
    return int((p[1:] != p[:-1]).any(1).sum()) + 1


def test_two_relu_net_has_breakpoints_you_can_count_on_paper():
    net = nn.Sequential(nn.Linear(1, 2), nn.ReLU(), nn.Linear(2, 1))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0], [1.0]]))
        net[0].bias.copy_(torch.tensor([-0.25, -0.75]))
    tr = pl.trace_segments(net, torch.tensor([[0.0]]), torch.tensor([[1.0]]))
    assert tr.breakpoints(0).tolist() == pytest.approx([0.25, 0.75], abs=1e-15)
    assert int(tr.n_pieces[0]) == 3


def test_sawtooth_pieces_through_engine():
    tr = pl.trace_segments(sawtooth(6), torch.tensor([[0.0]]), torch.tensor([[1.0]]))
    assert int(tr.n_pieces[0]) == 64


@pytest.mark.parametrize(
    ("name", "shape"),
    [("mlp", (5,)), ("res", (3,)), ("conv1d", (1, 16)), ("conv2d", (1, 6, 6))],
)
def test_pieces_match_dense_sampling(name, shape):
    torch.manual_seed(3)
    model = {
        "mlp": lambda: mlp([5, 12, 12, 2]),
        "res": lambda: residual_mlp(3, 8, 2, depth=3, eta=0.5),
        "conv1d": lambda: nn.Sequential(
            nn.Conv1d(1, 3, 3, padding=1),
            nn.BatchNorm1d(3),
            nn.ReLU(),
            nn.MaxPool1d(2),
            nn.Conv1d(3, 2, 3),
            nn.Hardtanh(),
            nn.Flatten(),
            nn.Linear(12, 4),
            Abs(),
            nn.Linear(4, 1),
        ),
        "conv2d": lambda: nn.Sequential(
            nn.Conv2d(1, 2, 3),
            nn.LeakyReLU(0.1),
            nn.MaxPool2d(2),
            nn.AvgPool2d(1),
            nn.Flatten(),
            nn.ReLU6(),
            nn.Linear(8, 1),
        ),
    }[name]().eval()
    g = torch.Generator().manual_seed(7)
    a, b = 2 * torch.randn(shape, generator=g), 2 * torch.randn(shape, generator=g)
    tr = pl.trace_segments(model, a[None], b[None])
    assert int(tr.n_pieces[0]) == _dense_pieces(model, a, b)


def test_lengths_are_exact_for_a_linear_model_and_inputs():
    torch.manual_seed(0)
    net = mlp([4, 16, 16, 3])
    a, b = torch.randn(3, 4), torch.randn(3, 4)
    tr = pl.trace_segments(net, a, b, layers=["input", "0", "1"])
    torch.testing.assert_close(tr.lengths("input"), (b - a).double().norm(dim=1))
    # the first Linear is affine: its image length is ||W (b - a)||
    w = net[0].weight.double()
    torch.testing.assert_close(tr.lengths("0"), ((b - a).double() @ w.T).norm(dim=1))
    # ReLU image length: dense polyline approximation converges from below
    t = torch.linspace(0, 1, 20001, dtype=torch.float64)
    x = a[0].double() + t[:, None] * (b[0] - a[0]).double()
    with torch.no_grad():
        h = torch.relu(x @ w.T + net[0].bias.double())
    dense = float((h[1:] - h[:-1]).norm(dim=1).sum())
    exact = float(tr.lengths("1")[0])
    assert dense <= exact + 1e-12 and exact == pytest.approx(dense, rel=1e-4)


def test_polyline_param_runs_over_vertices():
    torch.manual_seed(1)
    net = mlp([2, 10, 1])
    v = torch.randn(4, 2)
    tr = pl.trace_polyline(net, v, layers=["input"])
    assert float(tr.param.min()) == 0.0 and float(tr.param.max()) == 3.0
    assert tr.length("input") == pytest.approx(float((v[1:] - v[:-1]).norm(dim=1).sum()))


def test_unsupported_layer_is_named():
    net = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1))
    with pytest.raises(pl.UnsupportedLayerError, match=r"'1' \(Tanh\).*supported layers"):
        pl.trace_segments(net, torch.zeros(1, 2), torch.ones(1, 2))


def test_functional_relu_inside_forward_fails_loudly():
    class Hidden(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Linear(2, 8), nn.Linear(8, 1)

        def forward(self, x):
            return self.b(torch.relu(self.a(x)))

    torch.manual_seed(0)
    with pytest.raises(pl.NotPiecewiseLinearError):
        pl.trace_segments(Hidden(), -3 * torch.ones(1, 2), 3 * torch.ones(1, 2))


def test_unknown_layer_name_lists_allowed():
    with pytest.raises(ValueError, match="unknown layer 'nope'"):
        pl.trace_segments(mlp([2, 3, 1]), torch.zeros(1, 2), torch.ones(1, 2), layers=["nope"])
