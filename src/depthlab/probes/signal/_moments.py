"""The one verb of the signal probe, :func:`moments`, and its deprecated former forms."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import torch
from torch import nn

from depthlab.probes.signal._engines import family_moments
from depthlab.probes.signal._family import MLPFamily, mlp_family
from depthlab.probes.signal._module import module_moments
from depthlab.probes.signal._result import SignalMoments

__all__ = ["model_moments", "moments"]

Model = nn.Module | Callable[[], nn.Module] | MLPFamily


def moments(
    model: Model,
    n_inits: int = 1000,
    *,
    x: torch.Tensor | None = None,
    scheme: str = "he_normal",
    seed: int = 0,
    generator: torch.Generator | None = None,
    jacobian: bool = True,
    jac_inputs: int = 2,
    engine: str = "auto",
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
    chunk_size: int | None = None,
    sigma_w2: float = 2.0,
    sigma_b2: float = 0.0,
    activation: str | None = None,
    etas: Sequence[float] | None = None,
) -> SignalMoments:
    """Monte Carlo signal statistics of a model over ``n_inits`` independent initializations.

    ``M_j = ||x_j||^2 / n_j`` at every probe point ``j`` and, optionally, moments of Jacobian
    entries. Theory (Hanin & Rolnick 2018, Thm 1; THEORY.md §2), for the fully connected family
    ``x_j = act(W^(j) x_{j-1})``: ``E[M_d] = M_0 prod (n_{j-1} v_j / 2)`` and, for Gaussian He
    weights, ``E[M_d^2] = M_0^2 prod (1 + 5 / n_j)``.

    ``model`` is one of:

    - an :func:`mlp_family` (a net given by its widths; the documented helper): all ``K`` inits
      run at once on the batched engines. Probe points are the input and every layer's output;
      the Jacobian entries are ``Z = d z_j[q] / d x_0[p]`` of the pre-activations, for the first
      ``jac_inputs`` input coordinates. ``x`` is one input of ``n_0`` entries (default all ones,
      so ``M_0 = 1``).
    - any ``nn.Module``, or a zero-argument factory returning one (the way to hand over a
      model class, e.g. ``moments(MyNet, x=x)``): a private copy is re-initialized ``K`` times
      with :func:`depthlab.init.initialize` (a loop: slower, but any architecture; the model is
      never modified). Probe points are the inputs of the weight layers in execution order, then
      the output; ``M_j`` is averaged over the ``B`` examples of ``x`` (required, ``(B, *in)``,
      on the model's device and dtype). The Jacobian (one column) is that of the output with
      respect to ``x[0]``.

    Parameters
    ----------
    model : an :class:`MLPFamily` (from :func:`mlp_family`), an ``nn.Module`` or a factory.
    n_inits : ``K``, the number of independent initializations.
    x : the input (see above).
    scheme : an init scheme from :data:`depthlab.init.SCHEMES`.
    seed, generator : randomness; ``generator`` wins when given.
    jacobian : also record the second and fourth moments of Jacobian entries.
    jac_inputs, engine, dtype, device, chunk_size : for a family only. ``engine``: ``"auto"``
        (``"gaussian"`` for Gaussian schemes, else ``"weights"``), ``"gaussian"`` or
        ``"weights"``; ``dtype``, ``device``: of the computation (float64 on the CPU by default;
        ``x`` decides otherwise); ``chunk_size``: inits per batch (default about 16 M weight
        entries per chunk).
    sigma_w2 : for ``scheme="custom"``: ``Var W = sigma_w2 / fan_in``.
    sigma_b2 : bias variance, for a module (a family has no biases).
    activation, etas : deprecated, only with the deprecated width-list form
        ``moments([n_0, ..., n_d], ...)``; pass ``mlp_family(widths, activation=, etas=)``.

    Returns
    -------
    SignalMoments

    Examples
    --------
    >>> from depthlab.signal import mlp_family, moments
    >>> r = moments(mlp_family([10, 10, 10, 10]), 20_000, seed=0)
    >>> r.second  # close to [1, 1.5, 2.25, 3.375] = prod (1 + 5/10)  # doctest: +SKIP
    >>> moments(my_net, 200, x=torch.randn(64, 784))  # any nn.Module  # doctest: +SKIP
    """
    if not callable(model) and not isinstance(model, str) and hasattr(model, "__iter__"):
        warnings.warn(
            "moments(widths, ...) is deprecated; pass moments(mlp_family(widths, activation=..., "
            "etas=...), ...)",
            DeprecationWarning,
            stacklevel=2,
        )
        model = mlp_family(model, activation=activation or "relu", etas=etas)
    elif activation is not None or etas is not None:
        raise ValueError(
            "activation= and etas= describe a family of nets: pass mlp_family(widths, "
            "activation=..., etas=...) as the model"
        )
    if isinstance(model, MLPFamily):
        if sigma_b2 != 0.0:
            raise ValueError("an mlp_family has no biases: sigma_b2 must be 0")
        return family_moments(
            model,
            n_inits,
            x=x,
            scheme=scheme,
            jacobian=jacobian,
            jac_inputs=jac_inputs,
            engine=engine,
            seed=seed,
            generator=generator,
            dtype=dtype,
            device=device,
            chunk_size=chunk_size,
            sigma_w2=sigma_w2,
        )
    if isinstance(model, nn.Module):  # a model instance: re-initialize private copies of it
        module = model

        def factory() -> nn.Module:
            return module

    elif callable(model):
        factory = model
    else:
        raise TypeError(
            "model must be an nn.Module, a zero-argument factory of one, or an mlp_family, "
            f"got {type(model).__name__}"
        )
    if x is None:
        raise ValueError("a module needs an example input x of shape (B, *in)")
    return module_moments(
        factory,
        x,
        n_inits,
        scheme=scheme,
        seed=seed,
        generator=generator,
        jacobian=jacobian,
        sigma_w2=sigma_w2,
        sigma_b2=sigma_b2,
    )


def model_moments(
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
    """Deprecated: ``moments(factory, n_inits, x=x, ...)``; kept one release."""
    warnings.warn(
        "model_moments is deprecated; use moments(factory_or_module, n_inits, x=x, ...)",
        DeprecationWarning,
        stacklevel=2,
    )
    return module_moments(
        factory,
        x,
        n_inits,
        scheme=scheme,
        seed=seed,
        generator=generator,
        jacobian=jacobian,
        sigma_w2=sigma_w2,
        sigma_b2=sigma_b2,
    )
