"""The fused numba 1-D kernel (depthlab.probes._regions_kernel) against the float64 torch engine
(depthlab.probes.regions._one_d_fast, kernel="torch"), regioncam, and its no-numba fallback."""

import numpy as np
import pytest
import torch
from torch import nn

from depthlab import pl, regions
from depthlab.init import initialize
from depthlab.nets import mlp
from depthlab.nets.activations import Abs
from depthlab.probes import _regions_kernel
from depthlab.probes.regions import _one_d_fast

needs_numba = pytest.mark.skipif(not _regions_kernel.available(), reason="numba not installed")


def _net(widths, seed, activation="relu"):
    g = torch.Generator().manual_seed(seed)
    return initialize(mlp(widths, activation=activation), "he_normal", g, sigma_b2=0.01)


def _both(net, a, b, **kw):
    fused, len_f = _one_d_fast.trace_segments_fast(net, a, b, kernel="numba", **kw)
    ref, len_r = _one_d_fast.trace_segments_fast(net, a, b, kernel="torch", **kw)
    # the kernel sums the squares in blocks (numpy), torch in its own order
    assert torch.allclose(len_f, len_r, rtol=1e-12, atol=0.0)
    return fused, ref


def _assert_same(fused, ref, tol=1e-9):
    assert torch.equal(fused.n_pieces, ref.n_pieces)
    assert torch.equal(fused.segment, ref.segment)
    assert float((fused.t - ref.t).abs().max()) <= tol
    out_f, out_r = fused.outputs["output"], ref.outputs["output"]
    assert out_f.shape == out_r.shape
    assert float((out_f - out_r).abs().max()) <= tol * max(float(out_r.abs().max()), 1.0)


CASES = [
    ([2, 3, 1], "relu", 0),
    ([2, 16, 16, 1], "leaky_relu", 1),
    ([2, 8, 8, 8, 2], "hardtanh", 2),
    ([2, 12, 12, 12, 12, 1], "abs", 3),
    ([784, 64, 64, 64, 1], "relu", 6),
    ([784, 20, 20, 20, 20, 3], "leaky_relu", 7),
]


@needs_numba
@pytest.mark.parametrize(("widths", "act", "seed"), CASES)
def test_kernel_equals_torch_engine(widths, act, seed):
    net = _net(widths, seed, act)
    g = torch.Generator().manual_seed(100 + seed)
    a = torch.randn(40, widths[0], generator=g)
    b = torch.randn(40, widths[0], generator=g)
    fused, ref = _both(net, a, b)
    _assert_same(fused, ref)
    assert int(fused.n_pieces.sum()) > 2 * 40  # the segments do cross kinks


@needs_numba
def test_kernel_float32_close_to_float64():
    net = _net([784, 32, 32, 1], 4)
    g = torch.Generator().manual_seed(5)
    a, b = torch.randn(30, 784, generator=g), torch.randn(30, 784, generator=g)
    f32, _ = _one_d_fast.trace_segments_fast(net, a, b, kernel="numba", dtype=torch.float32)
    ref, _ = _one_d_fast.trace_segments_fast(net, a, b, kernel="torch")
    assert torch.equal(f32.n_pieces, ref.n_pieces)
    assert float((f32.t - ref.t).abs().max()) <= 1e-4


@needs_numba
def test_kernel_degenerate_segments():
    """Kinks at segment ends, two units with the same kink (a duplicate crossing), a kink on
    an existing point of the previous layer, zero-length segments."""
    net = nn.Sequential(nn.Linear(1, 3), nn.ReLU(), nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0], [2.0], [1.0]]))
        net[0].bias.copy_(torch.tensor([0.0, 0.0, -0.5]))
        # unit 0 of layer 2 has its kink exactly where layer 1's unit 2 has its own (x = 0.5)
        net[2].weight.copy_(torch.tensor([[0.0, 0.0, 1.0], [1.0, -1.0, 3.0]]))
        net[2].bias.copy_(torch.tensor([0.0, -0.25]))
        net[4].weight.copy_(torch.tensor([[1.0, -2.0]]))
        net[4].bias.zero_()
    a = torch.tensor([[-1.0], [0.3], [0.0], [-1.0], [-0.5], [0.5]])
    b = torch.tensor([[1.0], [0.3], [1.0], [0.5], [0.5], [2.0]])
    fused, ref = _both(net, a, b)
    _assert_same(fused, ref, tol=1e-12)
    # zero length: one piece; a segment starting or ending exactly on a kink does not cut there
    assert fused.n_pieces[1] == 1
    assert fused.breakpoints(0).tolist() == pytest.approx(ref.breakpoints(0).tolist(), abs=1e-12)
    assert 0.75 in [round(x, 12) for x in fused.breakpoints(0).tolist()]  # x = 0.5 on [-1, 1]


