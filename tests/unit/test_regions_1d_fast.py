"""The vectorised Sequential 1-D engine (depthlab.probes.regions._one_d_fast) against float64
references: the general tracer (pl.trace_segments with patterns, which restarts the model's own
forward), dense sampling, and regioncam's 1-D counts."""

import numpy as np
import pytest
import torch
from torch import nn

from depthlab import pl, regions
from depthlab.init import initialize
from depthlab.nets import mlp, residual_mlp
from depthlab.nets.activations import Abs
from depthlab.probes.regions import _one_d_fast as regions_1d


def _net(widths, seed, activation="relu"):
    g = torch.Generator().manual_seed(seed)
    return initialize(mlp(widths, activation=activation), "he_normal", g, sigma_b2=0.01)


def _reference(net, a, b):
    """The general engine (forward restarts + midpoint check), float64."""
    return pl.trace_segments(net, a, b, patterns=True)


def _assert_same(fast, ref):
    assert torch.equal(fast.n_pieces, ref.n_pieces)
    assert torch.equal(fast.segment, ref.segment)
    assert float((fast.t - ref.t).abs().max()) <= 1e-9
    out_f, out_r = fast.outputs["output"], ref.outputs["output"]
    assert out_f.shape == out_r.shape
    scale = max(float(out_r.abs().max()), 1.0)
    assert float((out_f - out_r).abs().max()) <= 1e-9 * scale


# depths 1-5, widths 3-64, four activations, 2-D and 784-D inputs
CASES = [
    ([2, 3, 1], "relu", 0),
    ([2, 16, 16, 1], "leaky_relu", 1),
    ([2, 8, 8, 8, 2], "hardtanh", 2),
    ([2, 12, 12, 12, 12, 1], "abs", 3),
    ([2, 64, 64, 64, 64, 64, 1], "relu", 4),
    ([784, 32, 1], "relu", 5),
    ([784, 64, 64, 64, 1], "relu", 6),
    ([784, 20, 20, 20, 20, 3], "leaky_relu", 7),
    ([784, 16, 16, 10], "hardtanh", 8),
]


@pytest.mark.parametrize(("widths", "act", "seed"), CASES)
def test_fast_equals_general_engine(widths, act, seed):
    net = _net(widths, seed, act)
    g = torch.Generator().manual_seed(100 + seed)
    a = torch.randn(12, widths[0], generator=g)
    b = torch.randn(12, widths[0], generator=g)
    fast, lengths = regions_1d.trace_segments_fast(net, a, b)
    ref = _reference(net, a, b)
    _assert_same(fast, ref)
    assert int(fast.n_pieces.sum()) > 12  # the segments do cross kinks
    assert torch.allclose(lengths, (b.double() - a.double()).norm(dim=1), rtol=1e-12)


def test_small_chunks_equal_one_chunk():
    net = _net([5, 16, 16, 16, 1], 11)
    g = torch.Generator().manual_seed(3)
    a, b = torch.randn(9, 5, generator=g), torch.randn(9, 5, generator=g)
    one, _ = regions_1d.trace_segments_fast(net, a, b, chunk_segments=100)
    many, _ = regions_1d.trace_segments_fast(net, a, b, chunk_segments=2)
    assert torch.equal(one.segment, many.segment)
    assert float((one.t - many.t).abs().max()) <= 1e-12  # matmul rounding depends on the batch


def test_fast_equals_dense_sampling():
    net = _net([3, 10, 10, 10, 1], 0, "leaky_relu")
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    res = regions.count_1d_batch(net, a, b)
    t = torch.linspace(0, 1, 100001, dtype=torch.float64)
    for s in range(4):
        pts = a[s].double() + t[:, None] * (b[s] - a[s]).double()
        p = pl.activation_patterns(net, pts).flat()
        assert int(res.n_regions[s]) == int((p[1:] != p[:-1]).any(1).sum()) + 1


def test_layers_beyond_linear_relu():
    """Nested Sequential, eval BatchNorm1d, Dropout, Identity, Flatten of image inputs, ReLU6,
    back-to-back nonlinearities and a trailing nonlinearity."""
    torch.manual_seed(0)
    bn = nn.BatchNorm1d(12)
    bn.running_mean.uniform_(-0.5, 0.5)
    bn.running_var.uniform_(0.5, 2.0)
    net = nn.Sequential(
        nn.Flatten(),
        nn.Linear(16, 12),
        bn,
        nn.ReLU6(),
        nn.Sequential(nn.Dropout(0.3), nn.Linear(12, 10), nn.Identity()),
        nn.LeakyReLU(0.2),
        Abs(),
        nn.Linear(10, 4),
        nn.Hardtanh(-0.5, 0.5),
    )
    net.train()  # the engine evaluates a copy in eval mode, as the general one does
    g = torch.Generator().manual_seed(1)
    a = 3 * torch.randn(10, 1, 4, 4, generator=g)
    b = 3 * torch.randn(10, 1, 4, 4, generator=g)
    fast, _ = regions_1d.trace_segments_fast(net, a, b)
    ref = _reference(net, a, b)
    _assert_same(fast, ref)
    assert fast.outputs["output"].shape == ref.outputs["output"].shape == (len(fast.t), 4)
    assert net.training


