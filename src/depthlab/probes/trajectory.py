"""Curve length and curvature through a network: push a curve through any ``nn.Module``.

A curve ``x(t)``, ``t in [0, 1]``, in input space (:func:`great_circle`, :func:`segment`,
:func:`closed_curve`) is pushed through a model, and its image after chosen layers is measured:

- **length** ``L_l = ∫ ||d h_l(x(t)) / dt|| dt``;
- **curvature** ``kappa = sqrt(|v|^2 |a|^2 - (v·a)^2) / |v|^3`` with ``v = dh/dt``, ``a = d^2h/dt^2``
  (mean over the curve, weighted by arc length), where the network is smooth.

Methods (:func:`length`):

``"adaptive"``
    The velocity ``v`` of every layer is exact (forward-mode AD, read by temporary forward hooks
    that are removed in ``finally``). The length is the midpoint rule on ``||v||`` with ``n`` cells,
    doubled until two successive estimates agree to ``tol`` (relative, every layer); the achieved
    relative change is reported. For periodic smooth curves the rule converges faster than any
    power of ``1/n``. Curvature uses a central difference of the exact velocity (step ``1e-4/n``).
``"exact"``
    For piecewise-linear models (ReLU, leaky ReLU, hard-tanh, abs, Linear/Conv, average pooling,
    eval-mode BatchNorm, residual adds) and polyline curves (segments, closed polylines), the
    image in every layer is a polyline whose breakpoints :mod:`depthlab.pl` finds exactly; the
    length is the sum of its straight pieces, and the number of pieces is reported (Raghu et al.
    2017 count these sign transitions).
``"auto"``
    ``"exact"`` when the curve is a polyline and the model is piecewise linear, else adaptive.

Many curves go through in one batched forward (pass a list). Many random MLPs of one
architecture go through at once with stacked weights (:func:`mlp_lengths`).

References
----------
Poole et al. (2016), "Exponential expressivity in deep neural networks through transient chaos".
Raghu et al. (2017), "On the expressive power of deep neural networks", ICML.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import torch
import torch.autograd.forward_ad as fwAD
from torch import nn

from depthlab._display import FrameRepr
from depthlab.probes import _memory
from depthlab.probes._curves import Curve, closed_curve, great_circle, segment
from depthlab.probes._guard import guard_probe, raise_if_nonfinite
from depthlab.progress import AUTO, log

# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class TrajectoryResult(FrameRepr):
    """Length (and curvature, pieces) of one or more curves' images after chosen layers.

    Attributes
    ----------
    layers : layer names, ``"input"`` first.
    lengths : ``(C, L)`` length of curve c's image in layer l.
    curvature : ``(C, L)`` arc-length-weighted mean curvature, or None (not asked, or exact).
    pieces : ``(C, L)`` number of affine pieces of the image (exact method), or None.
    transitions : ``(C,)`` activation-pattern changes along each curve over the whole model
        (exact method: pieces of the model minus the curve's own segments), or None.
    method : ``"exact"`` or ``"adaptive"``.
    n_points : points per curve in the final estimate (exact: breakpoints + vertices).
    tol : the relative tolerance asked for (adaptive), else 0.
    achieved_tol : the largest relative change between the last two estimates (adaptive); 0 exact.
    converged : ``achieved_tol <= tol``.
    """

    layers: tuple[str, ...]
    lengths: np.ndarray
    curvature: np.ndarray | None
    pieces: np.ndarray | None
    transitions: np.ndarray | None
    method: str
    n_points: int
    tol: float
    achieved_tol: float
    converged: bool

    def ratios(self) -> np.ndarray:
        """``(C, L - 1)`` length ratios between consecutive measured layers."""
        return self.lengths[:, 1:] / self.lengths[:, :-1]

    def to_frame(self) -> pd.DataFrame:
        rows = []
        for c in range(self.lengths.shape[0]):
            for i, name in enumerate(self.layers):
                rows.append(
                    {
                        "curve": c,
                        "layer_index": i,
                        "layer": name,
                        "length": float(self.lengths[c, i]),
                        "curvature": None
                        if self.curvature is None
                        else float(self.curvature[c, i]),
                        "pieces": None if self.pieces is None else int(self.pieces[c, i]),
                        "method": self.method,
                        "achieved_tol": self.achieved_tol,
                    }
                )
        return pd.DataFrame(rows)

    def __repr__(self) -> str:
        extra = "" if self.pieces is None else f", pieces={int(self.pieces[0, -1])}"
        return (
            f"TrajectoryResult({self.method}: length {self.lengths[0, 0]:.4g} -> "
            f"{self.lengths[0, -1]:.4g} over {len(self.layers) - 1} layers{extra}, "
            f"achieved_tol={self.achieved_tol:.1e})"
        )


# --------------------------------------------------------------------------- layers


def _default_layers(model: nn.Module, example: torch.Tensor) -> list[str]:
    """Every Linear/Conv output in execution order (the pre-activations ``h^l``), plus the
    model output if the last leaf is not one of them."""
    from depthlab.walk import walk

    infos = walk(model, example.unsqueeze(0))
    names = [li.name or "output" for li in infos if li.fan_in is not None]  # "" is the model
    if infos and infos[-1].fan_in is None:
        names.append("output")
    return list(dict.fromkeys(names))


def _check_layers(model: nn.Module, layers: Sequence[str]) -> list[str]:
    mods = dict(model.named_modules())
    out = []
    for n in layers:
        if n in ("input", "output") or (n in mods and n != ""):
            out.append(n)
        else:
            known = [k for k in mods if k][:20]
            raise ValueError(
                f"unknown layer {n!r}; allowed: 'input', 'output' or a module name such as "
                f"{', '.join(map(repr, known))}"
            )
    return out


def _model_dtype_device(model: nn.Module, like: torch.Tensor) -> tuple[torch.dtype, torch.device]:
    for p in model.parameters():
        return p.dtype, p.device
    return like.dtype, like.device


# --------------------------------------------------------------------------- adaptive


def _speeds(
    model: nn.Module,
    curves: Sequence[Curve],
    layers: list[str],
    t: torch.Tensor,
    curvature: bool,
    delta: float,
    dtype: torch.dtype,
    device: torch.device,
    chunk: int,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Speed ``||dh/dt||`` (and curvature) at parameters ``t`` (T,) for every curve and layer.

    Returns ``(C, L, T)`` arrays.
    """
    n_c, n_l, n_t = len(curves), len(layers), t.numel()
    speed = np.zeros((n_c, n_l, n_t))
    kappa = np.zeros((n_c, n_l, n_t)) if curvature else None
    offsets = (-delta, 0.0, delta) if curvature else (0.0,)
    mods = dict(model.named_modules())
    for start in range(0, n_t, chunk):
        tc = t[start : start + chunk]
        m = tc.numel()
        xs, vs = [], []
        for c in curves:  # batch: (C, len(offsets), m, *shape)
            for o in offsets:
                tt = tc + o
                xs.append(c.points(tt))
                vs.append(c.velocity(tt))
        x = torch.cat(xs).to(device=device, dtype=dtype)
        v = torch.cat(vs).to(device=device, dtype=dtype)
        captured: dict[str, torch.Tensor] = {}
        handles = []

        def make_hook(name: str, store: dict[str, torch.Tensor] = captured):
            def hook(mod, inputs, output):
                store[name] = fwAD.unpack_dual(output).tangent

            return hook

        try:
            for name in layers:
                if name not in ("input", "output"):
                    handles.append(mods[name].register_forward_hook(make_hook(name)))
            with fwAD.dual_level(), torch.no_grad():
                out = model(fwAD.make_dual(x, v))
                captured["output"] = fwAD.unpack_dual(out).tangent
        finally:
            for h in handles:
                h.remove()
        captured["input"] = v
        for li, name in enumerate(layers):
            tan = captured[name]
            if tan is None:  # layer output does not depend on the input
                tan = torch.zeros(x.shape[0], 1, dtype=dtype, device=device)
            tan = tan.reshape(n_c, len(offsets), m, -1).to(torch.float64)
            v0 = tan[:, len(offsets) // 2]
            speed[:, li, start : start + m] = v0.norm(dim=-1).cpu().numpy()
            if curvature:
                a = (tan[:, 2] - tan[:, 0]) / (2 * delta)
                vv = (v0 * v0).sum(-1)
                aa = (a * a).sum(-1)
                va = (v0 * a).sum(-1)
                k = _kappa(vv, aa, va)
                kappa[:, li, start : start + m] = k.cpu().numpy()
    return speed, kappa


def _kappa(vv: torch.Tensor, aa: torch.Tensor, va: torch.Tensor) -> torch.Tensor:
    """``sqrt(|v|^2 |a|^2 - (v·a)^2) / |v|^3``, 0 where the curve stands still (``v = 0``).

    Divided by ``|v|`` three times, so that no ``|v|^3`` underflows to 0 (0/0 was NaN for a
    layer whose image of the curve does not move, e.g. behind a dead ReLU).
    """
    s = vv.sqrt()
    safe = torch.where(s > 0, s, torch.ones_like(s))
    k = (vv * aa - va**2).clamp_min(0).sqrt() / safe / safe / safe
    return torch.where(s > 0, k, torch.zeros_like(k))


def _adaptive(
    model, curves, layers, tol, n0, max_points, curvature, dtype, device, chunk
) -> TrajectoryResult:
    n = n0
    prev = None
    doublings = max(1, int(np.log2(max(max_points, n0) / n0)) + 1)
    with AUTO.bar(doublings, "trajectory.length (doublings)") as advance:
        while True:
            t = (torch.arange(n, dtype=torch.float64) + 0.5) / n  # midpoints: never on a vertex
            speed, kappa = _speeds(
                model, curves, layers, t, curvature, 1e-4 / n, dtype, device, chunk
            )
            advance(1)
            lengths = speed.mean(-1)  # (C, L): midpoint rule on [0, 1]
            if prev is not None:
                rel = np.abs(lengths - prev) / np.maximum(np.abs(lengths), 1e-300)
                achieved = float(rel.max())
                if achieved <= tol or 2 * n > max_points:
                    break
            prev = lengths
            n *= 2
    if achieved > tol:
        log.warning(
            "trajectory.length: cap max_points=%d reached at %d points; relative change %.3g "
            "> tol %.3g (raise max_points for a tighter length)",
            max_points,
            n,
            achieved,
            tol,
        )
    curv = None
    if kappa is not None:
        w = speed / np.maximum(speed.sum(-1, keepdims=True), 1e-300)
        curv = (kappa * w).sum(-1)
    return TrajectoryResult(
        tuple(layers), lengths, curv, None, None, "adaptive", n, tol, achieved, achieved <= tol
    )


# --------------------------------------------------------------------------- exact


def _pieces_of(values: torch.Tensor, seg: torch.Tensor, t: torch.Tensor) -> int:
    """Affine pieces of a traced polyline image: consecutive slopes that differ count as a kink."""
    v = values.flatten(1)
    same = seg[1:] == seg[:-1]
    slope = (v[1:] - v[:-1]) / (t[1:] - t[:-1]).clamp_min(1e-300).unsqueeze(1)  # (P-1, D)
    slope = slope[same]
    n_seg = int(seg.max()) + 1 if seg.numel() else 0
    if slope.shape[0] == 0:
        return n_seg
    a, b = slope[:-1], slope[1:]
    scale = torch.maximum(a.norm(dim=1), b.norm(dim=1)).clamp_min(1e-300)
    kink = (a - b).norm(dim=1) > 1e-7 * scale
    # a kink only counts inside one segment of the input polyline
    seg_of = seg[1:][same]
    inside = seg_of[1:] == seg_of[:-1]
    return n_seg + int((kink & inside).sum())


def _exact(model, curves, layers) -> TrajectoryResult:
    from depthlab import pl

    n_c, n_l = len(curves), len(layers)
    lengths = np.zeros((n_c, n_l))
    pieces = np.zeros((n_c, n_l), dtype=np.int64)
    transitions = np.zeros(n_c, dtype=np.int64)
    n_points = 0
    for ci, c in enumerate(AUTO.track(curves, "trajectory.length (exact)")):
        tr = pl.trace_polyline(model, c.vertices, layers=list(layers))
        n_points = max(n_points, int(tr.t.numel()))
        transitions[ci] = int(tr.n_pieces.sum()) - tr.n_segments
        for li, name in enumerate(layers):
            lengths[ci, li] = tr.length(name)
            pieces[ci, li] = _pieces_of(tr.outputs[name], tr.segment, tr.t)
    return TrajectoryResult(
        tuple(layers), lengths, None, pieces, transitions, "exact", n_points, 0.0, 0.0, True
    )


def _is_pl(model: nn.Module, example: torch.Tensor) -> bool:
    from depthlab import pl

    try:
        pl.prepare(model, example)
    except pl.UnsupportedLayerError:
        return False
    return True


@guard_probe(name="trajectory.length", autodiff=True)
def length(
    model: nn.Module,
    curve: Curve | Sequence[Curve],
    layers: Sequence[str] | None = None,
    *,
    method: Literal["auto", "exact", "adaptive"] = "auto",
    tol: float = 1e-5,
    n0: int = 256,
    max_points: int = 2**17,
    curvature: bool = False,
    chunk: int = 4096,
    max_memory: int | str | None = None,
) -> TrajectoryResult:
    """Length (and curvature) of a curve's image after each chosen layer of ``model``.

    Parameters
    ----------
    model : any ``nn.Module`` taking ``(B, *curve.shape)``; never modified, and its own hooks
        never fire (see :mod:`depthlab.probes._guard`): modes, buffers (train-mode BatchNorm
        statistics), ``.grad`` and ``requires_grad`` come back exactly. A parameter or buffer
        holding NaN/Inf raises :class:`~depthlab.numerics.NonFiniteError` naming its layer, and
        so does a length that goes non-finite (naming the first layer whose output does).
    curve : a :class:`Curve` or a list of curves of one input shape (batched together).
    layers : module names from ``model.named_modules()``, ``"input"`` or ``"output"``; default:
        every Linear/Conv output (the pre-activations ``h^l``) in execution order. ``"input"`` is
        always measured first.
    method : ``"auto"``, ``"exact"`` (piecewise-linear models and polyline curves) or
        ``"adaptive"``.
    tol : adaptive only: relative change between two successive doublings at which to stop.
    n0, max_points : adaptive only: first and largest number of samples per curve.
    curvature : adaptive only: also measure the mean curvature (needs a smooth model); a model
        that is not float64 is measured through a float64 copy.
    chunk : adaptive only: parameters per forward pass (bounds memory).
    max_memory : the memory budget (bytes or ``"2GB"``) the exact trace (or one adaptive
        chunk) is checked against before it allocates (:mod:`depthlab.probes._memory`); default ``DEPTHLAB_MAX_MEMORY`` or
        half the free memory. Above it a :class:`~depthlab.probes._memory.MemoryBudgetError`.

    Returns
    -------
    TrajectoryResult : ``lengths`` is ``(C, L)`` with C curves and L layers (``"input"`` first).

    Examples
    --------
    >>> import torch
    >>> from depthlab import nets, trajectory
    >>> net = nets.mlp([2, 16, 16, 1], activation="tanh")
    >>> res = trajectory.length(net, trajectory.great_circle(torch.tensor([1., 0]), torch.tensor([0., 1])))
    >>> res.lengths.shape
    (1, 4)
    """
    curves = [curve] if isinstance(curve, Curve) else list(curve)
    if not curves:
        raise ValueError("length needs at least one curve")
    if len({c.shape for c in curves}) != 1:
        raise ValueError(
            f"all curves need one input shape, got {sorted({c.shape for c in curves})}"
        )
    if method not in ("auto", "exact", "adaptive"):
        raise ValueError(f"method must be 'auto', 'exact' or 'adaptive', got {method!r}")
    if not 0 < tol < 1:
        raise ValueError(f"tol must be in (0, 1), got {tol}")
    example = curves[0].points(torch.zeros(1, dtype=torch.float64))[0]
    dtype, device = _model_dtype_device(model, example)
    example = example.to(dtype=dtype, device=device)
    names = _default_layers(model, example) if layers is None else list(layers)
    names = _check_layers(model, ["input", *[n for n in names if n != "input"]])
    polyline = all(c.vertices is not None for c in curves)
    if method == "exact" or (method == "auto" and polyline and not curvature):
        if not polyline:
            raise ValueError("method='exact' needs polyline curves (segment or closed 'linear')")
        if method == "exact" or _is_pl(model, example):
            if curvature:
                raise ValueError("curvature is not defined for piecewise-linear images")
            n_vert = sum(len(c.vertices) for c in curves)
            _memory.check(
                "trajectory.length (exact)",
                model,
                points=_memory.exact_points(n_vert, len(curves)),
                example=example,
                param_factor=2.0,  # the float64 copy the tracer makes, and the model itself
                act_factor=4.0,  # every layer's output at every breakpoint, folded, candidates
                itemsize=8,
                lower="fewer or shorter curves or a smaller input (method='adaptive' streams)",
                max_memory=max_memory,
            )
            return _checked(model, curves, _exact(model, curves, names), dtype, device)
    if curvature and dtype != torch.float64:
        # a central difference of velocities needs float64; measure a float64 copy instead
        import copy

        model, dtype = copy.deepcopy(model).to(torch.float64), torch.float64
    _memory.check(
        "trajectory.length (adaptive)",
        model,
        points=min(chunk, max_points) * len(curves) * (3 if curvature else 1),
        example=example,
        param_factor=2.0 if curvature else 1.0,  # a float64 copy for the curvature
        act_factor=2.0,  # forward-mode AD: every output with its tangent
        itemsize=8 if curvature else None,
        lower="a smaller chunk=",
        max_memory=max_memory,
    )
    _warn_train_mode(model)
    _warn_slow(model, len(curves), max_points, curvature)
    res = _adaptive(model, curves, names, tol, n0, max_points, curvature, dtype, device, chunk)
    return _checked(model, curves, res, dtype, device)


#: forward-mode work (about 2 x parameters x points) above which the adaptive path says it is slow
SLOW_WORK = 1e12


def _warn_slow(model: nn.Module, n_curves: int, max_points: int, curvature: bool) -> None:
    """Say so (``depthlab`` log, WARNING) when the adaptive rule may run for minutes: its worst
    case is ``max_points`` forward-AD passes per curve (three with curvature) of the whole model,
    and a model in train mode (noisy forward) often reaches it."""
    n = sum(p.numel() for p in model.parameters())
    work = 2.0 * n * n_curves * max_points * (3 if curvature else 1)
    if work <= SLOW_WORK:
        return
    training = any(m.training for m in model.modules())
    logging.getLogger("depthlab").warning(
        "trajectory.length: the adaptive rule on a %s-parameter model may take long: up to "
        "%d points x %d curve(s) of forward-mode AD (about %.1e multiply-adds)%s; lower "
        "max_points= or raise tol= to bound it",
        f"{n:,}",
        max_points,
        n_curves,
        work,
        " and the model is in train mode, so it may never converge; call model.eval() first"
        if training
        else "",
    )


def _warn_train_mode(model: nn.Module) -> None:
    """Say so (``depthlab`` log, WARNING) when train mode makes the forward depend on more than
    the curve: Dropout draws new noise on every pass and BatchNorm normalises by each chunk's
    statistics, so the adaptive rule may never converge (it then runs to ``max_points``)."""
    import logging

    noisy = [
        f"{n!r} ({type(m).__name__})"
        for n, m in model.named_modules()
        if m.training
        and (
            (isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0)
            or isinstance(m, nn.modules.batchnorm._BatchNorm)
        )
    ]
    if noisy:
        more = f" and {len(noisy) - 3} more" if len(noisy) > 3 else ""
        logging.getLogger("depthlab").warning(
            "trajectory.length: %s%s run in train mode, so the image of the curve is not a "
            "function of the curve alone (Dropout noise, BatchNorm batch statistics) and the "
            "adaptive rule may not converge; call model.eval() first to measure the network "
            "itself (the model's modes are left as they are)",
            ", ".join(noisy[:3]),
            more,
        )


def _checked(model, curves, res: TrajectoryResult, dtype, device) -> TrajectoryResult:
    """``res``, unless a length or curvature is NaN/Inf: then name the layer that made it."""
    t = (torch.arange(64, dtype=torch.float64) + 0.5) / 64
    x = torch.cat([c.points(t) for c in curves]).to(device=device, dtype=dtype)
    raise_if_nonfinite(model, x, res.lengths, "trajectory.length: a curve length")
    raise_if_nonfinite(model, x, res.curvature, "trajectory.length: a curvature")
    return res


# --------------------------------------------------------------------------- many MLPs at once


def mlp_lengths(
    weights: Sequence[torch.Tensor],
    biases: Sequence[torch.Tensor],
    activation: Callable[[torch.Tensor], torch.Tensor],
    curve: Curve,
    n: int = 1024,
    curvature: bool = False,
    first_activation: bool = False,
    final_activation: bool = False,
    post_activation: bool = False,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Lengths of one curve through K random MLPs at once (stacked weights, batched matmul).

    The MLP is ``h^1 = W^1 x + b^1``, ``h^l = W^l phi(h^{l-1}) + b^l``. Velocities and
    accelerations are propagated exactly (``v' = W phi'(h) v``, ``a' = W (phi''(h) v^2 +
    phi'(h) a)``, derivatives of ``phi`` by autograd); the length is the midpoint rule with ``n``
    cells, spectrally accurate for closed smooth curves.

    Parameters
    ----------
    weights : per layer ``(K, n_l, n_{l-1})``.
    biases : per layer ``(K, n_l)``.
    activation : elementwise torch function.
    curve : input curve of shape ``(n_0,)``.
    first_activation : apply ``phi`` to the curve before ``W^1`` (the curve is then ``h^1`` of
        Poole et al., and ``W^1`` makes ``h^2``).
    final_activation : also measure ``phi(h^L)`` (a hidden representation) as a last column.
    post_activation : measure ``phi(h^l)`` instead of ``h^l`` in every column but the input.

    Returns
    -------
    lengths : ``(K, L + 1)`` (``L + 2`` with ``final_activation``): input, then each ``h^l``.
    curvature : same shape, arc-length-weighted mean curvature, or None.
    """
    from depthlab.theory.meanfield import derivatives

    w0 = weights[0]
    t = (torch.arange(n, dtype=torch.float64) + 0.5) / n
    k = w0.shape[0]
    x = curve.points(t).to(w0).expand(k, -1, -1)  # (K, T, n0)
    v = curve.velocity(t).to(w0).expand(k, -1, -1)
    a = None
    if curvature:
        h = 1e-4 / n
        a = ((curve.velocity(t + h) - curve.velocity(t - h)) / (2 * h)).to(w0).expand(k, -1, -1)

    def measure(v, a):
        s = v.norm(dim=-1)  # (K, T)
        if a is None:
            return s.mean(-1), None
        vv, aa, va = (v * v).sum(-1), (a * a).sum(-1), (v * a).sum(-1)
        kap = _kappa(vv, aa, va)
        return s.mean(-1), (kap * s).sum(-1) / s.sum(-1).clamp_min(1e-300)

    lens, curv = [], []
    L, C = measure(v, a)
    lens.append(L)
    curv.append(C)
    hcur = x

    def act(h, v, a):
        f, d1, d2 = (t.to(h) for t in derivatives(activation, h, 2))
        if a is not None:
            a = d2 * v * v + d1 * a
        return f, d1 * v, a

    for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
        if i > 0 or first_activation:
            hcur, v, a = act(hcur, v, a)
        hcur = torch.bmm(hcur, w.transpose(1, 2)) + b[:, None, :]
        v = torch.bmm(v, w.transpose(1, 2))
        if a is not None:
            a = torch.bmm(a, w.transpose(1, 2))
        L, C = measure(*act(hcur, v, a)[1:]) if post_activation else measure(v, a)
        lens.append(L)
        curv.append(C)
    if final_activation:
        hcur, v, a = act(hcur, v, a)
        L, C = measure(v, a)
        lens.append(L)
        curv.append(C)
    lengths = torch.stack(lens, 1).double().cpu().numpy()
    return lengths, (torch.stack(curv, 1).double().cpu().numpy() if curvature else None)


__all__ = [
    "Curve",
    "TrajectoryResult",
    "closed_curve",
    "great_circle",
    "length",
    "mlp_lengths",
    "segment",
]
