"""The model zoo: plain ``nn.Module`` builders with typed constructors."""

from depthlab.nets.activations import ACTIVATIONS, activation_fn, activation_module
from depthlab.nets.constructions import sawtooth, sawtooth_fn
from depthlab.nets.load import ZOO, load_target
from depthlab.nets.mlp import MLP, ResidualBlock, ResidualMLP, mlp, parse_widths, residual_mlp
from depthlab.nets.multiplication import (
    ProductTree,
    multiplication_gate,
    product_tree,
    squaring_gate,
)
from depthlab.nets.resnet import (
    CNN1D,
    BasicBlock,
    CifarResNet,
    ResNet1D,
    cnn1d,
    resnet1d,
    resnet20,
    resnet56,
    resnet110,
    resnet_cifar,
)
from depthlab.nets.tree import TreeNet, tree_net


def count_params(model) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


__all__ = [
    "ACTIVATIONS",
    "CNN1D",
    "MLP",
    "ZOO",
    "BasicBlock",
    "CifarResNet",
    "ProductTree",
    "ResNet1D",
    "ResidualBlock",
    "ResidualMLP",
    "TreeNet",
    "activation_fn",
    "activation_module",
    "cnn1d",
    "count_params",
    "load_target",
    "mlp",
    "multiplication_gate",
    "parse_widths",
    "product_tree",
    "residual_mlp",
    "resnet1d",
    "resnet20",
    "resnet56",
    "resnet110",
    "resnet_cifar",
    "sawtooth",
    "sawtooth_fn",
    "squaring_gate",
    "tree_net",
]
