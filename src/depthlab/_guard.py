"""Probes never touch the user's model: the guard every public probe entry point runs under.

(Bottom layer: only torch and :mod:`depthlab.numerics` below it, so that the engines
``train.evaluate``, ``mimic.Teacher`` and ``pl.prepare`` can use it as well as the probes, which
import it as :mod:`depthlab.probes._guard`.)

:func:`guarded` (a context manager) and :func:`guard_probe` (a decorator for entry points
taking ``model``) make four promises about every model they are given:

1. **Nothing changes.** Every module's ``training`` flag is snapshotted and restored one by one
   (never ``model.train(was)``, which flattens a BN layer set to eval inside a train-mode model);
   buffers are cloned and written back if the probe's forward changed them (BatchNorm in train
   mode updates ``running_mean`` and ``num_batches_tracked``); parameters and buffers keep their
   identity; ``requires_grad`` is restored; ``.grad`` is put back exactly (a probe never leaves
   one set). A parameter or gradient written in place (seen through its version counter) is a
   depthlab bug and raises :class:`ProbeIntegrityError`.
2. **The user's hooks do not fire.** For the probe's duration each module's forward, forward-pre,
   backward and backward-pre hook dicts are swapped for private ones, so neither the model
   itself nor any deep copy the probe makes calls them; the original dict objects (and the
   user's handles into them) come back in ``finally``. Hooks that *define* the model
   (old-style ``weight_norm``, ``spectral_norm`` and ``torch.nn.utils.prune``) stay active.
   Global hooks (``torch.nn.modules.module.register_module_forward_hook``) are left alone.
3. **NaN and Inf are named before the probe runs.** A parameter or floating buffer holding NaN
   or Inf raises :class:`~depthlab.numerics.NonFiniteError` naming the first such layer (module
   path, class, tensor, counts), instead of a NaN-filled or finite-looking result.
4. **A non-finite result is named too.** :func:`check_result` re-runs the model on the probe's
   inputs and names the first layer whose output goes non-finite.
5. **Attention works under forward-mode AD and double backward.** Probes that need them
   (``guard_probe(..., autodiff=True)``: the adaptive trajectory, the Hessian) run inside
   :func:`math_attention`: PyTorch's math SDPA kernel (``sdpa_kernel(SDPBackend.MATH)``) and no
   ``nn.MultiheadAttention`` fast path; both are process-wide flags, put back in ``finally``, so
   the user's own settings are unchanged. When the model holds attention layers this is
   said in the ``depthlab`` log.

Guards nest: an entry point that calls another (``curvature_map`` -> ``eigenvalues``) guards
the model once.
"""

from __future__ import annotations

import functools
import inspect
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn

from depthlab.numerics import NonFiniteError, locate_nonfinite

__all__ = [
    "NonFiniteError",
    "ProbeIntegrityError",
    "autodiff_safe",
    "check_result",
    "first_nonfinite_tensor",
    "guard_probe",
    "guarded",
    "math_attention",
    "raise_if_nonfinite",
]

F = TypeVar("F", bound=Callable[..., Any])


class ProbeIntegrityError(RuntimeError):
    """A probe wrote into the user's parameters or gradients (a depthlab bug; please report)."""


#: hook dicts swapped out during a probe; the kwargs/always-called dicts are keyed by hook id
_FORWARD = ("_forward_hooks", "_forward_hooks_with_kwargs", "_forward_hooks_always_called")
_FORWARD_PRE = ("_forward_pre_hooks", "_forward_pre_hooks_with_kwargs")
_BACKWARD = ("_backward_hooks", "_backward_pre_hooks")
_HOOK_ATTRS = (*_FORWARD, *_FORWARD_PRE, *_BACKWARD)


