"""Signal statistics over many initializations: batched Monte Carlo (Hanin & Rolnick 2018).

:func:`moments` draws ``K`` independent initializations of a fully connected (or residual) net
given by a width profile and runs all of them as one batched computation. For every layer it
records ``M_j = ||x_j||^2 / n_j`` and, optionally, entries of the input-output Jacobian
``d z_j / d x_0`` (carried as tangents with ``torch.func.jvp``). The closed forms these are
compared with live in :mod:`depthlab.theory.signal`.

Two engines, both batched over the ``K`` initializations (no Python loop over modules):

``"weights"``
    Stacked weight tensors ``(k, n_j, n_{j-1})`` drawn by the init scheme's own sampler, applied
    with ``torch.bmm``. Works for every scheme (uniform, truncated, orthogonal, ...). Memory:
    one layer's weights for a chunk of ``k`` inits at a time.
``"gaussian"``
    Exact in distribution for i.i.d. Gaussian weights (``he_normal``, ``lecun_normal``,
    ``xavier_normal``, ``custom``): given the layer input ``x`` and tangents ``T`` (columns of
    ``A = [x, T]``, shape ``(n_{j-1}, 1 + P)``), the rows of ``W A`` are i.i.d. ``N(0, v A^T A)``.
    With the reduced QR ``A = Q R`` they are sampled as ``xi R`` with ``xi ~ N(0, v I)``. This costs
    ``O(k n (1 + P)^2)`` per layer instead of ``O(k n^2)`` and is what makes ten thousand inits of a
    depth-50, width-100 net take a fraction of a second. ``"auto"`` picks it for Gaussian schemes.

A third path, for any ``nn.Module``, takes a factory and re-initializes a private copy ``K``
times with :func:`depthlab.init.initialize` (a loop: slower, but any architecture).

References
----------
B. Hanin and D. Rolnick, "How to start training: the effect of initialization and architecture",
NeurIPS 2018 (Thms 1, 2). B. Hanin, "Which neural net architectures give rise to exploding and
vanishing gradients?", NeurIPS 2018.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pandas as pd
import torch
from torch import nn
from torch.func import jvp

from depthlab.init import (
    SCHEMES,
    _truncated_standard_normal,
    initialize,
    scheme_variance,
)
from depthlab.nets.activations import ACTIVATIONS, activation_fn
from depthlab.theory.signal import GAUSSIAN_SCHEMES
from depthlab.walk import weight_layers

ENGINES = ("auto", "gaussian", "weights")


@dataclass(frozen=True)
class SignalMoments:
    """Per-layer signal statistics over ``K`` initializations.

    Attributes
    ----------
    widths : ``(n_0, ..., n_d)``; for the any-model path, the feature count at each probe point.
    layer_names : name of each probe point ``j = 0..d`` (``"input"``, ``"layer1"``, ...).
    m : ``(K, d + 1)`` tensor, ``M_j = ||x_j||^2 / n_j`` for every init (``m[:, 0] = M_0``).
    jac2, jac4 : ``(K, d)`` tensors or None: per init, the mean of ``Z^2`` and ``Z^4`` over the
        sampled Jacobian entries ``Z = d z_j[q] / d x_0[p]`` of layer ``j = 1..d`` (all ``q``,
        ``jac_inputs`` input indices ``p``). The any-model path has one column: the output.
    scheme, activation, engine : how the nets were drawn and run.
    etas : branch scales for residual nets, else None.
    """

    widths: tuple[int, ...]
    layer_names: tuple[str, ...]
    m: torch.Tensor
    jac2: torch.Tensor | None
    jac4: torch.Tensor | None
    scheme: str
    activation: str
    engine: str
    etas: tuple[float, ...] | None = None
    meta: dict = field(default_factory=dict)

    # ---- per-layer statistics across inits, each (d + 1,) --------------------------------
    @property
    def n_inits(self) -> int:
        return int(self.m.shape[0])

    @property
    def depth(self) -> int:
        return int(self.m.shape[1]) - 1

    @property
    def ratio(self) -> torch.Tensor:
        """``(K, d + 1)``: ``M_j / M_0`` per init."""
        return self.m / self.m[:, :1]

    @property
    def mean(self) -> torch.Tensor:
        """``E[M_j] / M_0``, shape ``(d + 1,)``."""
        return self.ratio.mean(0)

    @property
    def mean_se(self) -> torch.Tensor:
        """Standard error of :attr:`mean`."""
        return self.ratio.std(0) / math.sqrt(self.n_inits)

    @property
    def second(self) -> torch.Tensor:
        """``E[M_j^2] / M_0^2``, shape ``(d + 1,)``."""
        return (self.ratio**2).mean(0)

    @property
    def second_se(self) -> torch.Tensor:
        return (self.ratio**2).std(0) / math.sqrt(self.n_inits)

    @property
    def var(self) -> torch.Tensor:
        """``Var(M_j) / M_0^2`` across inits."""
        return self.ratio.var(0)

    @property
    def log_var(self) -> torch.Tensor:
        """``Var(log M_j)`` across inits (``-inf`` logs, a dead net, are dropped)."""
        lg = torch.log(self.ratio)
        lg = torch.where(torch.isfinite(lg), lg, torch.nan)
        mu = lg.nanmean(0)
        return ((lg - mu) ** 2).nanmean(0) * self.n_inits / max(self.n_inits - 1, 1)

    # ---- FM2: fluctuation over the layers of one net, each (K,) ---------------------------
    @property
    def layer_var(self) -> torch.Tensor:
        """Per init, the empirical variance of ``M_j / M_0`` over layers ``j = 1..d`` (Thm 2)."""
        r = self.ratio[:, 1:]
        return r.var(1, unbiased=False) if r.shape[1] > 1 else torch.zeros_like(r[:, 0])

    @property
    def layer_var_log(self) -> torch.Tensor:
        """Per init, the empirical variance of ``log M_j`` over layers ``j = 1..d``."""
        r = torch.log(self.ratio[:, 1:])
        return r.var(1, unbiased=False) if r.shape[1] > 1 else torch.zeros_like(r[:, 0])

    @property
    def layer_var_log_upto(self) -> torch.Tensor:
        """``(d + 1,)``: mean over inits of the variance of ``log M_i`` over layers ``i = 1..j``.

        The FM2 statistic of Hanin & Rolnick's Thm 2 read at every depth ``j`` (0 for ``j <= 1``).
        """
        lg = torch.log(self.ratio[:, 1:])  # (K, d)
        d = lg.shape[1]
        cnt = torch.arange(1, d + 1, dtype=lg.dtype, device=lg.device)
        mean = lg.cumsum(1) / cnt
        var = (lg.square().cumsum(1) / cnt - mean.square()).clamp_min(0).nanmean(0)
        return torch.cat([var.new_zeros(1), var])

    # ---- Jacobian entries, each (d,) ------------------------------------------------------
    @property
    def jac_second(self) -> torch.Tensor | None:
        """``E[Z_j^2]`` per layer."""
        return None if self.jac2 is None else self.jac2.mean(0)

    @property
    def jac_fourth(self) -> torch.Tensor | None:
        """``E[Z_j^4]`` per layer."""
        return None if self.jac4 is None else self.jac4.mean(0)

    @property
    def jac_kurtosis(self) -> torch.Tensor | None:
        """``E[Z_j^4] / E[Z_j^2]^2`` per layer (3 for Gaussian entries)."""
        if self.jac2 is None or self.jac4 is None:
            return None
        return self.jac_fourth / self.jac_second**2

    @property
    def beta(self) -> float:
        """``sum 1 / n_j`` over the hidden widths ``n_1 .. n_d``."""
        return float(sum(1.0 / n for n in self.widths[1:]))

    def to_frame(self) -> pd.DataFrame:
        """One row per probe point ``j = 0..d``: width, mean, SE, second moment, variances, Jacobian."""
        d1 = self.depth + 1
        cols = {
            "layer": list(range(d1)),
            "name": list(self.layer_names),
            "width": list(self.widths),
            "mean_m": self.mean.tolist(),
            "mean_m_se": self.mean_se.tolist(),
            "second_m": self.second.tolist(),
            "second_m_se": self.second_se.tolist(),
            "var_m": self.var.tolist(),
            "var_log_m": self.log_var.tolist(),
            "layer_var_log_upto": self.layer_var_log_upto.tolist(),
        }
        nan = [math.nan]
        for key, val in (
            ("jac_second", self.jac_second),
            ("jac_fourth", self.jac_fourth),
            ("jac_kurtosis", self.jac_kurtosis),
        ):
            if val is None:
                cols[key] = nan * d1
            else:
                vals = val.tolist()
                cols[key] = nan * (d1 - len(vals)) + vals
        df = pd.DataFrame(cols)
        df["n_inits"] = self.n_inits
        df["scheme"] = self.scheme
        df["activation"] = self.activation
        return df

    def __repr__(self) -> str:
        d = self.depth
        return (
            f"SignalMoments(K={self.n_inits}, d={d}, scheme={self.scheme}, "
            f"E[M_d]/M_0={float(self.mean[-1]):.4g}, E[M_d^2]/M_0^2={float(self.second[-1]):.4g}, "
            f"beta={self.beta:.4g})"
        )


# ----------------------------------------------------------------------------------------------
# weight draws for a stack of k layers (the "weights" engine)


def draw_weights(
    scheme: str,
    k: int,
    n_out: int,
    n_in: int,
    generator: torch.Generator | None,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
    sigma_w2: float = 2.0,
) -> torch.Tensor:
    """``(k, n_out, n_in)`` weights, each ``(n_out, n_in)`` slice drawn as :func:`depthlab.init.init_weight_` would."""
    shape = (k, n_out, n_in)
    if scheme in GAUSSIAN_SCHEMES:
        std = math.sqrt(scheme_variance(scheme, n_in, n_out, sigma_w2))
        return std * torch.randn(shape, generator=generator, dtype=dtype, device=device)
    if scheme == "he_uniform":
        a = math.sqrt(6.0 / n_in)
        u = torch.rand(shape, generator=generator, dtype=dtype, device=device)
        return a * (2 * u - 1)
    if scheme in ("trunc_normal_naive", "trunc_normal_corrected"):
        from depthlab.init import TRUNC2_STD

        s = math.sqrt(2.0 / n_in) / (TRUNC2_STD if scheme == "trunc_normal_corrected" else 1.0)
        like = torch.empty(0, dtype=dtype, device=device)
        return s * _truncated_standard_normal(torch.Size(shape), 2.0, generator, like)
    if scheme == "torch_trunc_normal":
        w = torch.empty(shape, dtype=dtype, device=device)
        nn.init.trunc_normal_(w, 0.0, math.sqrt(2.0 / n_in), -2.0, 2.0, generator=generator)
        return w
    if scheme == "orthogonal":
        tall = n_out >= n_in
        a = torch.randn(
            (k, n_out, n_in) if tall else (k, n_in, n_out),
            generator=generator,
            dtype=dtype,
            device=device,
        )
        q, r = torch.linalg.qr(a)
        q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1)).unsqueeze(-2)
        return math.sqrt(2.0) * (q if tall else q.transpose(-1, -2))
    raise ValueError(f"unknown init scheme {scheme!r}; allowed: {', '.join(SCHEMES)}")


def _gaussian_linear(
    a: torch.Tensor, n_out: int, var: float, generator: torch.Generator | None
) -> torch.Tensor:
    """Sample ``W a_c`` for every column ``c`` of ``a: (k, c, n_in)``, ``W`` i.i.d. ``N(0, var)``.

    The outputs ``(W a_0, ..., W a_{c-1})`` are, row by row, i.i.d. ``N(0, var G)`` with the Gram
    matrix ``G = a a^T``. With the Gram-Schmidt factor ``a_j = sum_{m<=j} R[m, j] q_m`` (``q_m``
    orthonormal) they equal ``sqrt(var) sum_m R[m, j] xi_m`` with ``xi_m ~ N(0, I_{n_out})``
    independent. Zero or dependent columns give zero rows of ``R``: no division by zero.
    Returns ``(k, c, n_out)``.
    """
    k, c, _ = a.shape
    xi = torch.randn((k, c, n_out), generator=generator, dtype=a.dtype, device=a.device)
    std = math.sqrt(var)
    if c == 1:  # only the forward signal: R = ||x||
        return std * a.norm(dim=-1, keepdim=True) * xi
    r = _gram_schmidt_r(a)  # (k, c, c) upper triangular
    # out[:, j] = sum_{m<=j} r[:, m, j] * xi[:, m]
    return std * torch.einsum("kmj,kmn->kjn", r, xi)


def _gram_schmidt_r(a: torch.Tensor) -> torch.Tensor:
    """The ``R`` of a modified Gram-Schmidt QR of the columns ``a[:, j, :]``; ``(k, c, c)``."""
    k, c, _ = a.shape
    r = a.new_zeros((k, c, c))
    eps = torch.finfo(a.dtype).tiny ** 0.5
    qs: list[torch.Tensor] = []
    for j in range(c):
        v = a[:, j, :]
        for m, q in enumerate(qs):
            rmj = (q * v).sum(-1)
            r[:, m, j] = rmj
            v = v - rmj.unsqueeze(-1) * q
        nrm = v.norm(dim=-1)
        r[:, j, j] = nrm
        qs.append(v / nrm.clamp_min(eps).unsqueeze(-1))
    return r


def _act_jvp(act: Callable, z: torch.Tensor) -> torch.Tensor:
    """``act`` on row 0 of ``z: (k, 1 + P, n)``, and its JVP (``torch.func.jvp``) along rows 1..P."""
    x = z[:, :1]
    if z.shape[1] == 1:
        return act(x)
    # for an elementwise act, the JVP along ones is act'(x); tangents scale by it
    y, slope = jvp(act, (x,), (torch.ones_like(x),))
    return torch.cat([y, slope * z[:, 1:]], dim=1)


def _run_chunk(
    widths: list[int],
    k: int,
    x0: torch.Tensor,
    scheme: str,
    act: Callable,
    etas: list[float] | None,
    engine: str,
    jac_idx: list[int],
    generator: torch.Generator | None,
    sigma_w2: float,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """One chunk of ``k`` inits. Returns ``m (k, d+1)``, ``jac2 (k, d)``, ``jac4 (k, d)``."""
    dtype, device = x0.dtype, x0.device
    n0 = widths[0]
    # a: (k, 1 + P, n) — row 0 the signal x_j, rows 1.. the tangents d x_j / d x0[p]
    a = x0.reshape(1, 1, n0).expand(k, 1, n0)
    if jac_idx:
        eye = torch.zeros(len(jac_idx), n0, dtype=dtype, device=device)
        eye[torch.arange(len(jac_idx)), jac_idx] = 1.0
        a = torch.cat([a, eye.expand(k, len(jac_idx), n0)], dim=1)
    ms = [a[:, 0].square().mean(-1)]
    j2, j4 = [], []

    def linear(a: torch.Tensor, n_out: int, gain2: float = 1.0) -> torch.Tensor:
        n_in = a.shape[-1]
        if engine == "gaussian":
            var = gain2 * scheme_variance(scheme, n_in, n_out, sigma_w2)
            return _gaussian_linear(a, n_out, var, generator)
        w = draw_weights(scheme, k, n_out, n_in, generator, dtype, device, sigma_w2)
        # (k, c, n_in) @ (k, n_in, n_out): every column of a through the same k weight draws
        return torch.bmm(a, w.transpose(1, 2)) * math.sqrt(gain2)

    for j, n in enumerate(widths[1:]):
        if etas is None:
            z = linear(a, n)  # (k, 1 + P, n_j): pre-activation and its tangents
            jac = z[:, 1:]
            a = _act_jvp(act, z)
        else:
            # x + eta * W2 act(W1 x): W1 the scheme's variance, W2 half of it (gain 1, no ReLU
            # after it), so E||branch(x)||^2 = ||x||^2 under He.
            h = _act_jvp(act, linear(a, n))
            a = a + etas[j] * linear(h, n, gain2=0.5)
            jac = a[:, 1:]
        ms.append(a[:, 0].square().mean(-1))
        if jac_idx:
            sq = jac.square()
            j2.append(sq.mean((1, 2)))
            j4.append(sq.square().mean((1, 2)))
    m = torch.stack(ms, 1)
    if not jac_idx:
        return m, None, None
    return m, torch.stack(j2, 1), torch.stack(j4, 1)


def moments(
    arch: Sequence[int] | Callable[[], nn.Module],
    n_inits: int = 1000,
    *,
    scheme: str = "he_normal",
    activation: str = "relu",
    etas: Sequence[float] | None = None,
    x: torch.Tensor | None = None,
    jacobian: bool = True,
    jac_inputs: int = 2,
    engine: str = "auto",
    seed: int = 0,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
    chunk_size: int | None = None,
    sigma_w2: float = 2.0,
) -> SignalMoments:
    """Monte Carlo signal statistics over ``n_inits`` independent initializations.

    ``M_j = ||x_j||^2 / n_j`` with ``x_j = act(W^(j) x_{j-1})`` (zero biases), and Jacobian
    entries ``Z = d z_j[q] / d x_0[p]`` of the pre-activation ``z_j = W^(j) x_{j-1}``. Theory
    (Hanin & Rolnick 2018, Thm 1; THEORY.md §2): ``E[M_d] = M_0 prod (n_{j-1} v_j / 2)`` and, for
    Gaussian He weights, ``E[M_d^2] = M_0^2 prod (1 + 5 / n_j)``.

    Parameters
    ----------
    arch : a width profile ``[n_0, n_1, ..., n_d]`` (every layer followed by ``activation``), or a
        zero-argument factory returning any ``nn.Module``, or a module itself (then ``x`` is
        required; see :func:`model_moments`; the module is deep-copied, never modified).
    n_inits : ``K``, the number of independent initializations.
    scheme : an init scheme from :data:`depthlab.init.SCHEMES`.
    activation : from :data:`depthlab.nets.ACTIVATIONS`.
    etas : branch scales ``eta_1..eta_L`` for a residual net ``x_l = x_{l-1} + eta_l W2 act(W1
        x_{l-1})`` (W2 has half the scheme's variance); needs a constant profile with
        ``len(arch) == len(etas) + 1``.
    x : ``(n_0,)`` input shared by all inits (default: all ones, so ``M_0 = 1``).
    jacobian : also carry tangents for ``jac_inputs`` input coordinates (the first ones) and
        record the second and fourth moments of the Jacobian entries at every layer.
    engine : ``"auto"`` (``"gaussian"`` for Gaussian schemes, else ``"weights"``), ``"gaussian"``
        or ``"weights"``; see the module docstring.
    seed, generator : randomness; ``generator`` wins when given.
    dtype, device : of the computation (float64 on the CPU by default; ``x`` decides otherwise).
    chunk_size : inits per batch (default: about 16 M weight entries per chunk).
    sigma_w2 : for ``scheme="custom"``: ``Var W = sigma_w2 / fan_in``.

    Returns
    -------
    SignalMoments

    Examples
    --------
    >>> from depthlab.signal import moments
    >>> r = moments([10, 10, 10, 10], n_inits=20000, seed=0)
    >>> r.second  # close to [1, 1.5, 2.25, 3.375] = prod (1 + 5/10)  # doctest: +SKIP
    """
    if isinstance(arch, nn.Module):  # a model instance: re-initialize private copies of it
        module = arch
        arch = lambda: module  # noqa: E731
    if callable(arch) and not isinstance(arch, (list, tuple)):
        if x is None:
            raise ValueError("the any-model path needs an example input x of shape (B, *in)")
        return model_moments(
            arch,
            x,
            n_inits,
            scheme=scheme,
            seed=seed,
            generator=generator,
            jacobian=jacobian,
            sigma_w2=sigma_w2,
        )
    widths = [int(n) for n in arch]
    if len(widths) < 2 or min(widths) < 1:
        raise ValueError(f"widths must be [n_0, n_1, ..., n_d] with d >= 1, got {widths}")
    if n_inits < 2:
        raise ValueError(f"n_inits must be at least 2, got {n_inits}")
    if scheme not in SCHEMES:
        raise ValueError(f"unknown init scheme {scheme!r}; allowed: {', '.join(SCHEMES)}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; allowed: {', '.join(ACTIVATIONS)}")
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; allowed: {', '.join(ENGINES)}")
    if engine == "auto":
        engine = "gaussian" if scheme in GAUSSIAN_SCHEMES else "weights"
    if engine == "gaussian" and scheme not in GAUSSIAN_SCHEMES:
        raise ValueError(
            f"engine 'gaussian' is exact only for Gaussian schemes ({', '.join(GAUSSIAN_SCHEMES)}); "
            f"use engine='weights' for {scheme!r}"
        )
    etas_l = None
    if etas is not None:
        etas_l = [float(e) for e in etas]
        if len(etas_l) != len(widths) - 1 or len(set(widths)) != 1:
            raise ValueError(
                f"a residual net needs a constant width profile with len(etas) + 1 entries; "
                f"got widths {widths} and {len(etas_l)} etas"
            )
    if x is None:
        x0 = torch.ones(widths[0], dtype=dtype, device=device or "cpu")
    else:
        x0 = x.reshape(-1)
        if x0.numel() != widths[0]:
            raise ValueError(f"x has {x0.numel()} entries but n_0 = {widths[0]}")
        if device is not None:
            x0 = x0.to(device)
        if not x0.is_floating_point():
            x0 = x0.to(dtype)
    if float(x0.pow(2).sum()) == 0.0:
        raise ValueError("x must be non-zero (M_0 = 0 makes every ratio undefined)")
    gen = generator
    if gen is None:
        gen = torch.Generator(device=x0.device).manual_seed(int(seed))
    jac_idx = list(range(min(jac_inputs, widths[0]))) if jacobian else []
    act = activation_fn(activation)
    if chunk_size is None:
        per_init = max(a * b for a, b in zip(widths[:-1], widths[1:], strict=True))
        if engine == "gaussian":
            per_init = max(widths) * (1 + len(jac_idx)) * 4
        chunk_size = max(1, min(n_inits, (1 << 24) // per_init))
    ms, j2s, j4s = [], [], []
    for start in range(0, n_inits, chunk_size):
        k = min(chunk_size, n_inits - start)
        m, j2, j4 = _run_chunk(widths, k, x0, scheme, act, etas_l, engine, jac_idx, gen, sigma_w2)
        ms.append(m)
        if j2 is not None:
            j2s.append(j2)
            j4s.append(j4)
    names = (
        "input",
        *(f"layer{j}" if etas_l is None else f"block{j}" for j in range(1, len(widths))),
    )
    return SignalMoments(
        widths=tuple(widths),
        layer_names=names,
        m=torch.cat(ms),
        jac2=torch.cat(j2s) if j2s else None,
        jac4=torch.cat(j4s) if j4s else None,
        scheme=scheme,
        activation=activation,
        engine=engine,
        etas=None if etas_l is None else tuple(etas_l),
        meta={"jac_inputs": jac_idx, "chunk_size": chunk_size},
    )


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
    """Signal statistics for any ``nn.Module``: re-initialize a private copy ``n_inits`` times.

    The probe points are the inputs of the weight layers (Linear/Conv) in execution order
    (found by :func:`depthlab.walk.weight_layers`), then the model's output: ``M_j`` is the mean
    over the ``B`` examples of ``||x_j||^2 / numel(x_j)``. The copy runs in eval mode. The Jacobian
    (reverse-mode autograd, one backward pass per output) is that of the output with respect to the first example ``x[0]``.

    The factory's model is deep-copied once before anything is drawn, so even a factory that
    returns the user's own model leaves it untouched.

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
    widths = tuple(int(t[0].numel()) for t in pts)
    names = (*[f"in:{li.name}" for li in layers], "output")
    return SignalMoments(
        widths=widths,
        layer_names=names,
        m=torch.stack(rows),
        jac2=torch.stack(j2s).unsqueeze(1) if jacobian else None,
        jac4=torch.stack(j4s).unsqueeze(1) if jacobian else None,
        scheme=scheme,
        activation="(model)",
        engine="module-loop",
        meta={"layers": [li.name for li in layers]},
    )
