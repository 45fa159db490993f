"""Hessian curvature of the training loss: Lanczos extreme eigenvalues, Hutchinson trace, and maps.

For ``L(θ) = (1/N) Σ_n ℓ(f(x_n; θ), y_n)`` over a dataset, Hessian-vector products
``H v = ∇_θ (∇_θ L · v)`` are computed by double backward through
:func:`torch.func.functional_call` on a private copy of the model (eval mode by default), summed
over batches. Nothing is ever formed at size ``P × P``.

- :func:`eigenvalues`: Lanczos with full reorthogonalisation (Lanczos 1950; Golub & Van Loan,
  §10.1). After ``m`` steps the tridiagonal ``T_m`` has Ritz values whose extremes converge to
  ``λ_max`` and ``λ_min`` first; with ``m = P`` they are exact up to rounding.
- :func:`trace`: Hutchinson's estimator ``tr H = E[vᵀ H v]`` with Rademacher ``v``
  (Hutchinson 1989); the standard error is reported.
- :func:`curvature_map`: ``λ_min``, ``λ_max`` and ``|λ_min / λ_max|`` at every point of a
  (coarse) grid ``θ* + α δ + β η``. Li et al. (2018, §6) show that convex-looking regions of
  filter-normalised surfaces have ``|λ_min / λ_max| ≈ 0``, and chaotic ones do not.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pandas as pd
import torch
from torch import nn
from torch.func import functional_call

from depthlab._display import FrameRepr
from depthlab.numerics import NonFiniteError
from depthlab.probes import _memory
from depthlab.probes._guard import autodiff_safe, guard_probe, guarded, raise_if_nonfinite
from depthlab.probes.landscape._shared import (
    Data,
    Direction,
    Grid,
    LossFn,
    as_directions,
    as_grid,
    data_xy,
    params_of,
)
from depthlab.progress import AUTO, QUIET, Progress

__all__ = [
    "HVP",
    "CurvatureMap",
    "HessianSpectrum",
    "HessianTrace",
    "curvature_map",
    "eigenvalues",
    "lanczos",
    "trace",
]


class HVP:
    """``v ↦ H v`` for the mean loss over a dataset, at the model's weights or at ``params``.

    Parameters
    ----------
    model : read only; a deep copy is evaluated (``eval`` mode unless ``eval_mode=False``).
    loss_fn : ``loss_fn(out, y) -> mean loss``.
    data : a depthlab ``Dataset`` (train split) or ``(x, y)``.
    params : ``{name: tensor}`` to differentiate at (default: the model's own parameters).
    batch_size : examples per double-backward pass.

    Vectors are flat, float64, on the model's device, in ``named_parameters()`` order (length P).
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fn: LossFn,
        data: Data,
        params: dict[str, torch.Tensor] | None = None,
        batch_size: int = 4096,
        eval_mode: bool = True,
    ) -> None:
        # under the guard: a NaN/Inf weight is named, and the model's hooks stay out of the copy
        with guarded(model, what="landscape.hessian.HVP"):
            self.tmpl = copy.deepcopy(model).train(not eval_mode)
        self.model = model  # only to name a layer if the loss goes non-finite
        for p in self.tmpl.parameters():
            p.requires_grad_(False)
        base = params if params is not None else params_of(model)
        self.names = list(params_of(model))
        self.theta = {n: base[n].detach() for n in self.names}
        ref = self.theta[self.names[0]]
        self.device, self.dtype = ref.device, ref.dtype
        self.buffers = {n: b.detach().clone() for n, b in self.tmpl.named_buffers()}
        x, y = data_xy(data)
        self.x = (x.to(self.dtype) if x.is_floating_point() else x).to(self.device)
        self.y = y.to(self.device)
        self.loss_fn, self.batch = loss_fn, batch_size
        self.dim = sum(t.numel() for t in self.theta.values())
        self.calls = 0

    def check(self, value, what: str, params_given: bool) -> None:
        """Raise :class:`NonFiniteError` naming the layer if ``value`` is NaN/Inf."""
        if params_given:
            if not math.isfinite(float(torch.as_tensor(value, dtype=torch.float64).sum())):
                raise NonFiniteError(
                    f"{what} is not finite at the given params (the model's own weights are "
                    "finite): the loss overflows there; use a smaller step or float64"
                )
            return
        raise_if_nonfinite(self.model, self.x, value, what, self.batch)

    def _split(self, v: torch.Tensor) -> list[torch.Tensor]:
        out, off = [], 0
        for n in self.names:
            t = self.theta[n]
            out.append(v[off : off + t.numel()].view_as(t).to(self.dtype))
            off += t.numel()
        return out

    @autodiff_safe
    def loss_and_grad(self) -> tuple[float, torch.Tensor]:
        """Mean loss and its flat float64 gradient at ``θ``."""
        n = len(self.x)
        g_total = torch.zeros(self.dim, dtype=torch.float64, device=self.device)
        total = 0.0
        for i in range(0, n, self.batch):
            p = {k: t.clone().requires_grad_(True) for k, t in self.theta.items()}
            xb, yb = self.x[i : i + self.batch], self.y[i : i + self.batch]
            loss = self.loss_fn(functional_call(self.tmpl, (p, self.buffers), (xb,)), yb)
            loss = loss * (len(yb) / n)
            g = torch.autograd.grad(loss, list(p.values()))
            g_total += torch.cat([gi.reshape(-1).double() for gi in g])
            total += float(loss.detach())
        return total, g_total

    @autodiff_safe
    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        vs = self._split(v)
        n = len(self.x)
        out = torch.zeros(self.dim, dtype=torch.float64, device=self.device)
        for i in range(0, n, self.batch):
            p = {k: t.clone().requires_grad_(True) for k, t in self.theta.items()}
            xb, yb = self.x[i : i + self.batch], self.y[i : i + self.batch]
            loss = self.loss_fn(functional_call(self.tmpl, (p, self.buffers), (xb,)), yb)
            loss = loss * (len(yb) / n)
            g = torch.autograd.grad(loss, list(p.values()), create_graph=True)
            dot = sum((gi * vi).sum() for gi, vi in zip(g, vs, strict=True))
            hv = torch.autograd.grad(dot, list(p.values()), allow_unused=True)
            out += torch.cat(
                [
                    (torch.zeros_like(t) if h is None else h).reshape(-1).double()
                    for h, t in zip(hv, self.theta.values(), strict=True)
                ]
            )
        return out