@needs_numba
def test_kernel_back_to_back_and_trailing_nonlinearities():
    net = nn.Sequential(
        nn.Linear(6, 10), nn.ReLU6(), nn.LeakyReLU(0.2), Abs(), nn.Linear(10, 4), nn.Hardtanh()
    )
    g = torch.Generator().manual_seed(1)
    a, b = 3 * torch.randn(20, 6, generator=g), 3 * torch.randn(20, 6, generator=g)
    fused, ref = _both(net, a, b)
    _assert_same(fused, ref)


@needs_numba
def test_kernel_buffers_grow_and_chunks(monkeypatch):
    """Segments of more than 256 points (the kernel's first scratch size) and more points in a
    chunk than its first output buffer (1024 with no estimate of points per segment): both grow;
    a segment cut by a full buffer is traced again and counted once; chunking does not change a
    thing."""
    monkeypatch.setattr(_regions_kernel, "_POINTS_PER_SEGMENT", [0.0])
    net = _net([2, 64, 64, 64, 64, 1], 9)
    g = torch.Generator().manual_seed(9)
    a = 30 * torch.randn(4, 2, generator=g)
    fused, ref = _both(net, a, -a)
    assert sum(_regions_kernel.LAST_STEPS.values()) == 4 * 4
    _assert_same(fused, ref)
    assert int(fused.n_pieces.max()) > 256
    assert int(fused.n_pieces.sum()) > 1024
    _regions_kernel._POINTS_PER_SEGMENT[0] = 0.0
    two, _ = _one_d_fast.trace_segments_fast(net, a, -a, kernel="numba", chunk_segments=3)
    _assert_same(two, ref)
    # the count of stages is over the whole call (two chunks): four stages per segment
    assert sum(_regions_kernel.LAST_STEPS.values()) == 4 * 4
    # max_points is per chunk, and the default chunk shrinks to keep under it (one segment
    # here); a segment with more points than max_points is still an error
    few, _ = _one_d_fast.trace_segments_fast(net, a, -a, kernel="numba", max_points=500)
    _assert_same(few, ref)
    with pytest.raises(RuntimeError, match="max_points"):
        _one_d_fast.trace_segments_fast(net, a, -a, kernel="numba", max_points=200)


@needs_numba
def test_kernel_matches_regioncam():
    regioncam = pytest.importorskip("regioncam")
    net = _net([16, 24, 24, 1], 12)
    g = torch.Generator().manual_seed(4)
    pairs = torch.randn(15, 2, 16, generator=g).numpy().astype(np.float32)
    lins = [m for m in net if isinstance(m, nn.Linear)]
    counts, starts, ends = [], [], []
    for pair in pairs:
        rc = regioncam.Regioncam1D.through_points(pair, size=2.0)
        for k, lin in enumerate(lins):
            rc.linear(
                lin.weight.detach().numpy().T.astype(np.float32).copy(),
                lin.bias.detach().numpy().astype(np.float32),
            )
            if k < len(lins) - 1:
                rc.relu()
        counts.append(rc.num_edges)
        p = torch.from_numpy(pair).double()
        d = (p[1] - p[0]) / (p[1] - p[0]).norm()
        mid = 0.5 * (p[0] + p[1])
        starts.append(mid + float(rc.inputs[0]) * d)
        ends.append(mid + float(rc.inputs[-1]) * d)
    fused, _ = _one_d_fast.trace_segments_fast(
        net, torch.stack(starts), torch.stack(ends), kernel="numba"
    )
    assert fused.n_pieces.tolist() == counts
    assert sum(counts) > 2 * len(counts)


