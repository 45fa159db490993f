"""Resolve a model spec (the ``depthlab doctor`` TARGET) to a model: a zoo name, a factory, a file.

Moved here from :mod:`depthlab.probes.doctor` (which still re-exports it): parsing a model spec
builds nets, so it lives with them, below the probes.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import torch
from torch import nn

from depthlab.context import derive_seed
from depthlab.init import SCHEMES, initialize
from depthlab.nets.mlp import mlp, parse_widths
from depthlab.nets.resnet import cnn1d, resnet1d, resnet20, resnet56, resnet110

_FIXED = {
    "resnet20": resnet20,
    "resnet56": resnet56,
    "resnet110": resnet110,
    "cnn1d": cnn1d,
    "resnet1d": resnet1d,
}
ZOO = ("mlp", *_FIXED)


def _build_generator(seed: int, target: str) -> torch.Generator:
    """The stream a zoo model's default init is drawn from: keyed by the seed and the spec."""
    return torch.Generator().manual_seed(derive_seed(seed, "load_target", target))


def _import_from_cwd(name: str, target: str):
    """Import ``name`` with the current directory first on ``sys.path``, as ``python -m`` does
    (so ``depthlab doctor mymodels:mlp`` finds ``./mymodels.py``); the path is put back after."""
    cwd = os.getcwd()
    added = cwd not in sys.path and "" not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise ValueError(
            f"cannot import module {name!r} from {target!r} ({exc}); looked in the current "
            f"directory {cwd} and on sys.path: run from the folder holding "
            f"{name.replace('.', '/')}.py or add its folder to PYTHONPATH"
        ) from None
    finally:
        if added and cwd in sys.path:
            sys.path.remove(cwd)


def _explain_saved_file(target: str, path: Path) -> None:
    """A file ``torch.jit.load`` cannot read: say what it is when it is a state dict (or a whole
    pickled model), with the hint to pass the architecture. Returns when it is neither."""
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception:  # not a weights-only file either: a pickled model, or not torch at all
        obj = None
        try:
            import zipfile

            pickled = zipfile.is_zipfile(path)
        except OSError:
            pickled = False
        if pickled:
            raise ValueError(
                f"{target!r} is a torch.save file but not TorchScript nor a plain state dict "
                "(a pickled model is not loaded, it may run code); save "
                "model.state_dict() or torch.jit.script(model) instead, and pass the "
                "architecture as package.module:factory"
            ) from None
        return
    state = (
        obj.get("state_dict", obj.get("model_state_dict", obj)) if isinstance(obj, dict) else None
    )
    if (
        isinstance(state, dict)
        and state
        and all(isinstance(v, torch.Tensor) for v in state.values())
    ):
        keys = list(state)
        raise ValueError(
            f"{target!r} holds a state dict ({len(keys)} tensors, e.g. {keys[0]!r}), not a "
            "model: pass the architecture as package.module:factory, with a factory that "
            "builds the model and calls model.load_state_dict(torch.load(path))"
        )


def load_target(
    target: str, init: str | None = None, seed: int = 0
) -> tuple[nn.Module, torch.Tensor | None]:
    """Resolve ``target`` to ``(model, example_input_or_None)``.

    ``target`` is one of: ``package.module:factory`` (a zero-argument callable or a module
    attribute), a zoo spec ``mlp:784-64-64-10`` / ``resnet20`` / ``cnn1d`` / ``resnet1d``, or the
    path of a TorchScript file. ``init`` re-initializes the loaded model with a scheme first.
    A zoo model's default (PyTorch) init is drawn from a generator keyed by ``seed`` and the spec,
    so the same ``seed`` gives the same model.
    Raises ``ValueError`` with one line naming the bad value and what is allowed.
    """
    name, _, arg = target.partition(":")
    example = None
    if Path(target).suffix in (".pt", ".pth", ".ts", ".jit") or Path(target).is_file():
        path = Path(target)
        if not path.is_file():
            raise ValueError(f"TorchScript file {target!r} does not exist")
        try:
            model = torch.jit.load(str(path), map_location="cpu")
        except (RuntimeError, ValueError) as exc:
            _explain_saved_file(target, path)
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ValueError(
                f"{target!r} is not a TorchScript file torch.jit.load can read: {first}"
            ) from None
    elif name in ZOO:
        if name == "mlp":
            try:
                widths = parse_widths(arg)
            except ValueError as exc:
                raise ValueError(
                    f"bad widths {arg!r} in {target!r}: {exc}; write e.g. mlp:784-64-64-10"
                ) from None
            model = mlp(widths, generator=_build_generator(seed, target))
        elif arg:
            raise ValueError(f"zoo model {name!r} takes no arguments, got {arg!r}")
        else:
            model = _FIXED[name](generator=_build_generator(seed, target))
            shape = (3, 32, 32) if name in ("resnet20", "resnet56", "resnet110") else (40,)
            example = torch.randn(2, *shape, generator=torch.Generator().manual_seed(0))
    elif arg and name:
        mod = _import_from_cwd(name, target)
        if not hasattr(mod, arg):
            raise ValueError(f"module {name!r} has no attribute {arg!r}")
        obj = getattr(mod, arg)
        model = obj
        if not isinstance(obj, nn.Module) and callable(obj):
            try:
                model = obj()
            except TypeError as exc:
                raise ValueError(
                    f"{target!r} must be callable with no arguments ({exc}); wrap it, e.g. "
                    "def factory(): return mlp([784, 64, 10])"
                ) from None
        if not isinstance(model, nn.Module):
            raise ValueError(
                f"{target!r} must be an nn.Module or a zero-argument factory returning one"
            )
    else:
        raise ValueError(
            f"unknown TARGET {target!r}; allowed: package.module:factory, a zoo model "
            f"({', '.join(z + (':WIDTHS' if z == 'mlp' else '') for z in ZOO)}), or a TorchScript file"
        )
    if init is not None:
        if init not in SCHEMES:
            raise ValueError(f"unknown init scheme {init!r}; allowed: {', '.join(SCHEMES)}")
        if isinstance(model, torch.jit.ScriptModule):
            raise ValueError("--init cannot re-initialize a TorchScript module")
        initialize(model, init, torch.Generator().manual_seed(seed))
    return model, example


__all__ = ["ZOO", "load_target"]
