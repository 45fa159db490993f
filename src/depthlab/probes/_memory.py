"""The memory guard: a probe estimates what it will allocate and stops *before* allocating it.

Issue 17: an exact trajectory on ResNet-18 was OOM-killed at 24 GB and took the machine with it.
Every probe with a size the user chooses (points, batch, grid, Lanczos steps) calls
:func:`check` at its entry, before its first large allocation. The estimate is deliberately
simple and documented, so that a user can predict it:

``bytes = itemsize * (params * param_factor + activations * points * act_factor)``

* ``params``: the model's parameter count (``model.parameters()``, tied weights once);
* ``activations``: floats the model's leaf layers output for ONE example (a forward walk on one
  example under ``no_grad``, see :func:`activations_per_example`);
* ``points``: the examples (curve points, mesh vertices, batch rows) held at once;
* ``param_factor`` / ``act_factor``: per probe (a float64 model copy, directions, Lanczos
  vectors; activations kept for a backward or for every layer of a trace).

The budget is, in order: the ``max_memory=`` argument of the probe, the environment variable
``DEPTHLAB_MAX_MEMORY`` (``"2GB"``, ``"512MB"``, ``"1.5G"`` or bytes), else
:data:`DEFAULT_FRACTION` of the memory free now (``torch.cuda.mem_get_info`` on CUDA;
``psutil.virtual_memory().available`` if psutil imports, else ``MemAvailable`` in
``/proc/meminfo``). When none of these can be read there is no budget and nothing is refused.
Above the budget :class:`MemoryBudgetError` (a ``MemoryError``) says in one line the estimate,
the budget and the option that lowers the estimate.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Callable

import torch
from torch import nn

__all__ = [
    "DEFAULT_FRACTION",
    "ENV",
    "EXACT_POINTS_PER_UNIT",
    "MemoryBudgetError",
    "activations_per_example",
    "available_bytes",
    "budget",
    "check",
    "estimate",
    "exact_points",
    "format_bytes",
    "forward_sizes",
    "parse_bytes",
]

ENV = "DEPTHLAB_MAX_MEMORY"
#: share of the memory free now that one probe may plan to use
DEFAULT_FRACTION = 0.5
#: planning figure: breakpoints an exact piecewise-linear trace holds per curve, per
#: piecewise-linear unit of the model (a random ReLU net crosses each unit's kink of the order
#: of once along a curve across its data; Hanin & Rolnick 2019), plus one per vertex
EXACT_POINTS_PER_UNIT = 2


def exact_points(n_vertices: int, n_curves: int) -> Callable[[int], int]:
    """Planned breakpoints of an exact trace of ``n_curves`` polylines of ``n_vertices`` in all."""
    return lambda units: n_vertices + EXACT_POINTS_PER_UNIT * units * n_curves


log = logging.getLogger("depthlab")

_UNITS = {"": 1, "B": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


class MemoryBudgetError(MemoryError):
    """A probe's estimated allocation is above the memory budget (raised before allocating)."""


def parse_bytes(value: int | float | str) -> int:
    """``"2GB"``, ``"512 MiB"``, ``"1.5G"``, ``"1000000"`` or a number -> bytes (binary units)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not value > 0 or not math.isfinite(value):
            raise ValueError(f"a memory budget must be a positive number of bytes, got {value!r}")
        return int(value)
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([KMGT]?)(I?B)?\s*", str(value).upper())
    if m is None or float(m.group(1)) <= 0:
        raise ValueError(
            f"cannot read the memory size {value!r}; write e.g. '2GB', '512MB' or a byte count"
        )
    return int(float(m.group(1)) * _UNITS[m.group(2)])


def format_bytes(n: float) -> str:
    """``1536 -> '1.5 KiB'``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def available_bytes(device: torch.device | str | None = None) -> int | None:
    """Memory free now on ``device`` (bytes), or None when it cannot be read."""
    dev = torch.device(device) if device is not None else torch.device("cpu")
    if dev.type == "cuda":
        try:
            return int(torch.cuda.mem_get_info(dev)[0])
        except Exception:
            return None
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def budget(
    max_memory: int | float | str | None = None, device: torch.device | str | None = None
) -> tuple[int | None, str]:
    """``(bytes or None, where it came from)``: the argument, the environment, or free memory."""
    if max_memory is not None:
        return parse_bytes(max_memory), "max_memory="
    env = os.environ.get(ENV)
    if env:
        return parse_bytes(env), f"{ENV}={env}"
    free = available_bytes(device)
    if free is None:
        return None, "unknown free memory"
    return int(free * DEFAULT_FRACTION), f"{DEFAULT_FRACTION:.0%} of the {format_bytes(free)} free"


