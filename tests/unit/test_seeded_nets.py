"""Seeded construction: every random net in depthlab.nets is a function of its generator."""

import math

import pytest
import torch
from torch import nn

from depthlab import nets
from depthlab.nets.seeded import reset_parameters

# name -> build(generator): every constructor in depthlab.nets whose parameters are random
BUILDERS = {
    "mlp": lambda g: nets.mlp([5, 7, 3], generator=g),
    "MLP": lambda g: nets.MLP([4, 6, 6, 2], activation="tanh", generator=g),
    "residual_mlp": lambda g: nets.residual_mlp(3, 8, 2, depth=2, eta=0.5, generator=g),
    "ResidualMLP": lambda g: nets.ResidualMLP(3, 8, 2, [1.0, 0.5], generator=g),
    "ResidualBlock": lambda g: nets.ResidualBlock(6, 0.5, generator=g),
    "BasicBlock": lambda g: nets.BasicBlock(4, 8, stride=2, dim=1, generator=g),
    "resnet_cifar": lambda g: nets.resnet_cifar(8, skip=True, generator=g),
    "CifarResNet": lambda g: nets.CifarResNet(8, skip=False, width=4, generator=g),
    "resnet20": lambda g: nets.resnet20(generator=g),
    "resnet56": lambda g: nets.resnet56(skip=False, generator=g),
    "resnet110": lambda g: nets.resnet110(generator=g),
    "cnn1d": lambda g: nets.cnn1d(channels=4, generator=g),
    "CNN1D": lambda g: nets.CNN1D(channels=4, length=20, generator=g),
    "resnet1d": lambda g: nets.resnet1d(blocks=3, channels=4, generator=g),
    "ResNet1D": lambda g: nets.ResNet1D(blocks=1, channels=4, skip=False, generator=g),
    "tree_net": lambda g: nets.tree_net(4, 3, generator=g),
    "TreeNet": lambda g: nets.TreeNet(8, 2, generator=g),
}

# Exact constructions: every parameter is set by hand, so there is nothing to seed.
EXACT = {
    "sawtooth": lambda: nets.sawtooth(3),
    "multiplication_gate": lambda: nets.multiplication_gate("softplus"),
    "squaring_gate": lambda: nets.squaring_gate("tanh"),
    "product_tree": lambda: nets.product_tree(5),
}


def _params(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _disturb_global_rng() -> None:
    torch.rand(137)  # advance the global stream, as other code in the process would


def test_every_random_constructor_is_listed():
    """A new constructor in nets.__all__ must join BUILDERS (seeded) or EXACT (hand-set)."""
    helpers = {"ACTIVATIONS", "ZOO", "activation_fn", "activation_module", "count_params"}
    helpers |= {"load_target", "parse_widths", "sawtooth_fn", "ProductTree"}
    assert set(nets.__all__) - helpers == set(BUILDERS) | set(EXACT)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_same_generator_same_model_whatever_the_global_rng(name):
    build = BUILDERS[name]
    a = _params(build(torch.Generator().manual_seed(11)))
    _disturb_global_rng()
    b = _params(build(torch.Generator().manual_seed(11)))
    c = _params(build(torch.Generator().manual_seed(12)))
    assert _equal(a, b)
    assert not _equal(a, c)


@pytest.mark.parametrize("name", sorted(EXACT))
def test_exact_constructions_do_not_depend_on_the_global_rng(name):
    a = _params(EXACT[name]())
    _disturb_global_rng()
    assert _equal(a, _params(EXACT[name]()))


def test_linear_and_conv_draws_match_pytorch_default_init():
    """Same distributions as PyTorch: kaiming_uniform_(a=sqrt(5)) weights, U(±1/sqrt(fan_in)) bias."""
    for layer in (nn.Linear(20, 7), nn.Conv2d(3, 5, 3), nn.Conv1d(2, 4, 5, bias=False)):
        reset_parameters(layer, torch.Generator().manual_seed(3))
        g = torch.Generator().manual_seed(3)
        w = torch.empty_like(layer.weight)
        nn.init.kaiming_uniform_(w, a=math.sqrt(5), generator=g)
        assert torch.equal(layer.weight, w)
        fan_in = layer.weight.shape[1] * math.prod(layer.weight.shape[2:])
        if layer.bias is not None:
            b = torch.empty_like(layer.bias).uniform_(
                -1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in), generator=g
            )
            assert torch.equal(layer.bias, b)


def test_weight_spread_is_the_default_one():
    """A wide layer's weights fill U(-1/sqrt(fan_in), 1/sqrt(fan_in)): variance 1/(3 fan_in)."""
    fan_in = 400
    net = nets.mlp([fan_in, 500, 1], generator=torch.Generator().manual_seed(0))
    w = net[0].weight.detach()
    bound = 1 / math.sqrt(fan_in)
    assert float(w.abs().max()) <= bound
    assert float(w.abs().max()) > 0.999 * bound
    assert float(w.var()) == pytest.approx(1 / (3 * fan_in), rel=0.02)


def test_norm_layers_reset_and_unknown_parameters_refused():
    net = nets.resnet1d(blocks=1, channels=4)
    with torch.no_grad():
        net.stem[1].weight.fill_(3.0)
    reset_parameters(net, torch.Generator().manual_seed(0))
    assert torch.equal(net.stem[1].weight, torch.ones(4))

    class Odd(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(torch.ones(2))

    with pytest.raises(TypeError, match=r"'1' \(Odd\)"):
        reset_parameters(nn.Sequential(nn.Linear(2, 2), Odd()), torch.Generator())
    with pytest.raises(TypeError, match=r"torch\.Generator"):
        reset_parameters(nn.Linear(2, 2), 0)


def test_no_generator_leaves_pytorch_default_behaviour():
    """generator=None keeps PyTorch's own init (global RNG), drawing nothing extra."""
    state = torch.random.get_rng_state()
    a = _params(nets.mlp([3, 4, 1]))
    torch.random.set_rng_state(state)
    b = _params(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1)))
    assert _equal(a, b)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_seeded_construction_leaves_the_global_rng_alone(name):
    state = torch.random.get_rng_state()
    BUILDERS[name](torch.Generator().manual_seed(5))
    assert torch.equal(torch.random.get_rng_state(), state)
