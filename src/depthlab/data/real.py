"""Real datasets that need no network: MNIST-1D (generated locally) and scikit-learn digits.

CIFAR-10 is read from an already-downloaded ``cifar-10-batches-py`` folder without torchvision
(:mod:`depthlab.data.cifar`); torchvision is needed only to download it, and for MNIST. When
neither the files nor torchvision are there, a clear error says what is missing.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import torch

from depthlab.atomic import atomic_write_bytes
from depthlab.data.base import Dataset, cache_dir
from depthlab.data.cifar import cifar10


def mnist1d(
    seed: int = 42, num_samples: int = 5000, train_split: float = 0.8, cache: bool = True
) -> Dataset:
    """MNIST-1D (Greydanus 2020), generated locally by the ``mnist1d`` package: 40-d, 10 classes.

    The default makes the standard 4000/1000 split. The generated arrays are cached under
    :func:`cache_dir` keyed by the generation arguments; the seed is recorded in ``meta``.
    """
    args_key = {"seed": seed, "num_samples": num_samples, "train_split": train_split, "v": 1}
    digest = hashlib.sha1(json.dumps(args_key, sort_keys=True).encode()).hexdigest()[:12]
    path = cache_dir() / f"mnist1d-{digest}.npz"
    if cache and path.exists():
        arrays = dict(np.load(path))
    else:
        from mnist1d.data import get_dataset_args, make_dataset

        a = get_dataset_args()
        a.seed, a.num_samples, a.train_split = seed, num_samples, train_split
        d = make_dataset(a)
        arrays = {k: np.asarray(d[k]) for k in ("x", "y", "x_test", "y_test")}
        if cache:
            import io

            buf = io.BytesIO()
            np.savez(buf, **arrays)
            atomic_write_bytes(path, buf.getvalue())
    return Dataset(
        x_train=torch.as_tensor(arrays["x"], dtype=torch.float32),
        y_train=torch.as_tensor(arrays["y"], dtype=torch.int64),
        x_test=torch.as_tensor(arrays["x_test"], dtype=torch.float32),
        y_test=torch.as_tensor(arrays["y_test"], dtype=torch.int64),
        task="classification",
        meta={"name": "mnist1d", "seed": seed, "num_samples": num_samples, "num_classes": 10},
    )


def digits(seed: int = 0, test_fraction: float = 0.2) -> Dataset:
    """scikit-learn's 8x8 digits (1797 images), flattened to 64 features in [0, 1]."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.as_tensor(bunch.data / 16.0, dtype=torch.float32)
    y = torch.as_tensor(bunch.target, dtype=torch.int64)
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(x), generator=g)
    n_test = int(round(test_fraction * len(x)))
    te, tr = perm[:n_test], perm[n_test:]
    return Dataset(
        x[tr],
        y[tr],
        x[te],
        y[te],
        "classification",
        {"name": "digits", "seed": seed, "num_classes": 10},
    )


def torchvision_dataset(name: str, root: str | None = None, download: bool = True) -> Dataset:
    """CIFAR-10 (3x32x32) or MNIST (1x28x28), normalised per channel, as tensors.

    CIFAR-10 goes through :func:`depthlab.data.cifar.cifar10`: an existing
    ``cifar-10-batches-py`` folder under ``root`` (default ``$DEPTHLAB_DATA``, else the cache) is
    read without torchvision; torchvision only downloads a missing copy. MNIST needs torchvision.
    Raises a clear ``RuntimeError`` when the files are missing and cannot be fetched.
    """
    allowed = ("cifar10", "mnist")
    if name not in allowed:
        raise ValueError(f"unknown torchvision dataset {name!r}; allowed: {', '.join(allowed)}")
    if name == "cifar10":  # the same loader as ``data.load("cifar10")``
        return cifar10(root=root, download=download)
    try:
        import torchvision  # noqa: F401
        from torchvision import datasets
    except Exception as exc:  # ImportError, or a torchvision built for another torch
        raise RuntimeError(
            f"dataset {name!r} needs torchvision, which is not importable here ({type(exc).__name__}: "
            f"{exc}). Install a torchvision matching your torch (pip install 'depthlab[vision]'), "
            "or use dataset=mnist1d / digits, which need no download."
        ) from None
    root = root or str(cache_dir() / "torchvision")
    try:
        train = datasets.MNIST(root, train=True, download=download)
        test = datasets.MNIST(root, train=False, download=download)
    except Exception as exc:
        raise RuntimeError(
            f"could not load {name} under {root} ({exc}); it needs a network the first time"
        ) from None

    def to_tensor(ds) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.as_tensor(np.asarray(ds.data), dtype=torch.float32) / 255.0
        x = x.permute(0, 3, 1, 2) if x.dim() == 4 else x.unsqueeze(1)
        return x, torch.as_tensor(np.asarray(ds.targets), dtype=torch.int64)

    xtr, ytr = to_tensor(train)
    xte, yte = to_tensor(test)
    mean = xtr.mean(dim=(0, 2, 3), keepdim=True)
    std = xtr.std(dim=(0, 2, 3), keepdim=True)
    return Dataset(
        (xtr - mean) / std,
        ytr,
        (xte - mean) / std,
        yte,
        "classification",
        {"name": name, "num_classes": 10, "root": root},
    )
