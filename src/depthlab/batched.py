"""Batched many-model execution: stacked parameters and ``torch.func.vmap``.

``stack_models`` turns K same-architecture modules into one dict of stacked tensors (leading
dim K) and ``batched_forward`` evaluates all K at once with ``functional_call`` under ``vmap``.
This serves Monte Carlo over initializations, training K small nets at once, and evaluating
many parameter vectors (landscape grid points) in one call.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap


def stack_models(
    models: Sequence[nn.Module],
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """``(params, buffers)``, each tensor stacked over the K models (leading dim K), detached copies."""
    if not models:
        raise ValueError("stack_models needs at least one model")
    params, buffers = stack_module_state(list(models))
    return {k: v.detach().clone() for k, v in params.items()}, {
        k: v.clone() for k, v in buffers.items()
    }


def template(model: nn.Module) -> nn.Module:
    """A parameter-free copy of ``model`` on the meta device, to call functionally."""
    return copy.deepcopy(model).to("meta")


def batched_forward(
    base: nn.Module,
    params: dict[str, torch.Tensor],
    x: torch.Tensor,
    buffers: dict[str, torch.Tensor] | None = None,
    shared_input: bool = True,
    chunk_size: int | None = None,
) -> torch.Tensor:
    """Evaluate K models at once.

    Parameters
    ----------
    base : a module of the right architecture (its own weights are not used).
    params : stacked parameters, each ``(K, *shape)``.
    x : ``(B, *in)`` shared by all K models (``shared_input=True``) or ``(K, B, *in)``.
    buffers : stacked buffers (e.g. BN running stats), or None.
    chunk_size : passed to ``vmap`` to bound memory.

    Returns
    -------
    ``(K, B, *out)``.
    """
    buffers = buffers or {}

    def one(p, b, xx):
        return functional_call(base, (p, b), (xx,))

    in_dims = (0, 0, None if shared_input else 0)
    return vmap(one, in_dims=in_dims, chunk_size=chunk_size, randomness="different")(
        params, buffers, x
    )
