"""The GPU fast path's CPU twins: BN folding (exact in float64), compiling once, exact fp32."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from depthlab import landscape
from depthlab.nets import CifarResNet
from depthlab.probes.landscape._evaluator import _Evaluator
from depthlab.probes.landscape._fold import exact_fp32, plan_fold

CE = F.cross_entropy


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


def _trained_like(net: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial BN statistics and affine parameters, as after training."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
                m.running_mean.copy_(
                    torch.empty_like(m.running_mean).uniform_(-0.3, 0.3, generator=g)
                )
                m.running_var.copy_(torch.empty_like(m.running_var).uniform_(0.3, 2.0, generator=g))
                if m.affine:
                    m.weight.copy_(torch.empty_like(m.weight).uniform_(0.5, 1.5, generator=g))
                    m.bias.copy_(torch.empty_like(m.bias).uniform_(-0.3, 0.3, generator=g))
    return net.eval()


def _resnet20(dtype=torch.float64) -> nn.Module:
    return _trained_like(
        CifarResNet(20, width=4, generator=torch.Generator().manual_seed(0)).to(dtype)
    )


class ConvBNMLP(nn.Module):
    """Conv1d(+bias)+BN, Conv1d+BN(affine=False), Linear+BN1d, a BN without running stats."""

    def __init__(self) -> None:
        super().__init__()
        self.c1, self.b1 = nn.Conv1d(1, 6, 5, padding=2), nn.BatchNorm1d(6)
        self.c2, self.b2 = (
            nn.Conv1d(6, 6, 3, padding=1, bias=False),
            nn.BatchNorm1d(6, affine=False),
        )
        self.l1, self.b3 = nn.Linear(6 * 12, 16), nn.BatchNorm1d(16)
        self.l2 = nn.Linear(16, 16)
        self.b4 = nn.BatchNorm1d(16, track_running_stats=False)  # batch stats always: never folded
        self.out = nn.Linear(16, 4)

    def forward(self, x):
        h = torch.relu(self.b1(self.c1(x.unsqueeze(1))))
        h = torch.tanh(self.b2(self.c2(h))).flatten(1)
        h = torch.relu(self.b3(self.l1(h)))
        return self.out(torch.relu(self.b4(self.l2(h))))


def _conv_mlp(dtype=torch.float64) -> nn.Module:
    torch.manual_seed(0)
    return _trained_like(ConvBNMLP().to(dtype))


def _images(n=12, dtype=torch.float64):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, 3, 32, 32, generator=g, dtype=dtype)
    return x, torch.randint(0, 10, (n,), generator=g)


def _series(n=40, dtype=torch.float64):
    g = torch.Generator().manual_seed(2)
    return torch.randn(n, 12, generator=g, dtype=dtype), torch.randint(0, 4, (n,), generator=g)


@pytest.mark.parametrize("which", ["resnet20", "conv_mlp"])
def test_folded_forward_equals_unfolded_to_1e12_in_float64(which):
    net, (x, _) = (_resnet20(), _images()) if which == "resnet20" else (_conv_mlp(), _series())
    params = {k: v.detach() for k, v in net.named_parameters()}
    buffers = dict(net.named_buffers())
    plan = plan_fold(net, params, x[:2])
    assert not isinstance(plan, str), plan
    # every BN with running stats folded, none left in the folded net but the batch-stat one
    n_bn = sum(
        isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
        for m in net.modules()
    )
    assert len(plan.pairs) == n_bn == (21 if which == "resnet20" else 3)
    left = [m for m in plan.module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert all(not m.track_running_stats for m in left)
    # at a perturbed point (weights and BN parameters moved), folded == unfolded
    g = torch.Generator().manual_seed(3)
    moved = {
        k: v + 0.3 * torch.randn(v.shape, generator=g, dtype=v.dtype) for k, v in params.items()
    }
    with torch.no_grad():
        want = functional_call(net, (moved, buffers), (x,))
        got = functional_call(plan.module, plan.fold(moved, buffers), (x,))
    assert _rel(got, want) < 1e-12
    assert _rel(got, want) >= 0  # a real number
    assert float(want.abs().max()) > 0.1


@pytest.mark.parametrize("which", ["resnet20", "conv_mlp"])
@pytest.mark.parametrize("k", [1, 3])
def test_folded_surface_equals_unfolded_and_reference(which, k):
    net, (x, y) = (_resnet20(), _images()) if which == "resnet20" else (_conv_mlp(), _series())
    d = (landscape.random_direction(net, seed=0), landscape.random_direction(net, seed=1))
    grid = landscape.Grid((-0.5, 0.0, 0.5), (-0.25, 0.25))
    opts = dict(points_per_call=k, batch_size=8)
    plain = landscape.surface(
        net, CE, (x, y), d, grid, options=landscape.SurfaceOptions(fold_bn=False, **opts)
    )
    folded = landscape.surface(net, CE, (x, y), d, grid, options=landscape.SurfaceOptions(**opts))
    assert plain.options["fold_bn"] is False and folded.options["fold_bn"] is True
    assert _rel(folded.loss, plain.loss) < 1e-12
    assert torch.equal(folded.acc, plain.acc)
    if which == "conv_mlp":  # b4 uses batch statistics: compare to the reference at one batch
        return
    ref, _ = landscape.reference_surface(net, CE, x, y, d, grid)
    assert _rel(folded.loss, ref) < 1e-12


def test_train_mode_and_recompute_bn_never_fold():
    net, (x, y) = _resnet20(), _images()
    d = landscape.random_direction(net, seed=0)
    grid = landscape.Grid((0.0, 0.5))
    for opts in (
        landscape.SurfaceOptions(eval_mode=False),
        landscape.SurfaceOptions(recompute_bn=True),
        landscape.SurfaceOptions(fold_bn=False),
    ):
        s = landscape.surface(net, CE, (x, y), d, grid, options=opts)
        assert s.options["fold_bn"] is False
    assert isinstance(plan_fold(net.train(), {}, x[:2]), str)  # a train-mode model: no plan
    net.eval()
    with pytest.raises(ValueError, match="fold_bn=True needs"):
        landscape.SurfaceOptions(fold_bn=True, recompute_bn=True)
    with pytest.raises(ValueError, match="fold_bn=True needs"):
        landscape.SurfaceOptions(fold_bn=True, eval_mode=False)
    with pytest.raises(ValueError, match="fold_bn must be"):
        landscape.SurfaceOptions(fold_bn="yes")


def test_nothing_to_fold_is_said_and_fold_true_insists():
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 4)).double().eval()
    x, y = _series()
    d = landscape.random_direction(mlp, seed=0)
    s = landscape.surface(mlp, CE, (x, y), d, landscape.Grid((0.0,)))
    assert s.options["fold_bn"] == "not folded: no BatchNorm"
    with pytest.raises(ValueError, match="nothing folds"):
        landscape.surface(
            mlp,
            CE,
            (x, y),
            d,
            landscape.Grid((0.0,)),
            options=landscape.SurfaceOptions(fold_bn=True),
        )


class _Wrong(nn.Module):
    """Linear on (B, L, F) then BN1d over dim 1 (= L): NOT the Linear's output channels."""

    def __init__(self) -> None:
        super().__init__()
        self.lin, self.bn, self.out = nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(16, 2)

    def forward(self, x):
        return self.out(self.bn(self.lin(x.view(-1, 4, 3))).flatten(1))