def _model_hook_types() -> tuple[type, ...]:
    """Hook classes that compute the model's own weights: they must keep running."""
    out: list[type] = []
    try:
        from torch.nn.utils.weight_norm import WeightNorm

        out.append(WeightNorm)
    except ImportError:  # pragma: no cover - torch layout
        pass
    try:
        from torch.nn.utils.spectral_norm import SpectralNorm

        out.append(SpectralNorm)
    except ImportError:  # pragma: no cover
        pass
    try:
        from torch.nn.utils.prune import BasePruningMethod

        out.append(BasePruningMethod)
    except ImportError:  # pragma: no cover
        pass
    return tuple(out)


_MODEL_HOOKS = _model_hook_types()
log = logging.getLogger("depthlab")
_active = threading.local()


def _active_ids() -> set[int]:
    ids = getattr(_active, "ids", None)
    if ids is None:
        ids = _active.ids = set()
    return ids


def _floating(t: torch.Tensor) -> bool:
    return (t.is_floating_point() or t.is_complex()) and t.device.type != "meta"


# --------------------------------------------------------------------------- finiteness


def first_nonfinite_tensor(model: nn.Module) -> str | None:
    """A sentence naming the first parameter or floating buffer holding NaN/Inf, else None.

    Modules are visited in ``named_modules()`` order (registration order, which is the execution
    order of ordinary ``Sequential`` and ``forward`` code); within a module, parameters first.
    """
    seen: set[int] = set()
    for mname, m in model.named_modules():
        for kind, store in (("parameter", m._parameters), ("buffer", m._buffers)):
            for tname, t in store.items():
                if t is None or id(t) in seen or not _floating(t):
                    continue
                seen.add(id(t))
                with torch.no_grad():
                    finite = torch.isfinite(t)
                    if bool(finite.all()):
                        continue
                    n_nan = int(torch.isnan(t).sum())
                    n_inf = int(torch.isinf(t).sum())
                layer = repr(mname) if mname else "the model itself"
                full = f"{mname}.{tname}" if mname else tname
                return (
                    f"layer {layer} ({type(m).__name__}) holds non-finite values: {kind} "
                    f"{full!r} has {n_nan} NaN and {n_inf} Inf of {t.numel()} entries"
                )
    return None


def _check_models_finite(models: Sequence[nn.Module], what: str) -> None:
    for i, m in enumerate(models):
        found = first_nonfinite_tensor(m)
        if found is not None:
            which = f"model {i}: " if len(models) > 1 else ""
            raise NonFiniteError(
                f"{what}: {which}{found}; the probe would return NaN or meaningless numbers. "
                "Fix or re-initialize these weights first"
            )