def test_degenerate_segments():
    # unit kinks of the first layer at x = 0 (two identical units) and x = 0.5
    net = nn.Sequential(nn.Linear(1, 3), nn.ReLU(), nn.Linear(3, 1))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0], [2.0], [1.0]]))
        net[0].bias.copy_(torch.tensor([0.0, 0.0, -0.5]))
        net[2].weight.copy_(torch.tensor([[1.0, -1.0, 3.0]]))
        net[2].bias.zero_()
    a = torch.tensor([[-1.0], [0.3], [0.0], [-1.0], [-0.5]])
    b = torch.tensor([[1.0], [0.3], [1.0], [0.5], [0.5]])
    res = regions.count_1d_batch(net, a, b)
    # two units with the same kink count once; zero length: one piece; a segment starting or
    # ending exactly on a kink does not cut there
    assert res.n_regions.tolist() == [3, 1, 2, 2, 2]
    assert res.trace.breakpoints(0).tolist() == pytest.approx([0.5, 0.75], abs=1e-12)
    assert res.trace.breakpoints(4).tolist() == pytest.approx([0.5], abs=1e-12)
    ref = _reference(net, a, b)
    _assert_same(res.trace, ref)
    assert float(res.lengths[1]) == 0.0


def test_pure_affine_model_has_one_piece():
    net = nn.Sequential(nn.Linear(4, 3), nn.Dropout(), nn.Linear(3, 2)).eval()
    a, b = torch.randn(5, 4), torch.randn(5, 4)
    res = regions.count_1d_batch(net, a, b)
    assert res.n_regions.tolist() == [1] * 5
    assert torch.allclose(res.trace.outputs["output"][1::2], net(b).double(), atol=1e-6)


def test_non_sequential_falls_back_to_general_engine():
    net = residual_mlp(3, 8, 1, depth=2)
    a, b = torch.randn(4, 3), torch.randn(4, 3)
    assert regions_1d.trace_segments_fast(net, a, b) is None
    res = regions.count_1d_batch(net, a, b)
    assert res.n_regions.tolist() == [regions.count_1d(net, a[i], b[i]).n_regions for i in range(4)]
    pool = nn.Sequential(nn.Unflatten(1, (1, 8)), nn.MaxPool1d(2), nn.Flatten(), nn.Linear(4, 1))
    assert regions_1d.trace_segments_fast(pool, torch.randn(2, 8), torch.randn(2, 8)) is None


def test_errors():
    net = _net([2, 4, 1], 0)
    with pytest.raises(ValueError, match="dtype"):
        regions.count_1d_batch(net, torch.randn(2, 2), torch.randn(2, 2), dtype=torch.int64)
    with pytest.raises(ValueError, match="starts and ends"):
        regions.count_1d_batch(net, torch.randn(2, 2), torch.randn(3, 2))
    with pytest.raises(pl.UnsupportedLayerError, match="Tanh"):
        regions.count_1d_batch(nn.Sequential(nn.Linear(2, 3), nn.Tanh()), *torch.randn(2, 1, 2))


def test_float32_mode_close_to_float64():
    """Stated before measuring: in float32, >= 90% of segments get the float64 count, the total
    is within 1%, and matching segments' breakpoints agree to 1e-4."""
    net = _net([784, 64, 64, 64, 1], 0)
    g = torch.Generator().manual_seed(2)
    a, b = torch.randn(200, 784, generator=g), torch.randn(200, 784, generator=g)
    r64 = regions.count_1d_batch(net, a, b)
    r32 = regions.count_1d_batch(net, a, b, dtype=torch.float32)
    same = r64.n_regions == r32.n_regions
    assert float(same.double().mean()) >= 0.9
    tot64, tot32 = int(r64.n_regions.sum()), int(r32.n_regions.sum())
    assert abs(tot32 - tot64) <= 0.01 * tot64
    for s in torch.nonzero(same).squeeze(1)[:20].tolist():
        d = r64.trace.breakpoints(s) - r32.trace.breakpoints(s)
        assert float(d.abs().max()) <= 1e-4
    assert r32.trace.t.dtype == torch.float64 and r32.lengths.dtype == torch.float64