def lanczos(
    matvec: Callable[[torch.Tensor], torch.Tensor],
    dim: int,
    iters: int = 20,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Ritz values (ascending, float64, CPU) of a symmetric operator after ``min(iters, dim)`` steps.

    Full reorthogonalisation against all previous Lanczos vectors (twice, for stability); the
    start vector is Gaussian from a CPU generator seeded with ``seed``. Stops early on an
    invariant subspace (``β_j ≈ 0``).
    """
    m = max(1, min(int(iters), dim))
    g = torch.Generator().manual_seed(int(seed))
    q = torch.randn(dim, generator=g, dtype=torch.float64).to(device)
    q = q / q.norm()
    qs = [q]
    alphas: list[float] = []
    betas: list[float] = []
    scale = 0.0
    for j in AUTO.track(range(m), "hessian (Lanczos steps)"):
        w = matvec(qs[-1]).to(torch.float64)
        a = float(w @ qs[-1])
        alphas.append(a)
        qm = torch.stack(qs)  # (j+1, dim)
        for _ in range(2):
            w = w - qm.T @ (qm @ w)
        b = float(w.norm())
        scale = max(scale, abs(a), b)
        if j == m - 1 or b <= 1e-12 * max(scale, 1e-300):
            break
        betas.append(b)
        qs.append(w / b)
    k = len(alphas)
    t = torch.diag(torch.tensor(alphas, dtype=torch.float64))
    if k > 1:
        off = torch.tensor(betas[: k - 1], dtype=torch.float64)
        t = t + torch.diag(off, 1) + torch.diag(off, -1)
    return torch.linalg.eigvalsh(t)


@dataclass(frozen=True)
class HessianSpectrum(FrameRepr):
    """Extreme Hessian eigenvalues by Lanczos.

    Attributes
    ----------
    lambda_max, lambda_min : largest and smallest Ritz values.
    ritz : ``(m,)`` all Ritz values, ascending.
    iters : Lanczos steps taken; ``dim`` : number of parameters P.
    loss : mean loss at the point.
    """

    lambda_max: float
    lambda_min: float
    ritz: torch.Tensor
    iters: int
    dim: int
    loss: float
    seconds: float

    @property
    def ratio(self) -> float:
        """``|λ_min / λ_max|`` (Li et al. 2018's measure of non-convexity)."""
        return abs(self.lambda_min / self.lambda_max) if self.lambda_max != 0 else math.inf

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"index": range(len(self.ritz)), "ritz": self.ritz.numpy()})

    def __repr__(self) -> str:
        return (
            f"HessianSpectrum(λmax={self.lambda_max:.4g}, λmin={self.lambda_min:.4g}, "
            f"|λmin/λmax|={self.ratio:.3g}, {self.iters} Lanczos steps, P={self.dim})"
        )


