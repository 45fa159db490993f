"""The memory guard (issue 17 item 4): a probe asked for more than the budget stops before
allocating, with one line naming the estimate, the budget and the option that lowers it."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from depthlab import landscape, regions, trajectory
from depthlab.probes import _memory
from depthlab.probes._memory import MemoryBudgetError


def _net() -> nn.Sequential:
    g = torch.Generator().manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 3))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    return net


def test_parse_and_format_bytes():
    assert _memory.parse_bytes("2GB") == 2 * 2**30
    assert _memory.parse_bytes("512 MiB") == 512 * 2**20
    assert _memory.parse_bytes("1.5G") == int(1.5 * 2**30)
    assert _memory.parse_bytes("1000") == 1000
    assert _memory.parse_bytes(4096) == 4096
    assert _memory.format_bytes(1536) == "1.5 KiB"
    with pytest.raises(ValueError, match="cannot read the memory size"):
        _memory.parse_bytes("lots")
    with pytest.raises(ValueError, match="positive"):
        _memory.parse_bytes(0)


def test_budget_sources(monkeypatch):
    monkeypatch.delenv(_memory.ENV, raising=False)
    assert _memory.budget("1MB") == (2**20, "max_memory=")
    monkeypatch.setenv(_memory.ENV, "3MB")
    assert _memory.budget()[0] == 3 * 2**20
    monkeypatch.delenv(_memory.ENV)
    free = _memory.available_bytes()
    assert free is not None and free > 0  # psutil or /proc/meminfo on the test machines
    limit, source = _memory.budget()
    assert limit == int(free * _memory.DEFAULT_FRACTION) and "free" in source


def test_estimate_formula():
    net = _net()  # 4*32+32 + 32*32+32 + 32*3+3 = 1315 parameters
    assert _memory.estimate(net, points=10, activations=100, param_factor=2, act_factor=3) == (
        8 * (1315 * 2 + 100 * 10 * 3)
    )
    # leaf outputs for one example: 32 + 32 + 32 + 32 + 3, plus the input's 4
    assert _memory.activations_per_example(net, torch.zeros(4)) == 135
    assert _memory.forward_sizes(net, torch.zeros(4)) == (135, 64)  # two ReLUs of 32 units


def _assert_one_line(exc: pytest.ExceptionInfo, probe: str, lower: str) -> None:
    msg = str(exc.value)
    assert "\n" not in msg
    assert msg.startswith(probe)
    assert "needs about" in msg and "above the memory budget of 1.0 KiB (max_memory=)" in msg
    assert lower in msg and "DEPTHLAB_MAX_MEMORY" in msg


def test_trajectory_exact_refuses_then_passes():
    net = _net()
    curve = trajectory.segment(torch.zeros(4), torch.ones(4))
    with pytest.raises(MemoryBudgetError) as exc:
        trajectory.length(net, curve, method="exact", max_memory=1024)
    _assert_one_line(exc, "trajectory.length (exact)", "fewer or shorter curves")
    res = trajectory.length(net, curve, method="exact", max_memory="1GB")
    assert res.lengths.shape == (1, 4) and res.lengths[0, 0] == pytest.approx(2.0)


def test_env_budget_applies(monkeypatch):
    monkeypatch.setenv(_memory.ENV, "1KB")
    with pytest.raises(MemoryBudgetError, match=r"DEPTHLAB_MAX_MEMORY=1KB"):
        regions.count_1d(_net(), torch.zeros(4), torch.ones(4))


def test_regions_refuse_then_pass():
    net = _net()
    with pytest.raises(MemoryBudgetError) as exc:
        regions.count_1d(net, torch.zeros(4), torch.ones(4), max_memory=1024)
    _assert_one_line(exc, "regions.count_1d", "fewer segments")
    assert regions.count_1d(net, torch.zeros(4), torch.ones(4)).n_regions >= 1
    net2 = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1))
    with pytest.raises(MemoryBudgetError) as exc:
        regions.count_2d(net2, max_memory=1024)
    _assert_one_line(exc, "regions.count_2d", "a smaller window")
    assert regions.count_2d(net2).n_regions >= 1


@pytest.mark.parametrize("kernel", [True, False])
def test_batched_regions_plan_for_one_chunk(kernel, monkeypatch):
    """A batch the chunked engines take is planned from one chunk's working set plus every
    segment's breakpoints and outputs, not from every layer's output at every breakpoint of the
    whole batch: 4,000 segments through 784-64x3 (about 100 points each) need about 50 MB, and
    the old plan (about 55 GB) refused them under 1 GB. A budget below the outputs still
    refuses, and a model the chunked engines do not take keeps the whole-batch plan."""
    from depthlab.probes import _regions_kernel

    if kernel and not _regions_kernel.available():
        pytest.skip("numba not installed")
    if not kernel:
        monkeypatch.setattr(_regions_kernel, "numba", None)
    g = torch.Generator().manual_seed(0)
    net = nn.Sequential(
        nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64),
        nn.ReLU(), nn.Linear(64, 1),
    )  # fmt: skip
    a, b = torch.randn(4000, 784, generator=g), torch.randn(4000, 784, generator=g)
    res = regions.count_1d(net, a, b, max_memory="1GB")
    assert float(res.n_regions.double().mean()) > 20
    est = _memory.check(
        "x", net, points=_memory.exact_points(8000, 4000), example=a[0], param_factor=2.0,
        act_factor=4.0, itemsize=8, lower="-", max_memory="1TB",
    )  # fmt: skip
    assert est > 10 * 2**30  # the whole-batch plan
    with pytest.raises(MemoryBudgetError, match=r"regions\.count_1d"):
        regions.count_1d(net, a, b, max_memory="20MB")  # the outputs alone are ~37 MB
    pool = nn.Sequential(
        nn.Unflatten(1, (1, 784)), nn.MaxPool1d(2), nn.Flatten(), nn.Linear(392, 64), nn.ReLU(),
        nn.Linear(64, 1),
    )  # fmt: skip
    with pytest.raises(MemoryBudgetError, match=r"regions\.count_1d"):
        regions.count_1d(pool, a, b, max_memory="1GB", batch=True)


def test_surface_and_hessian_refuse_then_pass():
    net = _net()
    g = torch.Generator().manual_seed(1)
    data = (torch.randn(16, 4, generator=g), torch.randint(0, 3, (16,), generator=g))
    d = landscape.random_direction(net, seed=0)
    with pytest.raises(MemoryBudgetError) as exc:
        landscape.surface(net, F.cross_entropy, data, d, [-1.0, 0.0, 1.0], max_memory=1024)
    _assert_one_line(exc, "landscape.surface", "SurfaceOptions(batch_size=")
    s = landscape.surface(net, F.cross_entropy, data, d, [-1.0, 0.0, 1.0])
    assert float(s.loss[1]) == pytest.approx(
        float(F.cross_entropy(net(data[0]), data[1]).detach()), rel=1e-5
    )
    with pytest.raises(MemoryBudgetError) as exc:
        landscape.hessian.eigenvalues(net, F.cross_entropy, data, iters=5, max_memory=1024)
    _assert_one_line(exc, "landscape.hessian.eigenvalues", "fewer iters=")
    spec = landscape.hessian.eigenvalues(net, F.cross_entropy, data, iters=5)
    assert spec.lambda_max >= spec.lambda_min and spec.dim == 1315


def test_slow_adaptive_path_announces_itself(caplog):
    """Item 3: the adaptive rule's worst case (max_points forward-AD passes of the model) is
    said in the depthlab log, with train mode named; a small request says nothing."""
    net = nn.Sequential(nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 2))  # 90 parameters
    curve = trajectory.segment(torch.zeros(8), torch.ones(8))
    with caplog.at_level("WARNING", logger="depthlab"):
        trajectory.length(net.eval(), curve, method="adaptive", n0=16, tol=0.5)
    assert not [r for r in caplog.records if "may take long" in r.message]
    with caplog.at_level("WARNING", logger="depthlab"):
        res = trajectory.length(
            net.train(), curve, method="adaptive", n0=16, tol=0.5, max_points=2**33
        )
    slow = [r.getMessage() for r in caplog.records if "may take long" in r.getMessage()]
    assert len(slow) == 1 and "90-parameter model" in slow[0] and "8589934592 points" in slow[0]
    assert "train mode" in slow[0] and "max_points=" in slow[0]
    assert np.isfinite(res.lengths).all()


def test_hessian_trace_refuses_then_passes():
    net = _net()
    g = torch.Generator().manual_seed(2)
    data = (torch.randn(16, 4, generator=g), torch.randint(0, 3, (16,), generator=g))
    with pytest.raises(MemoryBudgetError) as exc:
        landscape.hessian.trace(net, F.cross_entropy, data, samples=4, max_memory=1024)
    _assert_one_line(exc, "landscape.hessian.trace", "a smaller batch_size=")
    tr = landscape.hessian.trace(net, F.cross_entropy, data, samples=4)
    assert math.isfinite(tr.estimate) and tr.samples == 4


def test_adaptive_chunk_is_checked_too():
    net = _net()
    curve = trajectory.segment(torch.zeros(4), torch.ones(4))
    with pytest.raises(MemoryBudgetError) as exc:
        trajectory.length(net, curve, method="adaptive", max_memory=1024)
    _assert_one_line(exc, "trajectory.length (adaptive)", "a smaller chunk=")
    # 4096 points x 135 activations x 2 (tangents) x 4 bytes + 1315 parameters x 4 bytes
    assert "x 4,096 points" in str(exc.value)
    res = trajectory.length(net, curve, method="adaptive", n0=16, tol=0.5, max_memory="64MB")
    assert res.lengths[0, 0] == pytest.approx(2.0)


def test_sizes_are_read_from_a_train_mode_batchnorm_model():
    net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2)).train()
    before = net[1].running_mean.clone()
    assert _memory.forward_sizes(net, torch.ones(4)) == (4 + 8 + 8 + 8 + 2, 8)
    # (the probe guard puts buffers back; called bare, the statistics moved)
    assert not torch.equal(before, net[1].running_mean)