@needs_numba
def test_auto_takes_the_kernel_for_large_batches_only(monkeypatch):
    calls = []
    real = _regions_kernel.trace_blocks
    monkeypatch.setattr(
        _regions_kernel, "trace_blocks", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    net = _net([4, 8, 8, 1], 2)
    g = torch.Generator().manual_seed(6)
    n = _regions_kernel.AUTO_MIN_SEGMENTS
    a, b = torch.randn(n, 4, generator=g), torch.randn(n, 4, generator=g)
    res = regions.count_1d(net, a, b)
    assert calls == [1]
    ref, _ = _one_d_fast.trace_segments_fast(net, a, b, kernel="torch")
    assert torch.equal(res.n_regions, ref.n_pieces)
    regions.count_1d(net, a[: n - 1], b[: n - 1])
    assert calls == [1]  # too few segments to pay for a compilation: the torch engine


def _steps(net, a, b, lean):
    blocks, _ = _one_d_fast.plan(pl.prepare(net, a[0]))
    _regions_kernel.reset_steps()
    out = _regions_kernel.trace_blocks(blocks, a, b, pl.EPS, _one_d_fast._DEDUP, 10**7, lean=lean)
    return out, dict(_regions_kernel.LAST_STEPS)


@needs_numba
@pytest.mark.parametrize(
    ("widths", "act", "seed", "scale", "lean_share"),
    [
        ([784, 64, 64, 64, 1], "relu", 0, 1.0, 0.9),
        ([20, 32, 32, 32, 2], "leaky_relu", 1, 1.0, 0.9),
        ([8, 24, 24, 24, 1], "abs", 2, 1.0, 0.9),
        ([2, 48, 48, 48, 48, 1], "relu", 3, 20.0, 0.9),
        # a narrow block before the last: the general step takes phi at every point there, so
        # the lean step stays out (it would change the next values' last bits)
        ([2, 48, 4, 48, 1], "relu", 4, 20.0, 0.0),
    ],
)
def test_lean_step_gives_the_same_bits(widths, act, seed, scale, lean_share):
    """The lean step (one kink, no value in the eps band) against the general step on the same
    segments: every breakpoint and length bit for bit, the outputs to rounding, and it ran."""
    net = _net(widths, seed, act).double()
    g = torch.Generator().manual_seed(seed)
    a = scale * torch.randn(300, widths[0], generator=g, dtype=torch.float64)
    b = scale * torch.randn(300, widths[0], generator=g, dtype=torch.float64)
    lean, steps = _steps(net, a, b, True)
    general, off = _steps(net, a, b, False)
    for x, y in zip(lean[:2] + lean[3:], general[:2] + general[3:], strict=True):
        assert torch.equal(x, y)  # segments, breakpoints, lengths
    # the last block: the general step multiplies phi at every point by the matrix, the lean
    # one carries the output's slope (same values up to rounding)
    assert torch.allclose(
        lean[2], general[2], rtol=1e-12, atol=1e-12 * float(general[2].abs().max())
    )
    assert steps["lean"] >= lean_share * (steps["lean"] + steps["general"])
    assert off == {"lean": 0, "general": steps["lean"] + steps["general"]}
    assert int(torch.bincount(lean[0]).sum()) > 5 * 300  # the segments do cross kinks


@needs_numba
def test_lean_step_float32():
    """In float32 the lean step keeps a wider band and gap (float32 rounding): the same
    breakpoints as the general step on every segment, and most stages still take it."""
    net = _net([784, 64, 64, 64, 1], 0)
    g = torch.Generator().manual_seed(11)
    a, b = torch.randn(300, 784, generator=g), torch.randn(300, 784, generator=g)
    lean, steps = _steps(net, a, b, True)
    general, _ = _steps(net, a, b, False)
    assert lean[2].dtype == torch.float32
    assert torch.equal(lean[0], general[0]) and torch.equal(lean[1], general[1])
    assert steps["lean"] > 0.5 * (steps["lean"] + steps["general"])


@needs_numba
def test_lean_step_steps_aside_on_degenerate_segments():
    """Crossings that the merge rule drops (two first-layer units with the same kink) and values
    inside the eps band (a second-layer unit that is 0 on the whole segment) take the general
    step, and the results stay those of the torch engine."""
    g = torch.Generator().manual_seed(3)
    net = _net([1, 8, 8, 8, 1], 5).double()
    with torch.no_grad():
        net[0].weight[:2] = 1.0  # units 0 and 1: the same kink, at x = 0
        net[0].bias[:2] = 0.0
        net[2].weight[1] = 0.0  # layer 2's unit 1 is 0 everywhere
        net[2].bias[1] = 0.0
        net[0].bias[2:] = torch.randn(6, generator=g, dtype=torch.float64)
    a = torch.tensor([[-1.0], [-2.0], [0.7]], dtype=torch.float64)
    b = torch.tensor([[1.0], [3.0], [-1.5]], dtype=torch.float64)
    _, steps = _steps(net, a, b, True)
    assert steps["general"] >= 6  # the first two of the three stages of every segment
    fused, ref = _both(net, a, b)
    _assert_same(fused, ref, tol=1e-12)
    assert int(fused.n_pieces.sum()) > 3
    # the same net without the two defects takes the lean step
    with torch.no_grad():
        net[0].bias[1] = 0.3
        net[2].bias[1] = 0.2
    _, steps = _steps(net, a, b, True)
    assert steps == {"lean": 9, "general": 0}


def _dense(widths, seed):
    g = torch.Generator().manual_seed(seed)
    layers = []
    for i, (w_in, w_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        lin = nn.Linear(w_in, w_out).double()
        with torch.no_grad():
            lin.weight.copy_(torch.randn(w_out, w_in, generator=g, dtype=torch.float64))
            lin.bias.copy_(0.1 * torch.randn(w_out, generator=g, dtype=torch.float64))
        layers += [lin] + ([nn.ReLU()] if i < len(widths) - 2 else [])
    return nn.Sequential(*layers), g


@needs_numba
def test_lean_step_on_reviewed_edge_cases():
    """Inputs from the review. (a) A value exactly on the kink at t = 0 only (row 0): the next
    stage's fused minimum must include row 0, else the lean step runs and miscounts. (b) A
    narrow block taken by the general step (a duplicate unit drops a crossing) before blocks
    that could be lean: no slopes are carried past it, so the lean step must not run after it.
    Both: the same breakpoints as the general step and the same counts as the torch engine."""
    net, g = _dense([2, 16, 16, 16, 1], 3)
    with torch.no_grad():
        net[0].bias.fill_(-1.0)
        net[0].bias[0] = 1.0  # at x = 0: unit 0 is 1, the others -1
        net[2].weight[3, 0] = 1.0
        net[2].bias[3] = -1.0  # layer 2's unit 3 is exactly 0 at t = 0 only
    a = torch.zeros(50, 2, dtype=torch.float64)
    b = 4 * torch.randn(50, 2, generator=g, dtype=torch.float64)
    net2, g2 = _dense([2, 16, 4, 16, 16, 1], 5)
    with torch.no_grad():
        net2[0].weight[1] = net2[0].weight[0]  # a duplicate unit: its crossing is dropped
        net2[0].bias[1] = net2[0].bias[0]
    a2 = 3 * torch.randn(200, 2, generator=g2, dtype=torch.float64)
    b2 = 3 * torch.randn(200, 2, generator=g2, dtype=torch.float64)
    for model, x, y in ((net, a, b), (net2, a2, b2)):
        lean, _ = _steps(model, x, y, True)
        general, _ = _steps(model, x, y, False)
        assert torch.equal(lean[0], general[0]) and torch.equal(lean[1], general[1])
        fused, ref = _both(model, x, y)
        _assert_same(fused, ref, tol=1e-12)
        assert int(fused.n_pieces.sum()) > 2 * len(x)


@pytest.mark.parametrize("kernel", ["torch", "numba"])
def test_bad_eps_and_non_finite_inputs_are_errors(kernel):
    if kernel == "numba" and not _regions_kernel.available():
        pytest.skip("numba not installed")
    net = _net([4, 8, 8, 1], 2)
    a, b = torch.randn(300, 4), torch.randn(300, 4)
    with pytest.raises(ValueError, match="eps must be >= 0"):
        _one_d_fast.trace_segments_fast(net, a, b, kernel=kernel, eps=-1e-10)
    a[7, 2] = float("nan")
    with pytest.raises(ValueError, match=r"segment 7: .*NaN or inf"):
        _one_d_fast.trace_segments_fast(net, a, b, kernel=kernel)
    with pytest.raises(ValueError, match=r"segment 7: .*NaN or inf"):  # the general engine
        pl.trace_segments(net, a, b)
    with pytest.raises(ValueError, match=r"segment 0: .*NaN or inf"):  # one segment
        regions.count_1d(net, a[7], b[7])
    with pytest.raises(ValueError, match="eps must be >= 0"):
        pl.trace_segments(net, a[:3], b[:3], eps=-1.0)
    a[7, 2] = 0.0
    b[299, 0] = float("inf")
    with pytest.raises(ValueError, match=r"segment 299: .*NaN or inf"):
        _one_d_fast.trace_segments_fast(net, a, b, kernel=kernel, chunk_segments=100)


def test_fallback_without_numba(monkeypatch):
    """Without numba, kernel='auto' (count_1d's default) runs the torch engine; 'numba' is an
    error."""
    monkeypatch.setattr(_regions_kernel, "numba", None)
    assert not _regions_kernel.available()
    net = _net([4, 8, 8, 1], 2)
    g = torch.Generator().manual_seed(6)
    n = _regions_kernel.AUTO_MIN_SEGMENTS
    a, b = torch.randn(n, 4, generator=g), torch.randn(n, 4, generator=g)
    auto, _ = _one_d_fast.trace_segments_fast(net, a, b)
    ref, _ = _one_d_fast.trace_segments_fast(net, a, b, kernel="torch")
    _assert_same(auto, ref, tol=0.0)
    assert regions.count_1d(net, a, b).n_regions.tolist() == ref.n_pieces.tolist()
    with pytest.raises(RuntimeError, match="numba"):
        _one_d_fast.trace_segments_fast(net, a, b, kernel="numba")
    with pytest.raises(ValueError, match="kernel"):
        _one_d_fast.trace_segments_fast(net, a, b, kernel="cuda")


def test_act_tables():
    c, sigma, beta = _regions_kernel.act_tables(nn.Hardtanh(-0.5, 2.0), (-0.5, 2.0), 3)
    assert c.tolist() == [-0.5, 2.0]
    assert sigma[:, 0].tolist() == [0.0, 1.0, 0.0]
    assert beta[:, 0].tolist() == [-0.5, 0.0, 2.0]
    _, sigma, beta = _regions_kernel.act_tables(nn.LeakyReLU(0.125), (0.0,), 2)
    assert sigma[:, 1].tolist() == [0.125, 1.0]
    assert beta[:, 1].tolist() == [0.0, 0.0]
    # not affine between the given kinks: refused
    assert _regions_kernel.act_tables(nn.Tanh(), (0.0,), 2) is None


def _grown(net, dup_unit: int):
    """``net`` (Linear, ReLU, Linear, ReLU, Linear) with two units added that change neither
    the function nor its kinks: a copy of layer 1's unit ``dup_unit`` (outgoing weights split
    half and half with the original) and a layer-2 unit with zero incoming weights and bias."""
    l1, l2, l3 = net[0], net[2], net[4]
    n0, n1, n2 = l1.in_features, l1.out_features, l2.out_features
    big = nn.Sequential(
        nn.Linear(n0, n1 + 1), nn.ReLU(), nn.Linear(n1 + 1, n2 + 1), nn.ReLU(), nn.Linear(n2 + 1, 1)
    ).double()
    with torch.no_grad():
        big[0].weight.copy_(torch.cat([l1.weight, l1.weight[dup_unit : dup_unit + 1]]))
        big[0].bias.copy_(torch.cat([l1.bias, l1.bias[dup_unit : dup_unit + 1]]))
        w2 = torch.cat([l2.weight, 0.5 * l2.weight[:, dup_unit : dup_unit + 1]], 1)
        w2[:, dup_unit] *= 0.5
        big[2].weight.copy_(torch.cat([w2, torch.zeros(1, n1 + 1, dtype=w2.dtype)]))
        big[2].bias.copy_(torch.cat([l2.bias, torch.zeros(1, dtype=w2.dtype)]))
        big[4].weight.copy_(torch.cat([l3.weight, torch.ones(1, 1, dtype=w2.dtype)], 1))
        big[4].bias.copy_(l3.bias)
    return big


@needs_numba
def test_kernel_duplicate_units_zero_rows_and_kinks_on_segments():
    """A duplicated unit (two kinks at exactly the same t, merged into one point) and a unit
    with zero weights (0 everywhere, never a kink) add no piece, in both engines; a segment
    that starts exactly on a first-layer kink, or runs through the zero set of a unit, gives
    the same pieces and breakpoints in the kernel as in the torch engine (to 1e-12)."""
    net = _net([8, 16, 16, 1], 21).double()
    big = _grown(net, dup_unit=3)
    g = torch.Generator().manual_seed(22)
    a = torch.randn(300, 8, generator=g, dtype=torch.float64)
    b = torch.randn(300, 8, generator=g, dtype=torch.float64)
    # segment 0 starts exactly on unit 3's kink (its pre-activation is 0 at a, to rounding)
    w, c = net[0].weight[3].detach(), net[0].bias[3].detach()
    a[0] -= (w @ a[0] + c) / (w @ w) * w
    b[1] = -a[1]  # through the origin
    fused_big, ref_big = _both(big, a, b)
    _assert_same(fused_big, ref_big, tol=1e-12)
    fused, ref = _both(net, a, b)
    _assert_same(fused, ref, tol=1e-12)
    assert torch.equal(fused_big.n_pieces, fused.n_pieces)
    assert float((fused_big.t - fused.t).abs().max()) <= 1e-12
    assert float(fused.n_pieces.float().mean()) > 4.0  # the segments do cross kinks