@guard_probe(name="landscape.hessian.eigenvalues", autodiff=True)
def eigenvalues(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    *,
    iters: int = 20,
    seed: int = 0,
    batch_size: int = 4096,
    params: dict[str, torch.Tensor] | None = None,
    max_memory: int | str | None = None,
) -> HessianSpectrum:
    """Top and bottom Hessian eigenvalues of the mean loss over ``data`` by Lanczos on HVPs.

    Parameters
    ----------
    model, loss_fn, data : as for :func:`depthlab.landscape.surface`.
    iters : Lanczos steps (each is one HVP over the whole dataset: ~2 forward + 2 backward passes).
    seed : seed of the start vector.
    params : evaluate at these parameters instead of the model's (e.g. a landscape grid point).
    max_memory : memory budget checked before the first HVP (bytes or ``"2GB"``; default
        ``DEPTHLAB_MAX_MEMORY`` or half the free memory): the Lanczos vectors (``iters`` of the
        parameters' size) and a batch's double-backward graph (:mod:`depthlab.probes._memory`).
    """
    t0 = time.perf_counter()
    x = data_xy(data)[0]
    _memory.check(
        "landscape.hessian.eigenvalues",
        model,
        points=min(len(x), batch_size),
        example=x[0],
        param_factor=4.0 + iters,  # weights, gradient, HVP, its graph, and the Lanczos basis
        act_factor=3.0,  # the forward kept for a backward, and the backward kept for a second
        lower="fewer iters= or a smaller batch_size=",
        max_memory=max_memory,
    )
    hvp = HVP(model, loss_fn, data, params, batch_size)
    loss, grad = hvp.loss_and_grad()
    hvp.check(loss, "landscape.hessian.eigenvalues: the loss", params is not None)
    hvp.check(grad, "landscape.hessian.eigenvalues: the gradient", params is not None)
    ritz = lanczos(hvp, hvp.dim, iters, seed, hvp.device)
    return HessianSpectrum(
        float(ritz[-1]),
        float(ritz[0]),
        ritz.cpu(),
        len(ritz),
        hvp.dim,
        loss,
        time.perf_counter() - t0,
    )


@dataclass(frozen=True)
class HessianTrace(FrameRepr):
    """Hutchinson estimate of ``tr H`` with its standard error over ``samples`` probes."""

    estimate: float
    stderr: float
    samples: int

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [{"trace": self.estimate, "stderr": self.stderr, "samples": self.samples}]
        )

    def __repr__(self) -> str:
        return f"HessianTrace({self.estimate:.4g} ± {self.stderr:.2g}, {self.samples} samples)"


