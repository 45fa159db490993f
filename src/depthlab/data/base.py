"""The dataset container every loader returns, and where loaders cache files."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import torch


@dataclass(frozen=True)
class Dataset:
    """Train/test tensors plus metadata.

    Attributes
    ----------
    x_train : (N_train, *input_shape) float tensor.
    y_train : (N_train,) int64 labels for classification, or (N_train, out) floats for regression.
    x_test, y_test : likewise for the test split.
    task : ``"classification"`` or ``"regression"``.
    meta : name, generation seed, number of classes, and whatever else describes the data.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    task: Literal["classification", "regression"]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def num_classes(self) -> int | None:
        return self.meta.get("num_classes")

    def to(
        self, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> Dataset:
        """Move every tensor; floating inputs (and regression targets) take ``dtype``."""

        def mv(t: torch.Tensor, is_target: bool) -> torch.Tensor:
            if (
                t.is_floating_point()
                and dtype is not None
                and (not is_target or self.task == "regression")
            ):
                return t.to(device=device, dtype=dtype)
            return t.to(device=device)

        return replace(
            self,
            x_train=mv(self.x_train, False),
            y_train=mv(self.y_train, True),
            x_test=mv(self.x_test, False),
            y_test=mv(self.y_test, True),
        )

    def subset(self, n_train: int | None = None, n_test: int | None = None) -> Dataset:
        """The first ``n_train`` / ``n_test`` examples (already shuffled by the loaders)."""
        return replace(
            self,
            x_train=self.x_train[:n_train],
            y_train=self.y_train[:n_train],
            x_test=self.x_test[:n_test],
            y_test=self.y_test[:n_test],
        )

    def __repr__(self) -> str:
        return (
            f"Dataset({self.meta.get('name', '?')}, train={tuple(self.x_train.shape)}, "
            f"test={tuple(self.x_test.shape)}, task={self.task})"
        )


def cache_dir() -> Path:
    """``$DEPTHLAB_CACHE``, else ``$XDG_CACHE_HOME/depthlab``, else ``~/.cache/depthlab``."""
    root = os.environ.get("DEPTHLAB_CACHE")
    if root:
        return Path(root)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "depthlab"
