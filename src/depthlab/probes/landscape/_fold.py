"""The eval-mode fast path of a loss surface: BatchNorm folding, exact fp32, compiling once.

**Folding.** In eval mode a BatchNorm layer is a fixed per-channel affine map, so after a
Conv/Linear layer it can be folded into that layer's weights:

    s = γ / sqrt(var + eps),   w' = w · s (per output channel),   b' = (b − mean) · s + β.

At a grid point ``θ* + α δ + β η`` the folded weights depend on that point's γ, β (and conv
weights), so :meth:`FoldPlan.fold` recomputes them from the parameter dict every time: it is a
pure function of ``(params, buffers)`` made of tensor operations only, so it runs inside
:func:`torch.func.functional_call`, under :func:`torch.func.vmap` (stacked points) and inside a
:func:`torch.compile` graph in which the weights are graph *inputs* (no recompile per point).
The folded network is the model's FX graph with each folded BN node removed; exact up to
rounding (float64: 1e-12 relative, ``tests/unit/test_landscape_fold.py``). Folding needs eval
mode: ``recompute_bn`` and train mode keep the unfolded model (batch statistics are not a fixed
affine map), as does a BN layer without running statistics.

**Exact fp32.** On CUDA PyTorch lets cuDNN convolutions use TF32 by default
(``torch.backends.cudnn.allow_tf32 = True``), which rounds conv inputs to a 10-bit mantissa: a
"fp32" surface then sits ~1e-5 relative from the float64 reference, not 1e-7.
:func:`exact_fp32` turns TF32 off (cuDNN and cuBLAS) for the evaluation, and a lazily compiled
graph compiles inside it, so Inductor's kernels do not use TF32 either; the flags are restored
afterwards.

**Compiling once.** :func:`compile_once` compiles a fresh copy of the per-batch function, so that
every evaluator has its own Dynamo cache (a shared function would be re-guarded on every new
model and stop compiling after ``torch._dynamo.config.recompile_limit`` surfaces). Weights,
buffers and data are arguments, so grid points reuse the graph; with a last partial batch one
more graph is built for that batch shape, on the first point only.
"""

from __future__ import annotations

import contextlib
import copy
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import nn

__all__: list[str] = []  # private: wired through SurfaceOptions(fold_bn=..., compile=...)

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_BN = nn.modules.batchnorm._BatchNorm


@dataclass(frozen=True)
class _Pair:
    layer: str  # qualified name of the Conv/Linear
    bn: str  # qualified name of the BatchNorm folded into it
    eps: float
    affine: bool
    had_bias: bool


class FoldPlan:
    """A model with its eval-mode BatchNorms folded away, and the map from its parameters.

    ``module`` is the folded network (an FX ``GraphModule``; parameter names as in the model,
    BN parameters and buffers gone, a bias added to each folded layer that had none);
    ``fold(params, buffers)`` maps the model's parameter and buffer dicts to the folded
    module's. ``pairs`` lists the folded (layer, BN) names.
    """

    def __init__(self, module: nn.Module, pairs: tuple[_Pair, ...], keep_buffers: tuple[str, ...]):
        self.module = module
        self.pairs = pairs
        self.keep_buffers = keep_buffers
        self._bn_names = {p.bn for p in pairs}

    def fold(self, params: dict, buffers: dict) -> tuple[dict, dict]:
        """Folded ``(params, buffers)``; pure tensor ops (fine under vmap and compile)."""
        out = {k: v for k, v in params.items() if k.rsplit(".", 1)[0] not in self._bn_names}
        for p in self.pairs:
            var = buffers[f"{p.bn}.running_var"]
            mean = buffers[f"{p.bn}.running_mean"]
            w = params[f"{p.layer}.weight"]
            s = torch.rsqrt(var + p.eps)
            shift = -mean * s
            if p.affine:
                gamma, beta = params[f"{p.bn}.weight"], params[f"{p.bn}.bias"]
                s = s * gamma
                shift = shift * gamma + beta
            out[f"{p.layer}.weight"] = w * s.reshape(s.shape + (1,) * (w.dim() - 1))
            if p.had_bias:
                out[f"{p.layer}.bias"] = params[f"{p.layer}.bias"] * s + shift
            else:
                out[f"{p.layer}.bias"] = shift
        return out, {k: buffers[k] for k in self.keep_buffers}