def test_a_bn_that_is_not_per_output_channel_is_not_folded():
    torch.manual_seed(0)
    net = _trained_like(_Wrong().double())
    x = torch.randn(6, 12, dtype=torch.float64)
    plan = plan_fold(net, dict(net.named_parameters()), x[:2])
    assert plan == "no BatchNorm directly after a Conv/Linear"


def test_fold_is_a_real_check_a_wrong_fold_differs():
    """Feeds the comparison a fold with the wrong eps: it must fail the 1e-12 bound."""
    net, (x, _) = _resnet20(), _images()
    params = {k: v.detach() for k, v in net.named_parameters()}
    buffers = dict(net.named_buffers())
    plan = plan_fold(net, params, x[:2])
    bad = type(plan)(
        plan.module,
        tuple(type(p)(p.layer, p.bn, p.eps * 10, p.affine, p.had_bias) for p in plan.pairs),
        plan.keep_buffers,
    )
    with torch.no_grad():
        want = net(x)
        got = functional_call(bad.module, bad.fold(params, buffers), (x,))
    assert _rel(got, want) > 1e-9


def _graphs() -> int:
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


@pytest.mark.parametrize("fold", [True, False])
def test_compiled_once_no_recompiles_over_a_5x5_grid(fold):
    torch._dynamo.reset()
    net, (x, y) = _resnet20(torch.float32), _images(10, torch.float32)
    d = (landscape.random_direction(net, seed=0), landscape.random_direction(net, seed=1))
    opts = landscape.SurfaceOptions(
        compile=True, compile_backend="aot_eager", fold_bn=fold, batch_size=4
    )  # 10 = 4 + 4 + 2: two batch shapes, both met at the first point
    ev = _Evaluator(net, CE, x, y, d, opts)
    pts = landscape.Grid.plane(-1, 1, 5).points()
    g0 = _graphs()
    first, _ = ev(pts[:1])
    after_first = _graphs()
    assert after_first - g0 == 2  # one graph per batch shape
    rest = torch.cat([ev(pts[i : i + 1])[0] for i in range(1, 25)])
    assert _graphs() == after_first  # 0 recompiles after the first point
    assert ev.compiled is True
    eager = _Evaluator(net, CE, x, y, d, landscape.SurfaceOptions(fold_bn=fold, batch_size=4))
    want = torch.cat([eager(pts[i : i + 1])[0] for i in range(25)])
    assert _rel(torch.cat([first, rest]), want) < 1e-6  # fp32: compiling keeps the answer


def test_every_surface_compiles_its_own_graph_past_dynamos_recompile_limit():
    """A shared compiled function would stop compiling after recompile_limit (8) models."""
    torch._dynamo.reset()
    x, y = _series(8, torch.float32)
    opts = landscape.SurfaceOptions(compile=True, compile_backend="eager", batch_size=8)
    g0 = _graphs()
    for seed in range(10):
        torch.manual_seed(seed)
        mlp = nn.Sequential(nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 4)).eval()
        d = landscape.random_direction(mlp, seed=0)
        s = landscape.surface(mlp, CE, (x, y), d, landscape.Grid((0.0, 1.0)), options=opts)
        assert s.options["compile"] is True
    assert _graphs() - g0 == 10  # one graph per surface, none skipped


def test_exact_fp32_turns_tf32_off_inside_and_restores():
    before = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = True
    try:
        with exact_fp32(True):
            assert torch.backends.cudnn.allow_tf32 is False
            assert torch.backends.cuda.matmul.allow_tf32 is False
        assert torch.backends.cudnn.allow_tf32 is True
        with exact_fp32(False):
            assert torch.backends.cudnn.allow_tf32 is True
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before