def _nonfinite(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, torch.Tensor):
        return _floating(value) and not bool(torch.isfinite(value).all())
    if isinstance(value, np.ndarray):
        return value.dtype.kind in "fc" and not bool(np.isfinite(value).all())
    if isinstance(value, (float, int)):
        return not np.isfinite(value)
    if isinstance(value, dict):
        return any(_nonfinite(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_nonfinite(v) for v in value)
    return False


def raise_if_nonfinite(
    model: nn.Module, x: torch.Tensor | None, value: Any, what: str, chunk: int = 4096
) -> None:
    """Raise :class:`NonFiniteError` if ``value`` holds NaN/Inf, naming the layer that made it.

    The model is re-run on ``x`` (the probe's inputs, a batch; ``chunk`` rows at a time until a
    fault shows) with temporary hooks, under the guard, so the user's hooks stay silent and
    buffers come back; the message names the first leaf layer whose output is non-finite.
    Only the error path pays for the re-run.
    """
    if not _nonfinite(value):
        return
    layer = None
    if x is not None:
        with guarded(model, check_finite=False):
            for i in range(0, len(x), chunk):
                try:
                    layer = locate_nonfinite(model, x[i : i + chunk])
                except Exception:  # the forward itself may fail; say what we know
                    layer = None
                if layer is not None:
                    break
    cause = (
        str(layer)
        if layer is not None
        else "every layer's output is finite on the probe's inputs (the probe's own arithmetic "
        "overflowed; try float64 or smaller inputs)"
    )
    raise NonFiniteError(f"{what} is not finite: {cause}")


check_result = raise_if_nonfinite


# --------------------------------------------------------------------------- snapshot / restore


class _State:
    """Everything the guard restores for one model."""

    def __init__(self, model: nn.Module) -> None:
        self.modules = list(model.modules())
        self.training = [(m, m.training) for m in self.modules]
        self.params: list[tuple[nn.Module, str, torch.Tensor | None]] = []
        self.buffers: list[tuple[nn.Module, str, torch.Tensor | None, torch.Tensor | None]] = []
        uniq: dict[int, torch.Tensor] = {}
        for m in self.modules:
            for n, p in m._parameters.items():
                self.params.append((m, n, p))
                if p is not None:
                    uniq[id(p)] = p
            for n, b in m._buffers.items():
                self.buffers.append((m, n, b, None if b is None else b.detach().clone()))
        self.unique = list(uniq.values())
        self.requires_grad = [p.requires_grad for p in self.unique]
        self.versions = [p._version for p in self.unique]
        self.grads = [p.grad for p in self.unique]
        self.grad_versions = [None if g is None else g._version for g in self.grads]
        self.hooks: list[tuple[nn.Module, dict[str, Any]]] = []

    def stash_hooks(self) -> None:
        """Swap every module's hook dicts for private ones holding only model-defining hooks."""
        for m in self.modules:
            if isinstance(m, torch.jit.ScriptModule):
                continue  # scripted hooks are compiled in; they cannot be swapped
            saved = {a: getattr(m, a) for a in _HOOK_ATTRS if hasattr(m, a)}
            fresh: dict[str, Any] = {}
            for group in (_FORWARD, _FORWARD_PRE, _BACKWARD[:1], _BACKWARD[1:]):
                main = saved.get(group[0])
                keep = (
                    {k for k, h in main.items() if isinstance(h, _MODEL_HOOKS)}
                    if main is not None and _MODEL_HOOKS
                    else set()
                )
                for a in group:
                    if a not in saved:
                        continue
                    d = saved[a]
                    fresh[a] = type(d)((k, v) for k, v in d.items() if k in keep)
            for a, d in fresh.items():
                object.__setattr__(m, a, d)
            self.hooks.append((m, saved))

    def restore(self) -> list[str]:
        """Put everything back; return the names of tensors a probe wrote in place (bugs)."""
        bugs: list[str] = []
        for m, saved in self.hooks:
            for a, d in saved.items():
                object.__setattr__(m, a, d)
        for m, flag in self.training:
            if m.training != flag:
                m.training = flag
        for m, n, p in self.params:
            if not isinstance(m, torch.jit.ScriptModule) and m._parameters.get(n) is not p:
                m._parameters[n] = p
        with torch.no_grad():
            for m, n, b, copy in self.buffers:
                if not isinstance(m, torch.jit.ScriptModule) and m._buffers.get(n) is not b:
                    m._buffers[n] = b
                if b is not None and copy is not None and not torch.equal(b, copy):
                    b.copy_(copy)
        for i, p in enumerate(self.unique):
            if p.requires_grad != self.requires_grad[i]:
                p.requires_grad_(self.requires_grad[i])
            if p._version != self.versions[i]:
                bugs.append(f"parameter of shape {tuple(p.shape)}")
            g = self.grads[i]
            if p.grad is not g:
                p.grad = g
            if g is not None and g._version != self.grad_versions[i]:
                bugs.append(f".grad of a parameter of shape {tuple(p.shape)}")
        return bugs


def _has_attention(models: Sequence[nn.Module]) -> bool:
    return any(
        isinstance(m, nn.MultiheadAttention) or "Attention" in type(m).__name__
        for model in models
        for m in model.modules()
    )


@contextmanager
def math_attention(*models: nn.Module, what: str = "probe") -> Iterator[None]:
    """Run attention on PyTorch's math SDPA kernel, without the ``MultiheadAttention`` fast path.

    The flash and memory-efficient kernels (and the fused fast path of
    ``nn.TransformerEncoderLayer`` / ``nn.MultiheadAttention`` in eval mode) have no forward-mode
    AD and no double backward; the math kernel has both. The kernel flags
    (``torch.nn.attention.sdpa_kernel``) and the fast-path flag are process-wide; both are
    restored in ``finally``. Logged under ``depthlab`` when one of ``models`` holds an attention layer.
    """
    from torch.nn.attention import SDPBackend, sdpa_kernel

    mha = getattr(torch.backends, "mha", None)
    fast = mha.get_fastpath_enabled() if mha is not None else None
    if models and _has_attention(models):
        log.info(
            "%s: attention runs on the math SDPA kernel without the fused fast path (needed for "
            "forward-mode AD and double backward); your own settings are unchanged",
            what,
        )
    try:
        if mha is not None:
            mha.set_fastpath_enabled(False)
        with sdpa_kernel(SDPBackend.MATH):
            yield
    finally:
        if mha is not None:
            mha.set_fastpath_enabled(fast)


def autodiff_safe(fn: F) -> F:
    """Decorate a function that runs forward-mode AD or double backward: :func:`math_attention`."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with math_attention():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _modules_in(value: Any) -> list[nn.Module]:
    if isinstance(value, nn.Module):
        return [value]
    if isinstance(value, (list, tuple)):
        return [v for v in value if isinstance(v, nn.Module)]
    return []


@contextmanager
def guarded(*models: nn.Module, check_finite: bool = True, what: str = "probe") -> Iterator[None]:
    """Run a probe on ``models`` without touching them (see the module docstring).

    Parameters
    ----------
    models : the user's models (a model already guarded by an outer ``guarded`` is skipped).
    check_finite : raise :class:`NonFiniteError` naming the first non-finite parameter or
        buffer before the probe runs.
    what : the probe's name, for messages.
    """
    active = _active_ids()
    mine = [m for m in dict.fromkeys(models) if id(m) not in active]
    if check_finite:
        _check_models_finite(mine, what)
    states = [_State(m) for m in mine]
    for m in mine:
        active.add(id(m))
    failed = True
    try:
        for s in states:
            s.stash_hooks()
        yield
        failed = False
    finally:
        bugs = []
        for m, s in zip(mine, states, strict=True):
            bugs += s.restore()
            active.discard(id(m))
        if bugs and not failed:
            raise ProbeIntegrityError(
                f"{what} wrote into the model's {', '.join(bugs)} in place; the values are not "
                "restored. This is a depthlab bug: please report it"
            )


def guard_probe(
    *model_args: str,
    check_finite: bool = True,
    name: str | None = None,
    autodiff: bool = False,
) -> Callable[[F], F]:
    """Decorate a probe entry point: the arguments named ``model_args`` (default ``"model"``;
    a module or a list of modules) run under :func:`guarded`; ``name`` (default the function's
    qualified name) opens error messages, e.g. ``"trajectory.length"``; ``autodiff``: the probe
    needs forward-mode AD or double backward, so it also runs under :func:`math_attention`."""
    names = model_args or ("model",)

    def deco(fn: F) -> F:
        sig = inspect.signature(fn)
        what = name or fn.__qualname__

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                bound = sig.bind_partial(*args, **kwargs)
            except TypeError:
                return fn(*args, **kwargs)  # let the function raise its own message
            models: list[nn.Module] = []
            for n in names:
                models += _modules_in(bound.arguments.get(n))
            with guarded(*models, check_finite=check_finite, what=what):
                if not autodiff:
                    return fn(*args, **kwargs)
                with math_attention(*models, what=what):
                    return fn(*args, **kwargs)

        wrapper.__guarded__ = True  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return deco
