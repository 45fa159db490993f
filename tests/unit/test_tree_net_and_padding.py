import copy

import pytest
import torch

from depthlab import nets
from depthlab.data.base import Dataset
from depthlab.experiments.compositional import size_for_budget
from depthlab.init import initialize
from depthlab.nets import TreeNet, count_params
from depthlab.train import TrainConfig, fit
from depthlab.train_batched import embed_padded, fit_batched


def _reg(n_in, n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = 2 * torch.rand(n + 32, n_in, generator=g, dtype=torch.float64) - 1
    y = torch.tanh(x[:, :1] * x[:, 1:2] + x.sum(1, keepdim=True) / 4)
    return Dataset(x[:n], y[:n], x[n:], y[n:], "regression", {})


@pytest.mark.parametrize(("n", "m"), [(2, 1), (4, 3), (8, 5), (16, 2)])
def test_tree_net_has_n_minus_1_nodes_of_4m_plus_1_parameters(n, m):
    net = TreeNet(n, m)
    assert count_params(net) == (n - 1) * (4 * m + 1)
    assert net.depth == n.bit_length() - 1
    assert net(torch.randn(5, n)).shape == (5, 1)


def test_tree_net_output_depends_on_each_pair_only_through_its_node():
    # Changing x1 and x2 while keeping node (x1, x2)'s output fixed leaves f unchanged:
    # with node width 1 and zero hidden bias, that node's output depends on w.(x1, x2) only.
    net = TreeNet(4, 1).double()
    w = net.w1[0][0, :, 0].detach()  # (2,) weights of node 0
    x = torch.tensor([[0.3, -0.2, 0.5, 0.1]], dtype=torch.float64)
    step = torch.tensor([w[1], -w[0]], dtype=torch.float64) * 0.7  # orthogonal to w
    x2 = x.clone()
    x2[0, :2] += step
    assert torch.allclose(net(x), net(x2), atol=1e-12)
    x3 = x.clone()
    x3[0, 2] += 0.4
    assert not torch.allclose(net(x), net(x3))


def test_tree_net_rejects_non_powers_of_two():
    with pytest.raises(ValueError, match="power of two"):
        TreeNet(6, 2)


@pytest.mark.parametrize("arch", ["mlp", "tree"])
def test_zero_padded_nets_train_exactly_like_the_narrow_nets(arch):
    data = _reg(4)
    cfg = TrainConfig(lr=2e-2, epochs=4, batch_size=16, loss="mse")
    narrow, wide = [], []
    for s, width in enumerate([1, 3, 6]):
        if arch == "mlp":
            a = nets.mlp([4, width, width, 1], activation="tanh").double()
            initialize(a, "lecun_normal", torch.Generator().manual_seed(s))
            big = nets.mlp([4, 6, 6, 1], activation="tanh").double()
        else:
            a = TreeNet(4, width).double().reset_parameters(torch.Generator().manual_seed(s))
            big = TreeNet(4, 6).double()
        narrow.append(a)
        wide.append(embed_padded(copy.deepcopy(a), big))
    gens = [torch.Generator().manual_seed(s) for s in range(3)]
    res = fit_batched(wide, data, cfg, generators=gens)
    for s, a in enumerate(narrow):
        r = fit(a, data, cfg, generator=torch.Generator().manual_seed(s))
        assert res.finals[s]["test_loss"] == pytest.approx(r.final["test_loss"], rel=1e-9)
        with torch.no_grad():
            assert torch.allclose(wide[s](data.x_test), a(data.x_test), atol=1e-12)


def test_budgets_are_matched_across_architectures():
    for n in (4, 8, 16):
        for budget in (250, 800):
            counts = {
                "shallow": count_params(nets.mlp([n, size_for_budget("shallow", n, budget), 1])),
                "tree": count_params(TreeNet(n, size_for_budget("tree", n, budget))),
            }
            depth = n.bit_length() - 1
            w = size_for_budget("deep", n, budget)
            counts["deep"] = count_params(nets.mlp([n] + [w] * depth + [1]))
            for arch, c in counts.items():
                assert abs(c - budget) <= 0.15 * budget, (n, budget, arch, c)