@guard_probe(name="landscape.hessian.trace", autodiff=True)
def trace(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    *,
    samples: int = 50,
    seed: int = 0,
    batch_size: int = 4096,
    params: dict[str, torch.Tensor] | None = None,
    max_memory: int | str | None = None,
) -> HessianTrace:
    """``tr H ≈ (1/S) Σ_s v_sᵀ H v_s`` with Rademacher ``v_s`` (Hutchinson 1989).

    ``max_memory``: the memory budget checked before the first HVP, as for :func:`eigenvalues`.
    """
    x = data_xy(data)[0]
    _memory.check(
        "landscape.hessian.trace",
        model,
        points=min(len(x), batch_size),
        example=x[0],
        param_factor=5.0,  # weights, gradient, HVP, its graph, the probe vector
        act_factor=3.0,  # the forward kept for a backward, and the backward kept for a second
        lower="a smaller batch_size=",
        max_memory=max_memory,
    )
    hvp = HVP(model, loss_fn, data, params, batch_size)
    g = torch.Generator().manual_seed(int(seed))
    vals = []
    for _ in range(samples):
        v = (torch.randint(0, 2, (hvp.dim,), generator=g) * 2 - 1).to(hvp.device, torch.float64)
        vals.append(float(v @ hvp(v)))
    t = torch.tensor(vals, dtype=torch.float64)
    hvp.check(t, "landscape.hessian.trace: a sample vᵀHv", params is not None)
    se = float(t.std() / math.sqrt(samples)) if samples > 1 else math.nan
    return HessianTrace(float(t.mean()), se, samples)


@dataclass(frozen=True)
class CurvatureMap(FrameRepr):
    """``λ_min``, ``λ_max`` at each point of a grid around ``θ*``.

    Attributes
    ----------
    grid : the :class:`Grid`; ``lambda_max``, ``lambda_min`` have shape ``grid.shape``.
    iters : Lanczos steps per point.
    """

    grid: Grid
    lambda_max: torch.Tensor
    lambda_min: torch.Tensor
    iters: int

    @property
    def ratio(self) -> torch.Tensor:
        """``|λ_min / λ_max|`` per grid point."""
        return (self.lambda_min / self.lambda_max).abs()

    def to_frame(self) -> pd.DataFrame:
        pts = self.grid.points().numpy()
        beta = pts[:, 1] if self.grid.ndim == 2 else [float("nan")] * len(pts)
        return pd.DataFrame(
            {
                "alpha": pts[:, 0],
                "beta": beta,
                "lambda_max": self.lambda_max.flatten().numpy(),
                "lambda_min": self.lambda_min.flatten().numpy(),
                "ratio": self.ratio.flatten().numpy(),
            }
        )

    def __repr__(self) -> str:
        return (
            f"CurvatureMap({'x'.join(map(str, self.grid.shape))}, mean |λmin/λmax| "
            f"{float(self.ratio.mean()):.3g}, max {float(self.ratio.max()):.3g})"
        )


@guard_probe(name="landscape.hessian.curvature_map", autodiff=True)
def curvature_map(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    directions: Direction | Sequence[Direction],
    grid: Grid | Sequence,
    *,
    iters: int = 10,
    seed: int = 0,
    batch_size: int = 4096,
    progress: Progress = QUIET,
) -> CurvatureMap:
    """Extreme eigenvalues at every point ``θ* + α δ + β η`` of a (coarse) grid (Li et al. §6).

    Cost: ``iters`` HVPs over ``data`` per grid point; keep the grid coarse (e.g. 5 x 5).
    """
    dirs = as_directions(directions)
    grid = as_grid(grid)
    if grid.ndim != len(dirs):
        raise ValueError(f"a {grid.ndim}-D grid needs {grid.ndim} direction(s), got {len(dirs)}")
    base = params_of(model)
    ds = [d.to(next(iter(base.values())).device).tensors for d in dirs]
    lmax, lmin = [], []
    for a, b in progress.track(grid.points().tolist(), "curvature map"):
        at = {}
        for n, w in base.items():
            p = w + a * ds[0][n].to(w.dtype)
            if len(ds) > 1:
                p = p + b * ds[1][n].to(w.dtype)
            at[n] = p
        spec = eigenvalues(
            model, loss_fn, data, iters=iters, seed=seed, batch_size=batch_size, params=at
        )
        lmax.append(spec.lambda_max)
        lmin.append(spec.lambda_min)
    shape = grid.shape
    return CurvatureMap(
        grid,
        torch.tensor(lmax, dtype=torch.float64).view(shape),
        torch.tensor(lmin, dtype=torch.float64).view(shape),
        iters,
    )
