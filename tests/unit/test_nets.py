import pytest
import torch

from depthlab import nets
from depthlab.nets import ACTIVATIONS, count_params


@pytest.mark.parametrize("act", ACTIVATIONS)
def test_mlp_any_activation_shape_and_params(act):
    m = nets.mlp([3, 10, 7, 2], activation=act)
    assert m(torch.randn(5, 3)).shape == (5, 2)
    assert count_params(m) == (3 * 10 + 10) + (10 * 7 + 7) + (7 * 2 + 2)


def test_mlp_without_bias():
    assert count_params(nets.mlp([4, 8, 1], bias=False)) == 4 * 8 + 8


def test_parse_widths():
    assert nets.parse_widths("784-64x3-10") == [784, 64, 64, 64, 10]
    with pytest.raises(ValueError, match="positive"):
        nets.mlp([3, 0, 1])


def test_residual_mlp_branch_scales():
    m = nets.residual_mlp(6, 16, 3, depth=4, eta=[1.0, 0.5, 0.25, 0.0])
    assert [b.eta for b in m.blocks] == [1.0, 0.5, 0.25, 0.0]
    assert m(torch.randn(2, 6)).shape == (2, 3)
    with pytest.raises(ValueError, match="depth"):
        nets.residual_mlp(6, 16, 3, depth=3, eta=[1.0])


# Published parameter counts for CIFAR ResNets with 1x1 projection shortcuts:
# ResNet-20 ≈ 0.27M, ResNet-56 ≈ 0.86M, ResNet-110 ≈ 1.7M.
@pytest.mark.parametrize(
    ("depth", "low", "high"), [(20, 0.26e6, 0.28e6), (56, 0.84e6, 0.87e6), (110, 1.70e6, 1.74e6)]
)
def test_cifar_resnet_param_counts(depth, low, high):
    m = nets.resnet_cifar(depth)
    assert low < count_params(m) < high
    no = nets.resnet_cifar(depth, skip=False)
    assert count_params(no) < count_params(m)  # the projection shortcuts are gone


def test_cifar_resnet_shapes():
    m = nets.resnet20().eval()
    assert m(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    with pytest.raises(ValueError, match="6n\\+2"):
        nets.resnet_cifar(21)


def test_mnist1d_nets_shapes():
    x = torch.randn(4, 40)
    assert nets.cnn1d()(x).shape == (4, 10)
    for skip in (True, False):
        assert nets.resnet1d(blocks=4, skip=skip).eval()(x).shape == (4, 10)
    assert (
        count_params(nets.cnn1d(channels=32))
        == 32 * 5 + 32 + 2 * (32 * 32 * 3 + 32) + 32 * 5 * 10 + 10
    )


@pytest.mark.parametrize("k", range(1, 11))
def test_sawtooth_matches_tent_map_and_hits_integers(k):
    net = nets.sawtooth(k).double()
    x = torch.linspace(0, 1, 4097, dtype=torch.float64).unsqueeze(1)
    assert torch.allclose(net(x), nets.sawtooth_fn(x, k), atol=1e-9)
    i = torch.arange(2**k + 1, dtype=torch.float64)
    assert torch.allclose(net((i / 2**k).unsqueeze(1)).squeeze(1), i % 2, atol=1e-9)
