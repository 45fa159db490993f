"""CIFAR-10 read straight from the ``cifar-10-batches-py`` pickles: no torchvision needed to read.

The "python version" of CIFAR-10 (Krizhevsky 2009, https://www.cs.toronto.edu/~kriz/cifar.html,
file ``cifar-10-python.tar.gz``) unpacks to a folder ``cifar-10-batches-py/`` holding

- ``data_batch_1`` … ``data_batch_5``: 10,000 training images each;
- ``test_batch``: 10,000 test images;
- ``batches.meta``: the class names (``label_names``).

Each batch is a pickled dict with ``data``, a ``(N, 3072)`` uint8 array (per row the 1024 red,
then 1024 green, then 1024 blue pixels of a 32×32 image, row-major), and ``labels``, N ints in
0..9. torchvision's ``datasets.CIFAR10(root, download=True)`` writes exactly this folder under
``root``, so a copy downloaded by torchvision, or unpacked by hand, is read here the same way.

Where the data is looked for (:func:`cifar_root`): the ``root`` argument, else ``$DEPTHLAB_DATA``,
else ``<cache_dir()>/torchvision`` (where earlier versions let torchvision download it). ``root``
may be the folder holding ``cifar-10-batches-py/`` or that folder itself. torchvision is needed
only to download a missing copy (``download=True``); without it, or without a network, a missing
copy is a one-line ``RuntimeError`` naming the path and how to get the files.

The pickles are read with an unpickler that only allows the few numpy names these files use, so a
file that is not a CIFAR batch cannot run code while loading.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from depthlab.data.base import Dataset, cache_dir

FOLDER = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILES = ("test_batch",)
META_FILE = "batches.meta"
LABEL_NAMES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
URL = "https://www.cs.toronto.edu/~kriz/cifar.html"
#: Per-channel mean and std of the full CIFAR-10 training set in [0, 1] units (for reference; the
#: loader computes them from the training split it reads and records them in ``meta``).
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles the CIFAR batches (dicts of numpy arrays, lists, str/bytes) and nothing else."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # bytes in protocol-2 pickles written by Python 3
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a CIFAR-10 batch")
        return super().find_class(module, name)


def cifar_root(root: str | os.PathLike | None = None) -> Path:
    """The folder searched for ``cifar-10-batches-py``: ``root``, ``$DEPTHLAB_DATA`` or the cache."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("DEPTHLAB_DATA")
    if env:
        return Path(env).expanduser()
    return cache_dir() / "torchvision"


def _batches_dir(root: Path) -> Path | None:
    """``root/cifar-10-batches-py`` or ``root`` itself, whichever holds the batch files."""
    for cand in (root / FOLDER, root):
        if all((cand / f).is_file() for f in TRAIN_FILES + TEST_FILES):
            return cand
    return None