def _param_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def activations_per_example(model: nn.Module, example: torch.Tensor) -> int:
    """Floats output by the model's leaf layers for one example (see :func:`forward_sizes`)."""
    return forward_sizes(model, example)[0]


@torch.no_grad()
def forward_sizes(model: nn.Module, example: torch.Tensor) -> tuple[int, int]:
    """``(activations, units)`` for one example (``example``: ``(*in)``): the floats output by
    the model's leaf layers (plus the input), and the outputs of its piecewise-linear
    nonlinearities (ReLU-like, max pool: the units whose kinks an exact trace crosses).

    A forward pass on the example (twice, as a batch of two) in the model's current modes with temporary hooks (under the
    probe guard the user's hooks are swapped out, and buffers put back). A model whose forward
    fails on this example returns ``(0, 0)``: the probe then reports its own error.
    """
    from depthlab.pl._layers import find_rule

    total = [0, 0]

    def hook(mod, inputs, output):
        outs = output if isinstance(output, (tuple, list)) else (output,)
        n = sum(o.numel() for o in outs if isinstance(o, torch.Tensor))
        total[0] += n
        if find_rule(mod) is not None and not any(True for _ in mod.parameters()):
            total[1] += n

    handles = [m.register_forward_hook(hook) for m in model.modules() if not list(m.children())]
    try:
        # two copies of the example: a train-mode BatchNorm1d refuses a batch of one
        model(example.unsqueeze(0).expand(2, *example.shape))
    except Exception:
        return 0, 0
    finally:
        for h in handles:
            h.remove()
    return total[0] // 2 + example.numel(), total[1] // 2


def estimate(
    model: nn.Module,
    *,
    points: int,
    activations: int,
    param_factor: float,
    act_factor: float,
    itemsize: int = 8,
) -> int:
    """Planned bytes: ``itemsize * (params * param_factor + activations * points * act_factor)``."""
    n = _param_count(model)
    return int(itemsize * (n * param_factor + activations * points * act_factor))


def check(
    probe: str,
    model: nn.Module,
    *,
    points: int | Callable[[int], int],
    example: torch.Tensor | None,
    param_factor: float,
    act_factor: float,
    lower: str,
    max_memory: int | float | str | None = None,
    itemsize: int | None = None,
    device: torch.device | str | None = None,
    activations: int | None = None,
    extra_bytes: int = 0,
) -> int:
    """Raise :class:`MemoryBudgetError` when ``probe`` would allocate more than the budget.

    ``points`` may be a function of the model's piecewise-linear unit count (an exact trace
    holds about one breakpoint per unit crossed). ``lower`` names the option that lowers the estimate (e.g. ``"fewer curve vertices"``);
    ``itemsize`` defaults to the model's parameter dtype's (float64 traces pass 8).
    ``activations`` replaces the count of values per point read off a forward pass of
    ``example`` (an engine that keeps one layer's values per point passes its width);
    ``extra_bytes`` is added to the estimate.
    Returns the estimate in bytes (logged at DEBUG under ``depthlab``).
    """
    p = next(iter(model.parameters()), None)
    if device is None and p is not None:
        device = p.device
    limit, source = budget(max_memory, device)
    if limit is None:
        return 0
    if example is not None and p is not None:
        example = example.detach().to(dtype=p.dtype, device=p.device)
    if itemsize is None:
        itemsize = p.element_size() if p is not None else 8
    acts, units = forward_sizes(model, example) if example is not None else (0, 0)
    if activations is not None:
        acts = activations
    if callable(points):
        points = int(points(units))
    est = estimate(
        model,
        points=points,
        activations=acts,
        param_factor=param_factor,
        act_factor=act_factor,
        itemsize=itemsize,
    ) + int(extra_bytes)
    log.debug(
        "%s: planned memory %s (budget %s, %s)",
        probe,
        format_bytes(est),
        format_bytes(limit),
        source,
    )
    if est > limit:
        raise MemoryBudgetError(
            f"{probe}: needs about {format_bytes(est)} ({_param_count(model):,} parameters, "
            f"{acts:,} activations per example x {points:,} points), above the memory budget "
            f"of {format_bytes(limit)} ({source}); use {lower}, or raise the budget with "
            f"max_memory= or {ENV}"
        )
    return est
