"""Directions in parameter space: filter-normalized random, target (interpolation) and PCA.

Li, Xu, Taylor, Studer & Goldstein (2018), "Visualizing the loss landscape of neural nets"
(NeurIPS), §4 (filter normalization) and §7 (PCA of a training trajectory); Goodfellow, Vinyals &
Saxe (2015) for the linear interpolation ``θ_model -> θ_target``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import pandas as pd
import torch
from torch import nn

from depthlab._display import FrameRepr
from depthlab.probes._guard import guard_probe
from depthlab.probes.landscape._shared import Direction, params_of

__all__ = [
    "PCADirections",
    "normalize_direction",
    "pca_directions",
    "random_direction",
    "target_direction",
]

Norm = Literal["filter", "layer", "none"]
Ignore = Literal["biasbn", "none"]
NORMS: tuple[str, ...] = ("filter", "layer", "none")
IGNORES: tuple[str, ...] = ("biasbn", "none")


def _check_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")


def normalize_direction(
    d: torch.Tensor, w: torch.Tensor, norm: Norm = "filter", ignore: Ignore = "biasbn"
) -> torch.Tensor:
    """Rescale one direction tensor ``d`` against its weight ``w`` (same shape).

    ``filter``: each output slice ``d[i] <- d[i] ||w[i]|| / ||d[i]||`` (dim 0 indexes the conv
    output channel or the linear row). ``layer``: ``d <- d ||w|| / ||d||``. ``none``: unchanged.
    1-D tensors get zeros under ``ignore="biasbn"``; otherwise they are treated as one filter
    (``||d|| = ||w||``; the reference code copies ``w`` itself, which is not random).
    The arithmetic is done in float64 and cast back, so the norms match to rounding.
    """
    _check_choice("norm", norm, NORMS)
    _check_choice("ignore", ignore, IGNORES)
    if d.shape != w.shape:
        raise ValueError(f"direction shape {tuple(d.shape)} != weight shape {tuple(w.shape)}")
    if d.dim() <= 1 and ignore == "biasbn":
        return torch.zeros_like(d)
    if norm == "none":
        return d.clone()
    d64, w64 = d.double(), w.double()
    if norm == "layer" or d.dim() <= 1:
        scale = w64.norm() / d64.norm().clamp_min(1e-300)
        return (d64 * scale).to(d.dtype)
    # (out, rest...) -> per-filter norms (out,), broadcast back over the rest
    wn = w64.flatten(1).norm(dim=1)
    dn = d64.flatten(1).norm(dim=1).clamp_min(1e-300)
    scale = (wn / dn).view(-1, *([1] * (d.dim() - 1)))
    return (d64 * scale).to(d.dtype)


@guard_probe(name="landscape.random_direction")
def random_direction(
    model: nn.Module,
    norm: Norm = "filter",
    ignore: Ignore = "biasbn",
    seed: int = 0,
) -> Direction:
    """A Gaussian direction, normalised against ``model``'s weights (Li et al. 2018, §4).

    Draws ``N(0, 1)`` per parameter on a CPU generator seeded with ``seed`` (in float32, in
    ``named_parameters()`` order), so the same seed gives the same direction on any device; then
    applies :func:`normalize_direction`.

    Parameters
    ----------
    model : the network (read only).
    norm : ``"filter"`` (default), ``"layer"`` or ``"none"``.
    ignore : ``"biasbn"`` (default; 1-D tensors get zero) or ``"none"``.
    seed : seed of the CPU generator.
    """
    _check_choice("norm", norm, NORMS)
    _check_choice("ignore", ignore, IGNORES)
    g = torch.Generator().manual_seed(int(seed))
    out = {}
    for name, w in params_of(model).items():
        d = torch.randn(w.shape, generator=g, dtype=torch.float32).to(w.device, w.dtype)
        out[name] = normalize_direction(d, w, norm, ignore)
    return Direction(out, "random", {"norm": norm, "ignore": ignore, "seed": int(seed)})


def _state_of(obj: nn.Module | Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    if isinstance(obj, nn.Module):
        return params_of(obj)
    return {k: v.detach() for k, v in obj.items()}


@guard_probe("model", "target", name="landscape.target_direction")
def target_direction(
    model: nn.Module, target: nn.Module | Mapping[str, torch.Tensor], ignore: Ignore = "none"
) -> Direction:
    """``δ = θ_target − θ_model``: α = 0 is ``model``, α = 1 is ``target`` (Goodfellow et al. 2015).

    ``target`` is a model of the same architecture, or a mapping of its parameters by name.
    Buffers (BN running statistics) are not part of a direction; the surface uses ``model``'s,
    unless asked to recompute them (``SurfaceOptions(recompute_bn=True)``).
    """
    _check_choice("ignore", ignore, IGNORES)
    base, other = params_of(model), _state_of(target)
    missing = sorted(set(base) - set(other))
    if missing:
        raise ValueError(f"target lacks parameters {missing[:3]}; it must match the model")
    out = {}
    for k, w in base.items():
        t = other[k].to(w.device, w.dtype)
        if t.shape != w.shape:
            raise ValueError(
                f"target parameter {k!r} has shape {tuple(t.shape)}, model has {tuple(w.shape)}"
            )
        out[k] = torch.zeros_like(w) if (ignore == "biasbn" and w.dim() <= 1) else t - w
    return Direction(out, "target", {"ignore": ignore})


@dataclass(frozen=True)
class PCADirections(FrameRepr):
    """PCA of a training trajectory around its final point (Li et al. 2018, §7).

    Attributes
    ----------
    directions : the top principal directions (unit norm), as :class:`Direction` s.
    explained_variance_ratio : ``(n_components,)`` share of the trajectory's variance per direction.
    coords : ``(T, n_components)`` the checkpoints projected on the directions (the path to draw).
    """

    directions: tuple[Direction, ...]
    explained_variance_ratio: tuple[float, ...]
    coords: torch.Tensor

    def to_frame(self) -> pd.DataFrame:
        c = self.coords.cpu().numpy()
        return pd.DataFrame({f"pc{i + 1}": c[:, i] for i in range(c.shape[1])}).assign(
            checkpoint=range(len(c))
        )

    def __repr__(self) -> str:
        ev = ", ".join(f"{v:.3f}" for v in self.explained_variance_ratio)
        return f"PCADirections(explained variance ratio [{ev}], {len(self.coords)} checkpoints)"


@guard_probe("model", "checkpoints", name="landscape.pca_directions")
def pca_directions(
    model: nn.Module,
    checkpoints: Sequence[nn.Module | Mapping[str, torch.Tensor]],
    n_components: int = 2,
    ignore: Ignore = "biasbn",
) -> PCADirections:
    """Principal directions of ``[θ_t − θ_final for t in checkpoints]``.

    ``model`` holds ``θ_final``; ``checkpoints`` are models or parameter mappings along training.
    The rows are centred, as scikit-learn's PCA does in the reference code, and 1-D tensors are
    zeroed under ``ignore="biasbn"``.
    """
    _check_choice("ignore", ignore, IGNORES)
    if len(checkpoints) < n_components + 1:
        raise ValueError(
            f"pca_directions needs at least n_components + 1 = {n_components + 1} checkpoints, got {len(checkpoints)}"
        )
    final = params_of(model)
    names = list(final)
    keep = {k: not (ignore == "biasbn" and final[k].dim() <= 1) for k in names}
    rows = []
    for ck in checkpoints:
        st = _state_of(ck)
        parts = [
            (st[k].to(final[k].device, torch.float64) - final[k].double()).flatten()
            if keep[k]
            else torch.zeros(final[k].numel(), dtype=torch.float64, device=final[k].device)
            for k in names
        ]
        rows.append(torch.cat(parts))
    m = torch.stack(rows)  # (T, P)
    centred = m - m.mean(dim=0, keepdim=True)
    _, s, vh = torch.linalg.svd(centred, full_matrices=False)  # vh: (min(T,P), P)
    var = s**2
    ratio = (var / var.sum().clamp_min(1e-300))[:n_components]
    comps = vh[:n_components]  # (n, P) unit rows
    coords = m @ comps.T  # (T, n)
    dirs = []
    for i, c in enumerate(comps):
        tensors, off = {}, 0
        for k in names:
            w = final[k]
            tensors[k] = c[off : off + w.numel()].view_as(w).to(w.dtype)
            off += w.numel()
        dirs.append(
            Direction(
                tensors,
                "pca",
                {"component": i + 1, "ignore": ignore, "explained": float(ratio[i])},
            )
        )
    return PCADirections(tuple(dirs), tuple(float(r) for r in ratio), coords.cpu())