@pytest.mark.parametrize("seed", range(3))
def test_equals_regioncam_1d(seed):
    regioncam = pytest.importorskip("regioncam")
    widths = [[6, 16, 16, 1], [40, 32, 32, 32, 1], [784, 64, 64, 1]][seed]
    net = _net(widths, 20 + seed)
    g = torch.Generator().manual_seed(seed)
    starts, ends = [], []
    counts = []
    for _ in range(4):
        pts = torch.randn(2, widths[0], generator=g)
        rc = regioncam.Regioncam1D.through_points(pts.numpy().astype(np.float32), size=2.0)
        lins = [m for m in net if isinstance(m, nn.Linear)]
        for i, lin in enumerate(lins):
            rc.linear(
                lin.weight.detach().numpy().T.astype(np.float32).copy(),
                lin.bias.detach().numpy().astype(np.float32),
            )
            if i < len(lins) - 1:
                rc.relu()
        # regioncam's line: through both points, from its first to its last input coordinate
        lo, hi = float(rc.inputs[0]), float(rc.inputs[-1])
        d = (pts[1] - pts[0]) / (pts[1] - pts[0]).norm()
        mid = 0.5 * (pts[0] + pts[1])
        starts.append(mid + lo * d)
        ends.append(mid + hi * d)
        counts.append(rc.num_edges)
    res = regions.count_1d_batch(net, torch.stack(starts), torch.stack(ends))
    assert res.n_regions.tolist() == counts
    assert sum(counts) > 4 * 5


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_equals_cpu():
    net = _net([784, 64, 64, 64, 1], 0)
    g = torch.Generator().manual_seed(2)
    a, b = torch.randn(50, 784, generator=g), torch.randn(50, 784, generator=g)
    cpu = regions.count_1d_batch(net, a, b)
    gpu = regions.count_1d_batch(net.cuda(), a.cuda(), b.cuda())
    assert gpu.n_regions.device.type == "cuda"
    assert torch.equal(cpu.n_regions, gpu.n_regions.cpu())
    assert float((cpu.trace.t - gpu.trace.t.cpu()).abs().max()) <= 1e-9


def test_small_convolutions_collapse_to_matrices():
    torch.manual_seed(3)
    net = nn.Sequential(
        nn.Conv1d(2, 4, 3, padding=1),
        nn.ReLU(),
        nn.AvgPool1d(2),
        nn.Conv1d(4, 3, 3),
        nn.LeakyReLU(0.1),
        nn.Flatten(),
        nn.Linear(9, 2),
    )
    g = torch.Generator().manual_seed(4)
    a, b = torch.randn(8, 2, 10, generator=g), torch.randn(8, 2, 10, generator=g)
    fast, _ = regions_1d.trace_segments_fast(net, a, b)
    _assert_same(fast, _reference(net, a, b))
    assert int(fast.n_pieces.sum()) > 8


@pytest.mark.parametrize(
    ("starts", "ends"),
    [((0, 3), (0, 3)), ((4, 3), (4, 2)), ((3,), (3,))],
)
def test_bad_segment_shapes_are_named(starts, ends):
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    with pytest.raises(ValueError, match=r"\(S >= 1, \*input_shape\)"):
        regions.count_1d_batch(net, torch.zeros(starts), torch.ones(ends))


def test_inputs_that_require_grad_and_in_place_first_layers_are_fine():
    """Regressions from review: inputs with requires_grad crashed the fast engine (out= under
    autograd), and a leading ReLU(inplace=True) wrote into the caller's starts."""
    net = nn.Sequential(
        nn.ReLU(inplace=True), nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1)
    )  # fmt: skip
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(4, 3, generator=g, dtype=torch.float64), torch.randn(4, 3, generator=g)
    a[0, 0] = -1.0
    keep = a.clone()
    got = regions.count_1d_batch(net, a.clone().requires_grad_(), b)
    ref = pl.trace_segments(net, a, b)
    assert torch.equal(got.n_regions, ref.n_pieces)
    assert torch.equal(a, keep)  # the caller's input is untouched


def test_a_segment_counts_the_same_whatever_else_is_in_its_batch():
    """Review finding: the kink tolerance used the largest |z| of the whole chunk, so one very
    long segment blunted it for every other segment (pieces lost at a 1e7 scale). It now scales
    with each segment's own |z|, in both engines."""
    net = initialize(mlp([3, 32, 32, 1]), "he_normal", torch.Generator().manual_seed(0), 0.1)
    g = torch.Generator().manual_seed(1)
    a = torch.randn(300, 3, generator=g, dtype=torch.float64)
    b = torch.randn(300, 3, generator=g, dtype=torch.float64)
    alone = regions.count_1d_batch(net, a, b).n_regions
    big_a, big_b = torch.full((1, 3), -1e7, dtype=torch.float64), torch.full((1, 3), 2e7)
    mixed_a, mixed_b = torch.cat([a, big_a]), torch.cat([b, big_b.double()])
    fast = regions.count_1d_batch(net, mixed_a, mixed_b).n_regions
    general = pl.trace_segments(net, mixed_a, mixed_b).n_pieces
    assert torch.equal(fast[:-1], alone)
    assert torch.equal(general[:-1], alone)
    assert torch.equal(fast, general)
