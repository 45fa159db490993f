"""The batched engines for a fully connected (or residual) family: all ``K`` inits at once.

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
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn
from torch.func import jvp

from depthlab.init import SCHEMES, _truncated_standard_normal, scheme_variance
from depthlab.nets.activations import activation_fn
from depthlab.probes.signal._family import MLPFamily
from depthlab.probes.signal._result import SignalMoments
from depthlab.progress import AUTO
from depthlab.theory.signal import GAUSSIAN_SCHEMES

__all__ = ["ENGINES", "GAUSSIAN_SCHEMES", "draw_weights"]

ENGINES = ("auto", "gaussian", "weights")


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


def family_moments(
    family: MLPFamily,
    n_inits: int,
    *,
    x: torch.Tensor | None,
    scheme: str,
    jacobian: bool,
    jac_inputs: int,
    engine: str,
    seed: int,
    generator: torch.Generator | None,
    dtype: torch.dtype,
    device: torch.device | str | None,
    chunk_size: int | None,
    sigma_w2: float,
) -> SignalMoments:
    """:func:`depthlab.signal.moments` for an :func:`~depthlab.signal.mlp_family` (batched)."""
    widths, activation = list(family.widths), family.activation
    etas_l = None if family.etas is None else list(family.etas)
    if n_inits < 2:
        raise ValueError(f"n_inits must be at least 2, got {n_inits}")
    if scheme not in SCHEMES:
        raise ValueError(f"unknown init scheme {scheme!r}; allowed: {', '.join(SCHEMES)}")
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; allowed: {', '.join(ENGINES)}")
    if engine == "auto":
        engine = "gaussian" if scheme in GAUSSIAN_SCHEMES else "weights"
    if engine == "gaussian" and scheme not in GAUSSIAN_SCHEMES:
        raise ValueError(
            f"engine 'gaussian' is exact only for Gaussian schemes ({', '.join(GAUSSIAN_SCHEMES)}); "
            f"use engine='weights' for {scheme!r}"
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
    for start in AUTO.track(range(0, n_inits, chunk_size), "signal.moments (chunks)"):
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