def read_batch(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 batch file as ``(images (N, 3, 32, 32) uint8, labels (N,) int64)``.

    Accepts the original Python-2 pickles (bytes keys, ``b"data"``) and Python-3 ones (str keys).
    Raises ``ValueError`` naming the file when its contents are not a CIFAR-10 batch.
    """
    path = Path(path)
    with open(path, "rb") as fh:
        try:
            raw = _NumpyOnlyUnpickler(fh, encoding="bytes").load()
        except Exception as exc:  # truncated file, not a pickle, disallowed content
            raise ValueError(f"{path} is not a readable CIFAR-10 batch ({exc})") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{path} is not a CIFAR-10 batch (a {type(raw).__name__}, not a dict)")
    d = {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in raw.items()}
    if "data" not in d or "labels" not in d:
        raise ValueError(f"{path} is not a CIFAR-10 batch (keys {sorted(d)}; needs data, labels)")
    data = np.asarray(d["data"])
    labels = np.asarray(d["labels"], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise ValueError(
            f"{path}: 'data' must be uint8 of shape (N, 3072), got {data.dtype} {data.shape}"
        )
    if labels.shape != (len(data),) or (len(labels) and (labels.min() < 0 or labels.max() > 9)):
        raise ValueError(
            f"{path}: 'labels' must be {len(data)} ints in 0..9, got shape {labels.shape}"
        )
    return data.reshape(-1, 3, 32, 32), labels


def read_label_names(folder: Path) -> tuple[str, ...]:
    """The class names from ``batches.meta`` (the standard ten when the file is absent)."""
    path = folder / META_FILE
    if not path.is_file():
        return LABEL_NAMES
    with open(path, "rb") as fh:
        raw = _NumpyOnlyUnpickler(fh, encoding="bytes").load()
    d = {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in raw.items()}
    names = d.get("label_names", LABEL_NAMES)
    return tuple(n.decode("latin1") if isinstance(n, bytes) else str(n) for n in names)


def _how_to_get(root: Path) -> str:
    return (
        f"unpack cifar-10-python.tar.gz from {URL} into {root}, or point DEPTHLAB_DATA "
        "(or data_dir) at the folder holding cifar-10-batches-py"
    )


def _download(root: Path) -> None:
    """Fetch the files with torchvision into ``root``; a clear RuntimeError when that cannot work."""
    where = root / FOLDER
    try:
        from torchvision import datasets
    except Exception as exc:  # ImportError, or a torchvision built for another torch
        raise RuntimeError(
            f"CIFAR-10 is not in {where}, and downloading it needs torchvision, which is not "
            f"importable here ({type(exc).__name__}: {exc}). Offline: {_how_to_get(root)}. "
            "Or install torchvision for your torch (pip install 'depthlab[vision]') on a network, "
            "or use dataset=mnist1d or digits."
        ) from None
    try:
        datasets.CIFAR10(str(root), train=True, download=True)
        datasets.CIFAR10(str(root), train=False, download=True)
    except Exception as exc:
        raise RuntimeError(
            f"could not download CIFAR-10 into {where} with torchvision ({type(exc).__name__}: "
            f"{exc}); it needs a network the first time. Offline: {_how_to_get(root)}."
        ) from None


def cifar10(
    root: str | os.PathLike | None = None, download: bool = True, normalize: bool = True
) -> Dataset:
    """CIFAR-10 as tensors: 50,000 train and 10,000 test images, ``(N, 3, 32, 32)``, 10 classes.

    Parameters
    ----------
    root : folder holding ``cifar-10-batches-py/`` (or that folder). Default ``$DEPTHLAB_DATA``,
        else ``<cache_dir()>/torchvision``; see :func:`cifar_root`.
    download : when the files are missing, fetch them with torchvision (needs torchvision and a
        network). With ``False``, or when that cannot work, a missing copy raises a one-line
        ``RuntimeError`` that names the path and how to get the files.
    normalize : standardise each colour channel with the mean and std of the *training* images
        it reads, pixels first scaled to [0, 1]: ``x = (p / 255 − mean_c) / std_c``, so train
        inputs have mean 0 and std 1 per channel (the full training set gives mean
        ≈ (0.4914, 0.4822, 0.4465), std ≈ (0.2470, 0.2435, 0.2616)). The test split uses the
        same train statistics. ``False`` leaves pixels in [0, 1].

    Returns
    -------
    Dataset
        ``x_*`` float32 ``(N, 3, 32, 32)``; ``y_*`` int64 ``(N,)``; ``meta`` has name, root,
        num_classes, label_names, and the per-channel ``mean`` / ``std`` used (``None`` when
        not normalised). The order is the files' (already shuffled by the dataset's authors),
        so ``Dataset.subset`` takes a mixed-class prefix.
    """
    base = cifar_root(root)
    folder = _batches_dir(base)
    if folder is None:
        if not download:
            raise RuntimeError(
                f"CIFAR-10 is not in {base / FOLDER} (data_batch_1..5, test_batch): "
                f"{_how_to_get(base)}."
            )
        _download(base)
        folder = _batches_dir(base)
        if folder is None:  # pragma: no cover - torchvision wrote something unexpected
            raise RuntimeError(
                f"torchvision did not leave CIFAR-10's batch files in {base / FOLDER}"
            )

    def read(files: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
        parts = [read_batch(folder / f) for f in files]
        x = np.concatenate([p[0] for p in parts])
        y = np.concatenate([p[1] for p in parts])
        return torch.from_numpy(x).to(torch.float32).div_(255.0), torch.from_numpy(y)

    xtr, ytr = read(TRAIN_FILES)
    xte, yte = read(TEST_FILES)
    mean = std = None
    if normalize:
        stats = [torch.std_mean(xtr[:, c]) for c in range(3)]  # per channel, no big copies
        s = torch.stack([st[0] for st in stats]).view(1, 3, 1, 1)
        m = torch.stack([st[1] for st in stats]).view(1, 3, 1, 1)
        if bool((s == 0).any()):
            raise ValueError(f"CIFAR-10 under {folder}: a colour channel is constant")
        xtr.sub_(m).div_(s)
        xte.sub_(m).div_(s)
        mean, std = tuple(m.flatten().tolist()), tuple(s.flatten().tolist())
    return Dataset(
        xtr,
        ytr,
        xte,
        yte,
        "classification",
        {
            "name": "cifar10",
            "num_classes": 10,
            "root": str(folder),
            "label_names": list(read_label_names(folder)),
            "mean": mean,
            "std": std,
        },
    )


__all__ = [
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "LABEL_NAMES",
    "cifar10",
    "cifar_root",
    "read_batch",
    "read_label_names",
]
