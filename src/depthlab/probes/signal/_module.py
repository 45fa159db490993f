"""Signal statistics for any ``nn.Module``: re-initialize a private copy ``K`` times (a loop)."""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn

from depthlab.init import SCHEMES, initialize
from depthlab.probes._guard import guarded, raise_if_nonfinite
from depthlab.probes.signal._result import SignalMoments
from depthlab.walk import weight_layers


def _output_jacobian(model: nn.Module, x1: torch.Tensor) -> torch.Tensor:
    """``d out / d x1`` for one example ``x1: (1, *in)`` by reverse-mode autograd, ``(out, in)``.

    One backward pass per output entry; the model's parameters here are our private copy's.
    """
    with torch.enable_grad():
        inp = x1.detach().clone().requires_grad_(True)
        out = model(inp).reshape(-1)
        rows = [
            torch.autograd.grad(out[q], inp, retain_graph=q + 1 < out.numel())[0].reshape(-1)
            for q in range(out.numel())
        ]
    return torch.stack(rows)


def module_moments(
    factory: Callable[[], nn.Module],
    x: torch.Tensor,
    n_inits: int = 100,
    *,
    scheme: str = "he_normal",
    seed: int = 0,
    generator: torch.Generator | None = None,
    jacobian: bool = True,
    sigma_w2: float = 2.0,
    sigma_b2: float = 0.0,
) -> SignalMoments:
    """Signal statistics for any ``nn.Module``: re-initialize a private copy ``n_inits`` times.

    The probe points are the inputs of the weight layers (Linear/Conv) in execution order
    (found by :func:`depthlab.walk.weight_layers`), then the model's output: ``M_j`` is the mean
    over the ``B`` examples of ``||x_j||^2 / numel(x_j)``. The copy runs in eval mode. The Jacobian
    (reverse-mode autograd, one backward pass per output) is that of the output with respect to the first example ``x[0]``.

    The factory's model is deep-copied once before anything is drawn, so even a factory that
    returns the user's own model leaves it untouched; the copy is made under the probe guard
    (:mod:`depthlab.probes._guard`), so the model's own hooks never fire and a NaN/Inf parameter
    or buffer raises :class:`~depthlab.numerics.NonFiniteError` naming its layer.

    Parameters
    ----------
    factory : zero-argument callable returning an ``nn.Module``.
    x : ``(B, *in)`` example inputs, on the model's device and dtype.
    n_inits : number of re-initializations.
    scheme, sigma_w2, sigma_b2 : passed to :func:`depthlab.init.initialize`.
    seed, generator : randomness; ``generator`` wins when given.
    jacobian : also record the output-Jacobian entry moments (one column).

    Returns
    -------
    SignalMoments with ``engine="module-loop"``.
    """
    model0 = factory()
    if not isinstance(model0, nn.Module):
        raise TypeError(f"factory must return an nn.Module, got {type(model0).__name__}")
    if scheme not in SCHEMES:
        raise ValueError(f"unknown init scheme {scheme!r}; allowed: {', '.join(SCHEMES)}")
    if n_inits < 2:
        raise ValueError(f"n_inits must be at least 2, got {n_inits}")
    # the guard names a NaN/Inf weight of the given model, and keeps its hooks out of the copy
    with guarded(model0, what="signal.moments"):
        model = copy.deepcopy(model0)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    layers = weight_layers(model, x)
    if not layers:
        raise ValueError("the model has no Linear/Conv layer to probe")
    dev = next(iter(model.parameters())).device
    gen = generator or torch.Generator(device=dev).manual_seed(int(seed))
    captured: list[torch.Tensor] = []
    recording = [True]

    def pre_hook(mod, inputs):
        if recording[0]:
            captured.append(inputs[0].detach())

    handles = []
    mods = {id(li.module): li.module for li in layers}
    rows, j2s, j4s = [], [], []
    try:
        for mod in mods.values():
            handles.append(mod.register_forward_pre_hook(pre_hook))
        for _ in range(n_inits):
            initialize(model, scheme, gen, sigma_b2=sigma_b2, sigma_w2=sigma_w2)
            captured.clear()
            with torch.no_grad():
                out = model(x)
            pts = [*captured, out.detach()]
            # per example ||x_j||^2 / numel, averaged over the B examples
            rows.append(torch.stack([t.flatten(1).pow(2).mean(1).mean() for t in pts]))
            if jacobian:
                recording[0] = False
                jac = _output_jacobian(model, x[:1])
                recording[0] = True
                j2s.append(jac.pow(2).mean())
                j4s.append(jac.pow(4).mean())
    finally:
        for h in handles:
            h.remove()
    m = torch.stack(rows)
    raise_if_nonfinite(model, x, m, "signal.moments: a signal moment M_j")
    widths = tuple(int(t[0].numel()) for t in pts)
    names = (*[f"in:{li.name}" for li in layers], "output")
    return SignalMoments(
        widths=widths,
        layer_names=names,
        m=m,
        jac2=torch.stack(j2s).unsqueeze(1) if jacobian else None,
        jac4=torch.stack(j4s).unsqueeze(1) if jacobian else None,
        scheme=scheme,
        activation="(model)",
        engine="module-loop",
        meta={"layers": [li.name for li in layers]},
    )
