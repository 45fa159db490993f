"""Helpers for the probe contract: a probe must leave the user's model exactly as it found it."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class ModelSnapshot:
    state: dict[str, torch.Tensor]
    modes: dict[str, bool]
    hooks: dict[str, tuple[int, int, int, int, int]]
    requires_grad: dict[str, bool]
    grads: dict[str, torch.Tensor | None]


def _hook_counts(m: nn.Module) -> tuple[int, int, int, int, int]:
    return (
        len(m._forward_hooks),
        len(m._forward_pre_hooks),
        len(m._backward_hooks),
        len(getattr(m, "_backward_pre_hooks", {})),
        len(getattr(m, "_state_dict_hooks", {})),
    )


def snapshot(model: nn.Module) -> ModelSnapshot:
    return ModelSnapshot(
        state={k: v.detach().clone() for k, v in model.state_dict(keep_vars=False).items()},
        modes={n: m.training for n, m in model.named_modules()},
        hooks={n: _hook_counts(m) for n, m in model.named_modules()},
        requires_grad={n: p.requires_grad for n, p in model.named_parameters()},
        grads={
            n: None if p.grad is None else p.grad.detach().clone()
            for n, p in model.named_parameters()
        },
    )


def assert_unchanged(model: nn.Module, before: ModelSnapshot) -> None:
    """Raise AssertionError naming what a probe changed: a tensor, a mode, a hook, a grad."""
    after = snapshot(model)
    assert after.state.keys() == before.state.keys(), "state_dict keys changed"
    for k, v in before.state.items():
        w = after.state[k]
        assert w.dtype == v.dtype and w.device == v.device, f"{k}: dtype/device changed"
        assert torch.equal(w, v), f"{k}: values changed"
    assert after.modes == before.modes, "train/eval mode changed"
    assert after.hooks == before.hooks, "hooks were left behind"
    assert after.requires_grad == before.requires_grad, "requires_grad changed"
    for k, g in before.grads.items():
        h = after.grads[k]
        assert (g is None) == (h is None), f"{k}: .grad was created or removed"
        if g is not None:
            assert torch.equal(g, h), f"{k}: .grad changed"


@contextmanager
def unchanged(model: nn.Module):
    """``with unchanged(model): probe(model, ...)`` fails if the probe modified the model."""
    before = snapshot(model)
    yield
    assert_unchanged(model, before)
