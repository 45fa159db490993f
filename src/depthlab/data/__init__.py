"""Data with no network needed: MNIST-1D, sklearn digits, synthetic targets; CIFAR-10 read from
a downloaded copy (``$DEPTHLAB_DATA``); torchvision optional (downloads, MNIST)."""

from depthlab.data.base import Dataset, cache_dir
from depthlab.data.cifar import cifar10, cifar_root
from depthlab.data.real import digits, mnist1d, torchvision_dataset
from depthlab.data.synthetic import (
    TreeFunction,
    function_1d,
    product,
    sawtooth_data,
    sinusoid,
    sinusoid_target,
    tree_compositional,
)

DATASETS = ("mnist1d", "digits", "cifar10", "mnist")


def load(name: str, seed: int = 42, root: str | None = None) -> Dataset:
    """Load a classification dataset by name: mnist1d, digits, cifar10 or mnist.

    ``root`` is where cifar10 / mnist files live (see :func:`cifar_root`); the others ignore it.
    """
    if name == "mnist1d":
        return mnist1d(seed=seed)
    if name == "digits":
        return digits(seed=seed)
    if name == "cifar10":
        return cifar10(root=root)
    if name == "mnist":
        return torchvision_dataset(name, root=root)
    raise ValueError(f"unknown dataset {name!r}; allowed: {', '.join(DATASETS)}")


__all__ = [
    "DATASETS",
    "Dataset",
    "TreeFunction",
    "cache_dir",
    "cifar10",
    "cifar_root",
    "digits",
    "function_1d",
    "load",
    "mnist1d",
    "product",
    "sawtooth_data",
    "sinusoid",
    "sinusoid_target",
    "torchvision_dataset",
    "tree_compositional",
]
