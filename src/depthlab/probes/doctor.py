"""The model doctor: read a model's weights and predict exploding/vanishing at initialization.

:func:`diagnose` walks a model's weight layers in execution order (:func:`depthlab.walk.walk`)
and, per layer, reads the weights actually present:

* fan-in, the weight variance ``Var W`` and its ratio to the He value ``2 / fan_in``;
* the shape of the distribution: kurtosis (3 for a Gaussian, 1.8 uniform, about 2.36 for a
  normal cut at ±2 std) and ``max|w| / std`` (about 2.27 for a normal cut at ±2 std, 1.73 for a
  uniform, above 3.3 for a Gaussian with 1000+ entries) to detect truncation;
* the predicted factor on the mean square signal, ``E[M_j] / E[M_{j-1}] = fan_in Var W / 2`` for
  a ReLU layer (Hanin & Rolnick 2018, Thm 1: failure mode 1), and its running product;
* the width profile's ``beta = sum 1 / n_j`` over the hidden layers, the narrowest layer and its
  share of ``beta``: ``E[M_d^2] / M_0^2 = prod (1 + 5 / n_j) ≈ exp(5 beta)`` (Thm 2: failure
  mode 2; lecture slide 24: width should grow with depth, one narrow layer makes training hard).

It returns a typed :class:`Diagnosis` with a verdict and a plain-language fix per problem. The
model is only read, under the probe guard (:mod:`depthlab.probes._guard`): no parameter,
buffer, mode or hook is left changed and the model's own hooks do not fire; a weight holding
NaN/Inf raises :class:`~depthlab.numerics.NonFiniteError` naming its layer. A layer whose
weights are all zero (or constant) is reported as such, with its fix.

References
----------
B. Hanin and D. Rolnick, "How to start training: the effect of initialization and architecture",
NeurIPS 2018.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import pandas as pd
import torch
from torch import nn

from depthlab._display import FrameRepr
from depthlab.init import TRUNC2_STD, TRUNC2_VARIANCE
from depthlab.nets.load import ZOO, load_target  # noqa: F401  (moved to nets.load; kept importable here)
from depthlab.probes._guard import guard_probe
from depthlab.walk import walk

LayerVerdict = Literal["ok", "warn", "bad", "info"]

_RELU_LIKE = ("ReLU", "LeakyReLU", "GELU", "SiLU", "ReLU6", "PReLU", "ELU", "Mish", "Softplus")
_ODD_ACTS = ("Tanh", "Erf", "Hardtanh", "Sigmoid", "Softsign", "Identity")
_NORMS = (
    "BatchNorm1d",
    "BatchNorm2d",
    "BatchNorm3d",
    "LayerNorm",
    "GroupNorm",
    "InstanceNorm1d",
    "InstanceNorm2d",
)
#: minimum number of weights for a truncation call (a Gaussian's max|w|/std exceeds 2.6 with
#: probability > 0.9999 at 1000 entries)
MIN_ENTRIES_FOR_SHAPE = 1000
TRUNCATED_MAX_RATIO = 2.6
#: tolerance on Var / target before a layer is flagged: within 10% is fine, beyond 30% is bad
#: (widened to 3 and 5 standard errors of the variance estimate for small layers)
OK_TOL, BAD_TOL = 0.10, 0.30
#: log prod(1 + 5 / n_j) above which the width profile is flagged (E[M^2]/M_0^2 > 4.5, > 20)
FM2_WARN, FM2_BAD = 1.5, 3.0


@dataclass(frozen=True)
class LayerReport:
    """One weight layer as the doctor sees it.

    Attributes
    ----------
    index : position among the weight layers (execution order, 0-based).
    name, kind : module name and class.
    fan_in, width : ``in * prod(kernel)`` and output features / channels ``n_j``.
    n_weights : number of weight entries.
    var : the weight variance present; ``ratio = var / (2 / fan_in)``.
    kurtosis : ``E w^4 / (E w^2)^2`` about the mean (3 for a Gaussian).
    max_over_std : ``max|w - mean| / std``.
    distribution : ``"gaussian"``, ``"truncated normal"``, ``"uniform"``, ``"other"`` or
        ``"too few weights"``.
    followed_by : what the signal meets next: ``"relu"``, ``"odd"`` (tanh-like), ``"norm"``,
        ``"none"`` (readout) or ``"relu (assumed)"``.
    target_ratio : the ratio this layer should have (1 before a ReLU, 1/2 before tanh).
    gain : predicted factor on the mean square signal across this layer (``fan_in var / 2``
        before a ReLU; ``fan_in var`` otherwise).
    cum_gain : running product of ``gain`` up to here (``E[M_j] / M_0``; normalization resets it).
    beta_share : ``(1 / n_j) / beta`` for hidden layers, else 0.
    verdict : ``"ok"``, ``"warn"``, ``"bad"`` or ``"info"`` (readout, not judged).
    message : the plain-language finding and fix.
    """

    index: int
    name: str
    kind: str
    fan_in: int
    width: int
    n_weights: int
    var: float
    ratio: float
    kurtosis: float
    max_over_std: float
    distribution: str
    followed_by: str
    target_ratio: float
    gain: float
    cum_gain: float
    beta_share: float
    verdict: LayerVerdict
    message: str


@dataclass(frozen=True)
class Diagnosis(FrameRepr):
    """What :func:`diagnose` found.

    Attributes
    ----------
    layers : one :class:`LayerReport` per weight layer, in execution order.
    beta : ``sum 1 / n_j`` over the hidden layers (all weight layers but the readout).
    log_second_moment : ``sum log(1 + 5 / n_j)``: the predicted ``log E[M_d^2] / M_0^2`` (FM2),
        over the hidden layers not inside a block closed by a normalization (which resets it).
    narrowest : name of the narrowest hidden layer; ``narrowest_width`` its width and
        ``narrowest_share`` its share of ``beta``.
    mean_drift : predicted ``E[M_d] / M_0`` through the hidden layers after the last
        normalization (FM1; 1 is ideal): gains are never multiplied across a normalization.
    findings : plain-language problems with fixes, worst first (empty when healthy).
    verdict : ``"healthy"``, ``"warning"`` or ``"unhealthy"``.
    block_gains : per block closed by a normalization (LayerNorm, BatchNorm, ...), the product of
        its layers' gains before the normalization, in execution order (flagged outside
        :data:`BLOCK_GAIN_RANGE`).
    """

    layers: tuple[LayerReport, ...]
    beta: float
    log_second_moment: float
    narrowest: str | None
    narrowest_width: int | None
    narrowest_share: float
    mean_drift: float
    findings: tuple[str, ...]
    verdict: Literal["healthy", "warning", "unhealthy"]
    block_gains: tuple[float, ...] = ()

    @property
    def healthy(self) -> bool:
        return self.verdict == "healthy"

    def to_frame(self) -> pd.DataFrame:
        """One row per weight layer."""
        return pd.DataFrame([vars(li) for li in self.layers])

    def to_dict(self) -> dict:
        """A JSON-safe dict: every NaN/Inf number becomes ``None`` and ``why_null`` says why.

        ``why_null`` maps the field (``"mean_drift"``, ``"layers[2].kurtosis"``) to the reason;
        it is empty when every number is finite. ``json.dumps`` of the result never emits a
        bare ``NaN`` or ``Infinity``.
        """
        why: dict[str, str] = {}

        def clean(key: str, v, reason: str):
            if isinstance(v, float) and not math.isfinite(v):
                why[key] = reason
                return None
            return v

        layers = []
        for i, li in enumerate(self.layers):
            row = {}
            for k, v in vars(li).items():
                if k in ("kurtosis", "max_over_std") and li.distribution == "constant":
                    reason = "undefined: the weights are constant (zero variance)"
                else:
                    reason = f"{'NaN' if v != v else 'Inf'}: overflow in the product of gains"
                row[k] = clean(f"layers[{i}].{k}", v, reason)
            layers.append(row)
        second = math.exp(self.log_second_moment) if self.log_second_moment < 700 else math.inf
        over = "overflows float64 (larger than 1e308)"
        return {
            "verdict": self.verdict,
            "beta": clean("beta", self.beta, f"beta {over}"),
            "narrowest": self.narrowest,
            "narrowest_width": self.narrowest_width,
            "narrowest_share": clean("narrowest_share", self.narrowest_share, "undefined"),
            "mean_drift": clean("mean_drift", self.mean_drift, f"the product of gains {over}"),
            "second_moment": clean("second_moment", second, f"exp(sum log(1 + 5/n_j)) {over}"),
            "findings": list(self.findings),
            "block_gains": [
                clean(f"block_gains[{i}]", g, "overflow") for i, g in enumerate(self.block_gains)
            ],
            "layers": layers,
            "why_null": why,
        }

    def summary(self) -> str:
        """A few lines of plain text: the verdict, beta, the drift and each finding."""
        lines = [
            f"verdict: {self.verdict}",
            f"beta = {self.beta:.4g} (narrowest hidden layer: {self.narrowest!r} of width "
            f"{self.narrowest_width}, {self.narrowest_share:.0%} of beta); predicted "
            f"E[M_d]/M_0 = {self.mean_drift:.3g}"
            + (" (after the last normalization)" if self.block_gains else "")
            + f", E[M_d^2]/M_0^2 ≈ {math.exp(self.log_second_moment):.3g}",
        ]
        if self.block_gains:
            lines.append(
                f"{len(self.block_gains)} block(s) closed by a normalization, gains "
                f"{min(self.block_gains):.3g} to {max(self.block_gains):.3g} (each reset there)"
            )
        lines += [f"- {f}" for f in self.findings]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"Diagnosis({self.verdict}, layers={len(self.layers)}, beta={self.beta:.3g}, "
            f"mean_drift={self.mean_drift:.3g}, findings={len(self.findings)})"
        )


def _weight_stats(w: torch.Tensor) -> tuple[float, float, float]:
    w = w.detach().to("cpu", torch.float64).reshape(-1)
    c = w - w.mean()
    var = float(c.pow(2).mean())
    if var == 0.0:  # constant weights: no shape to read, but E w^2 = c^2 (0 only when all zero)
        return float(w.pow(2).mean()), math.nan, math.nan
    kurt = float(c.pow(4).mean()) / var**2
    return float(w.pow(2).mean()), kurt, float(c.abs().max()) / math.sqrt(var)


def _shape(n: int, kurt: float, max_ratio: float) -> str:
    if not math.isfinite(kurt):
        return "constant"  # zero variance (e.g. all-zero weights): no shape to read
    if n < MIN_ENTRIES_FOR_SHAPE:
        return "too few weights"
    if max_ratio < TRUNCATED_MAX_RATIO:
        return "uniform" if kurt < 2.05 else "truncated normal"
    return "gaussian" if 2.7 <= kurt <= 3.4 else "other"


def _followers(layers) -> list[str]:
    """For each weight layer in ``layers`` (walk order), what the signal meets before the next one."""
    out = []
    weight_pos = [i for i, li in enumerate(layers) if li.fan_in is not None]
    for k, i in enumerate(weight_pos):
        nxt = weight_pos[k + 1] if k + 1 < len(weight_pos) else len(layers)
        kinds = [layers[t].kind for t in range(i + 1, nxt)]
        seen = "none"
        for kind in kinds:
            if kind in _NORMS:
                seen = "norm"
                break
            if kind in _RELU_LIKE:
                seen = "relu"
                break
            if kind in _ODD_ACTS and kind != "Identity":
                seen = "odd"
                break
        if seen == "none" and k + 1 < len(weight_pos):
            seen = "relu (assumed)"  # a functional activation the walk cannot see
        out.append(seen)
    return out


def _example_for(model: nn.Module) -> torch.Tensor:
    first = next((m for m in model.modules() if isinstance(m, nn.Linear)), None)
    conv = next((m for m in model.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d))), None)
    p = next(iter(model.parameters()), None)
    kw = {"dtype": p.dtype, "device": p.device} if p is not None else {}
    g = torch.Generator(device=kw.get("device", "cpu")).manual_seed(0)
    if conv is None and first is not None:
        return torch.randn(2, first.in_features, generator=g, **kw)
    raise ValueError(
        "cannot guess an input shape for this model; pass example= (or --input-shape on the CLI)"
    )


_IN_PROJ = "MultiheadAttention.in_proj"
_OUT_PROJ = "MultiheadAttention.out_proj"
#: a block closed by a normalization whose gain (product over its layers before the last) is
#: outside this range is flagged: the normalization then divides by a vanishing/exploding scale
BLOCK_GAIN_RANGE = (0.1, 10.0)


def _walk_with_attention(model: nn.Module, example: torch.Tensor):
    """:func:`depthlab.walk.walk`, with every ``nn.MultiheadAttention`` call as two weight layers.

    ``MultiheadAttention`` computes its projections functionally (its ``out_proj`` module is
    never called), so a leaf walk does not see them. Here each call of an attention module adds
    ``<name>.in_proj_weight`` (the stacked Q, K, V projections, fan-in ``embed_dim``) and
    ``<name>.out_proj`` (fan-in ``embed_dim``) at the point of the call, in execution order.
    """
    from depthlab.walk import LayerInfo

    attn = {m: n for n, m in model.named_modules() if isinstance(m, nn.MultiheadAttention)}
    if not attn:
        return walk(model, example)
    inside = {id(c) for m in attn for c in m.modules() if c is not m}
    events: list[object] = []  # a leaf module (matched to walk's entries) or ("attn", module)
    handles = []

    def leaf_hook(mod, inputs, output):
        events.append(mod)

    def attn_hook(mod, inputs, output):
        events.append(("attn", mod))

    try:
        for m in attn:
            handles.append(m.register_forward_hook(attn_hook))
        for _, m in model.named_modules():
            if not list(m.children()):
                handles.append(m.register_forward_hook(leaf_hook))
        leaves = walk(model, example)
    finally:
        for h in handles:
            h.remove()
    out = []
    it = iter(leaves)
    for ev in events:
        if isinstance(ev, tuple):
            mha = ev[1]
            name, e = attn[mha], int(mha.embed_dim)
            for kind, mod, suffix, fo in (
                (_IN_PROJ, mha, "in_proj_weight", 3 * e),
                (_OUT_PROJ, mha.out_proj, "out_proj", e),
            ):
                out.append(LayerInfo(len(out), f"{name}.{suffix}", mod, kind, e, fo, (), ()))
            continue
        li = next(it)
        if id(li.module) not in inside:
            out.append(
                LayerInfo(
                    len(out),
                    li.name,
                    li.module,
                    li.kind,
                    li.fan_in,
                    li.fan_out,
                    li.input_shape,
                    li.output_shape,
                )
            )
    return out


def _weight(li) -> torch.Tensor:
    """The weight matrix a layer entry reads (Q, K, V stacked for an attention in-projection)."""
    if li.kind == _IN_PROJ:
        m = li.module
        if m.in_proj_weight is not None:
            return m.in_proj_weight
        return torch.cat([m.q_proj_weight, m.k_proj_weight, m.v_proj_weight])
    return li.module.weight


def _closed(follows: list[str]) -> list[bool]:
    """For each weight layer: does its block end in a normalization (before the readout)?

    A block runs from one weight layer through the next ones until a layer followed by a
    normalization (closed: its scale is reset there) or the readout (open: it carries on)."""
    out = [False] * len(follows)
    state = False
    for k in range(len(follows) - 1, -1, -1):
        if follows[k] == "norm":
            state = True
        elif follows[k] == "none":
            state = False
        out[k] = state
    return out


@guard_probe(name="doctor.diagnose")
@torch.no_grad()
def diagnose(model: nn.Module, example: torch.Tensor | None = None) -> Diagnosis:
    """Diagnose exploding/vanishing risks at initialization from the weights a model holds.

    Parameters
    ----------
    model : any module with Linear/Conv layers (a TorchScript module is read in registration
        order, since it cannot be walked with hooks).
    example : ``(B, *in)`` input for the forward walk; guessed for MLP-like models.

    Returns
    -------
    Diagnosis

    Examples
    --------
    >>> from depthlab.nets import mlp
    >>> from depthlab.init import initialize
    >>> import torch
    >>> d = diagnose(initialize(mlp([784, 64, 64, 10]), "he_normal", torch.Generator().manual_seed(0)))
    >>> d.verdict
    'healthy'
    """
    if isinstance(model, torch.jit.ScriptModule):
        layers = _script_layers(model)
    else:
        if example is None:
            example = _example_for(model)
        layers = _walk_with_attention(model, example)
    weight_layers = [li for li in layers if li.fan_in is not None]
    if not weight_layers:
        raise ValueError("the model has no Linear/Conv layer with a weight to diagnose")
    follows = _followers(layers)
    follows = [
        "attention" if li.kind == _IN_PROJ else f
        for li, f in zip(weight_layers, follows, strict=True)
    ]
    closed = _closed(follows)
    hidden = [  # signal widths: an attention in-projection's 3 x embed_dim rows are not one
        (li, int(_weight(li).shape[0]))
        for li, f in zip(weight_layers, follows, strict=True)
        if f != "none" and li.kind != _IN_PROJ
    ]
    beta = sum(1.0 / n for _, n in hidden)
    narrow = min(hidden, key=lambda t: t[1]) if hidden else None

    reports: list[LayerReport] = []
    findings: list[tuple[int, str]] = []  # (severity, text)
    cum, drift = 1.0, 1.0
    seen_modules: set[int] = set()
    block_gains: list[float] = []  # one per block closed by a normalization
    for idx, (li, fol) in enumerate(zip(weight_layers, follows, strict=True)):
        w = _weight(li)
        n_out = int(w.shape[0]) if li.kind != _IN_PROJ else int(li.fan_in)
        ms, kurt, mx = _weight_stats(w)
        ratio = ms * li.fan_in / 2.0
        dist = _shape(w.numel(), kurt, mx)
        relu = fol.startswith("relu")
        target = 1.0 if relu or fol == "none" else 0.5  # attention: linear (Var = 1/fan_in)
        gain = ratio if relu else 2.0 * ratio
        share = (1.0 / n_out) / beta if fol != "none" and beta > 0 else 0.0
        label = f"layer {idx} ({li.kind} {li.name!r}, fan_in {li.fan_in})"
        if ms == 0.0 and fol != "none":
            cum *= gain
            verdict = "bad"
            msg = (
                f"{label} has all-zero weights: its output is its bias alone, so no signal "
                "passes (and no gradient reaches the layers below); initialize it with "
                "Var = 2/fan_in (he_normal)"
            )
            findings.append((2, msg))
            if id(li.module) not in seen_modules and not closed[idx]:
                drift *= gain
        elif fol == "norm":
            block_gains.append(cum)
            lo, hi = BLOCK_GAIN_RANGE
            verdict, msg = "ok", "followed by a normalization layer: its scale does not propagate"
            if not lo <= cum <= hi:
                verdict = "warn"
                word = "shrinks" if cum < lo else "grows"
                msg = (
                    f"the block ending at {label} {word} the mean square signal by {cum:.3g}x "
                    "before its normalization, which then divides by that scale; initialize "
                    "the block's layers with Var = 2/fan_in (he_normal) before a ReLU, "
                    "1/fan_in otherwise"
                )
                findings.append((1, msg))
            cum = 1.0
        elif closed[idx]:
            cum *= gain  # the block's gain, reset at its normalization
            verdict = "ok"
            msg = (
                f"Var = {ratio:.2f}·2/fan_in, inside a block closed by a normalization: its "
                "scale does not propagate past it (the block's gain is judged there)"
            )
        elif fol == "none":
            verdict = "info"
            msg = f"readout: Var = {ratio:.2f}·2/fan_in sets the output scale only"
            if ms == 0.0:
                msg = "readout: all-zero weights (a zero-initialised readout: the output starts at its bias)"
        else:
            cum *= gain
            dev = ratio / target - 1.0
            # sampling error of a variance estimated from N weights: sqrt((kurtosis - 1) / N)
            k_ = kurt if math.isfinite(kurt) else 3.0
            se = math.sqrt(max(k_ - 1.0, 0.0) / max(w.numel(), 1))
            ok_tol, bad_tol = max(OK_TOL, 3.0 * se), max(BAD_TOL, 5.0 * se)
            if abs(dev) <= ok_tol:
                verdict, msg = "ok", f"Var = {ratio:.2f}·2/fan_in"
                if dist == "uniform":
                    msg += " (uniform, e.g. He uniform: fine)"
            else:
                verdict = "warn" if abs(dev) <= bad_tol else "bad"
                msg = _variance_fix(label, ratio, target, dist, relu, fol)
                findings.append((2 if verdict == "bad" else 1, msg))
            if id(li.module) not in seen_modules:
                drift *= gain
        seen_modules.add(id(li.module))
        reports.append(
            LayerReport(
                index=idx,
                name=li.name,
                kind=li.kind,
                fan_in=int(li.fan_in),
                width=n_out,
                n_weights=int(w.numel()),
                var=ms,
                ratio=ratio,
                kurtosis=kurt,
                max_over_std=mx,
                distribution=dist,
                followed_by=fol,
                target_ratio=target,
                gain=gain,
                cum_gain=cum,
                beta_share=share,
                verdict=verdict,
                message=msg,
            )
        )

    if narrow is not None and len(hidden) >= 2:
        li, n = narrow
        share = (1.0 / n) / beta
        widths = sorted(k for _, k in hidden)
        median = widths[len(widths) // 2]
        if n <= median / 2 and share >= max(2.0 / len(hidden), 0.25):
            findings.append(
                (
                    2 if share >= 0.5 else 1,
                    f"a {n}-wide bottleneck ({li.kind} {li.name!r}) contributes {share:.0%} of beta = {beta:.3g}: "
                    f"one narrow layer dominates the fluctuations; widen it toward the "
                    f"{median} of its neighbours",
                )
            )
    # FM2 is about un-normalized signal: layers followed by a norm layer do not carry it
    open_layers = {id(li) for li, c in zip(weight_layers, closed, strict=True) if not c}
    log_m2_free = sum(math.log1p(5.0 / n) for li, n in hidden if id(li) in open_layers)
    if log_m2_free > FM2_WARN:
        findings.append(
            (
                2 if log_m2_free > FM2_BAD else 1,
                f"beta = {beta:.3g} is large: E[M_d^2]/M_0^2 ≈ {math.exp(log_m2_free):.3g}, so the signal "
                "scale varies strongly between inits and across layers; make the hidden layers wider "
                "(width should grow with depth) or fewer",
            )
        )
    if not (0.1 <= drift <= 10.0):
        word = "vanishes" if drift < 1 else "explodes"
        findings.append(
            (
                2,
                f"the mean square signal {word}: predicted E[M_d]/M_0 = {drift:.3g} over "
                f"{sum(1 for r in reports if r.verdict != 'info')} layers; "
                "initialize with Var = 2/fan_in (he_normal or he_uniform)",
            )
        )
    findings.sort(key=lambda t: -t[0])
    worst = max((s for s, _ in findings), default=0)
    return Diagnosis(
        layers=tuple(reports),
        beta=beta,
        log_second_moment=log_m2_free,
        narrowest=narrow[0].name if narrow else None,
        narrowest_width=narrow[1] if narrow else None,
        narrowest_share=(1.0 / narrow[1]) / beta if narrow else 0.0,
        mean_drift=drift,
        findings=tuple(t for _, t in findings),
        verdict=("healthy", "warning", "unhealthy")[worst],
        block_gains=tuple(block_gains),
    )


def _variance_fix(label: str, ratio: float, target: float, dist: str, relu: bool, fol: str) -> str:
    head = f"{label} has Var = {ratio:.2f}·2/fan_in"
    if dist == "truncated normal" and abs(ratio - TRUNC2_VARIANCE * target) <= 0.04:
        return (
            f"{head}: a truncated normal not rescaled (it keeps {TRUNC2_VARIANCE:.4f} of the "
            f"variance); use trunc_normal_corrected (divide the std by {TRUNC2_STD:.4f})"
        )
    per = ratio / target
    trend = "shrinks" if per < 1 else "grows"
    if relu and abs(ratio - 0.5) <= 0.05:
        return (
            f"{head}: LeCun-like (1/fan_in) before a ReLU, so E[M] halves per layer; use he_normal"
        )
    act = "a ReLU" if relu else "attention" if fol == "attention" else "a tanh-like activation"
    ideal = "2/fan_in (he_normal)" if relu else "1/fan_in (lecun_normal)"
    return (
        f"{head} before {act}: the mean square signal {trend} by {per:.2f}x here; "
        f"use Var = {ideal}, i.e. scale these weights by {1 / math.sqrt(per):.3g}"
        + (
            " (the activation was not seen as a module; ReLU assumed)"
            if fol.endswith("(assumed)")
            else ""
        )
    )


def _script_layers(model: torch.jit.ScriptModule):
    """Weight layers of a TorchScript module in registration order (no hooks on scripted code)."""
    from depthlab.walk import LayerInfo

    out = []
    for name, mod in model.named_modules():
        kind = getattr(mod, "original_name", type(mod).__name__)
        w = getattr(mod, "weight", None) if hasattr(mod, "weight") else None
        fi = None
        if isinstance(w, torch.Tensor) and w.dim() >= 2:
            fi = int(w.shape[1] * (math.prod(w.shape[2:]) if w.dim() > 2 else 1))
        elif list(mod.children()):
            continue
        out.append(LayerInfo(len(out), name, mod, kind, fi, None, (), ()))
    return out
