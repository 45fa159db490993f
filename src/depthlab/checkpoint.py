"""Loading user checkpoints safely: tensors only, never arbitrary pickled objects."""

from __future__ import annotations

import os
import pickle
from typing import Any

import torch
from torch import nn


class UnsafeCheckpointError(ValueError):
    """The file holds pickled objects that a weights-only load refuses to run."""


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> Any:
    """Load a checkpoint with ``torch.load(weights_only=True)``.

    Only tensors, numbers, strings and plain containers are allowed, so a file from the internet
    cannot run code when loaded. A whole pickled ``nn.Module`` is refused: save its
    ``state_dict()`` instead.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    UnsafeCheckpointError
        If the file holds anything a weights-only load refuses.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UnsafeCheckpointError(
            f"{path} holds more than tensors (refused by weights_only=True: {first}); "
            "save model.state_dict() and load that instead"
        ) from None


def load_state_into(model: nn.Module, path: str | os.PathLike, strict: bool = True) -> nn.Module:
    """Load a ``state_dict`` checkpoint (weights only) into ``model`` on the model's device."""
    device = next(iter(model.parameters()), torch.empty(0)).device
    state = load_checkpoint(path, map_location=device)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise UnsafeCheckpointError(
            f"{path} does not hold a state_dict (got {type(state).__name__})"
        )
    model.load_state_dict(state, strict=strict)
    return model
