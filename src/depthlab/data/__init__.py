"""Data with no network needed: MNIST-1D, sklearn digits, synthetic targets; torchvision optional."""

from depthlab.data.base import Dataset
from depthlab.data.real import cache_dir, digits, mnist1d, torchvision_dataset
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


def load(name: str, seed: int = 42) -> Dataset:
    """Load a classification dataset by name: mnist1d, digits, cifar10 or mnist."""
    if name == "mnist1d":
        return mnist1d(seed=seed)
    if name == "digits":
        return digits(seed=seed)
    if name in ("cifar10", "mnist"):
        return torchvision_dataset(name)
    raise ValueError(f"unknown dataset {name!r}; allowed: {', '.join(DATASETS)}")


__all__ = [
    "DATASETS",
    "Dataset",
    "TreeFunction",
    "cache_dir",
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