def plan_fold(model: nn.Module, params: dict, example: torch.Tensor) -> FoldPlan | str:
    """A :class:`FoldPlan` for ``model`` (in eval mode), or a one-line reason why none applies.

    A BN is folded when its input is the output of a ``Conv1d/2d/3d`` (or of a ``Linear`` with
    2-D output) used by nothing else, it has running statistics, and the layer's weight is a
    plain parameter of ``params``. ``example`` (a couple of inputs) fixes the ranks.
    """
    from torch.fx import GraphModule, symbolic_trace
    from torch.fx.passes.shape_prop import ShapeProp

    if model.training:
        return "model in train mode (batch statistics)"
    if not any(isinstance(m, _BN) for m in model.modules()):
        return "no BatchNorm"
    net = copy.deepcopy(model)
    try:
        gm = symbolic_trace(net)
        with torch.no_grad():
            ShapeProp(gm).propagate(example)
    except Exception as exc:  # data-dependent control flow etc.: keep the unfolded model
        return f"not traceable ({type(exc).__name__})"
    mods = dict(gm.named_modules())
    pairs: list[_Pair] = []
    for node in list(gm.graph.nodes):
        if node.op != "call_module" or not isinstance(mods.get(node.target), _BN):
            continue
        bn = mods[node.target]
        src = node.args[0] if node.args else None
        if (
            len(node.args) != 1
            or node.kwargs
            or not isinstance(src, torch.fx.Node)
            or src.op != "call_module"
            or len(src.users) != 1
            or not bn.track_running_stats
            or bn.running_mean is None
        ):
            continue
        layer = mods.get(src.target)
        meta = src.meta.get("tensor_meta")
        ok = isinstance(layer, _CONV) or (
            isinstance(layer, nn.Linear) and meta is not None and len(meta.shape) == 2
        )
        if (
            not ok
            or f"{src.target}.weight" not in params
            or layer.weight.shape[0] != bn.num_features
        ):
            continue
        if layer.bias is not None and f"{src.target}.bias" not in params:
            continue
        if bn.affine and (
            f"{node.target}.weight" not in params or f"{node.target}.bias" not in params
        ):
            continue
        pairs.append(
            _Pair(src.target, node.target, float(bn.eps), bn.affine, layer.bias is not None)
        )
        node.replace_all_uses_with(src)
        gm.graph.erase_node(node)
        if layer.bias is None:
            layer.bias = nn.Parameter(
                torch.zeros(
                    layer.weight.shape[0], dtype=layer.weight.dtype, device=layer.weight.device
                ),
                requires_grad=False,
            )
    if not pairs:
        return "no BatchNorm directly after a Conv/Linear"
    gm.graph.lint()
    folded = GraphModule(gm, gm.graph)
    folded.delete_all_unused_submodules()
    folded.eval()
    keep = tuple(n for n, _ in folded.named_buffers())
    return FoldPlan(folded, tuple(pairs), keep)


@contextlib.contextmanager
def exact_fp32(enabled: bool) -> Iterator[None]:
    """TF32 off for cuDNN and cuBLAS while inside (when ``enabled``); the flags are restored."""
    if not enabled:
        yield
        return
    cudnn, matmul = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32 = cudnn
        torch.backends.cuda.matmul.allow_tf32 = matmul


def compile_once(fn: Callable, mode: str | None, backend: str) -> Callable:
    """``torch.compile`` of a private copy of ``fn`` (its own code object, so its own cache)."""
    code = fn.__code__.replace()
    if code is fn.__code__:  # pragma: no cover - CPython returns a new object; be sure
        code = fn.__code__.replace(co_name=fn.__code__.co_name + "_")
    fresh = types.FunctionType(code, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)
    kwargs = {"dynamic": False, "backend": backend}
    if mode not in (None, "default") and backend == "inductor":  # modes are Inductor's
        kwargs["mode"] = mode
    return torch.compile(fresh, **kwargs)
