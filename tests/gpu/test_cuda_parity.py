"""Every probe on CUDA gives the CPU's numbers, and leaves the model where it was.

These run only where a CUDA device exists (CI has none, so they skip there); the CPU paths they
compare against are tested everywhere else. Each test builds one model on the CPU, copies it to the
GPU, runs the same probe on both and compares: exact counts must be equal, float64 quantities agree
to 1e-9 relative, float32 ones to 1e-4.
"""

from __future__ import annotations

import copy
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import depthlab
from depthlab import landscape, regions, signal, trajectory
from depthlab.data import Dataset
from depthlab.init import initialize
from depthlab.nets import mlp
from depthlab.testing import assert_unchanged, snapshot
from depthlab.train import TrainConfig
from depthlab.train_batched import fit_batched

# DEPTHLAB_PARITY_DEVICE=cpu runs the same comparisons CPU against CPU (a dry run of this file).
CUDA = torch.device(os.environ.get("DEPTHLAB_PARITY_DEVICE", "cuda"))
pytestmark = pytest.mark.skipif(
    CUDA.type == "cuda" and not torch.cuda.is_available(), reason="needs a CUDA device"
)


def _mlp(widths, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return initialize(mlp(widths), "he_normal", g, sigma_b2=0.01).to(dtype)


def _on_gpu(model):
    return copy.deepcopy(model).to(CUDA)


def _inputs(n, d, seed=1, dtype=torch.float64):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=dtype)


@pytest.mark.parametrize("widths", [[2, 16, 16, 1], [784, 64, 64, 64, 1], [20, 32, 32, 32, 32, 3]])
def test_count_2d_cuda_equals_cpu(widths):
    model = _mlp(widths)
    gpu = _on_gpu(model)
    pts = None if widths[0] == 2 else _inputs(3, widths[0])
    before = snapshot(gpu)
    cpu_r = regions.count_2d(model, pts)
    gpu_r = regions.count_2d(gpu, None if pts is None else pts.to(CUDA))
    assert_unchanged(gpu, before)
    assert gpu_r.n_regions == cpu_r.n_regions
    assert torch.as_tensor(gpu_r.areas).sum().item() == pytest.approx(
        torch.as_tensor(cpu_r.areas).sum().item(), rel=1e-9
    )
    assert sorted(torch.as_tensor(gpu_r.areas).cpu().tolist()) == pytest.approx(
        sorted(torch.as_tensor(cpu_r.areas).cpu().tolist()), rel=1e-7, abs=1e-12
    )


def test_count_1d_batch_and_distance_cuda_equal_cpu():
    model = _mlp([784, 64, 64, 64, 1])
    gpu = _on_gpu(model)
    a, b = _inputs(200, 784, 2), _inputs(200, 784, 3)
    cpu_r = regions.count_1d_batch(model, a, b)
    gpu_r = regions.count_1d_batch(gpu, a.to(CUDA), b.to(CUDA))
    assert torch.equal(torch.as_tensor(gpu_r.n_regions).cpu(), torch.as_tensor(cpu_r.n_regions))
    d_cpu = regions.distance_to_boundary(model, a[:50]).distance
    d_gpu = regions.distance_to_boundary(gpu, a[:50].to(CUDA)).distance
    torch.testing.assert_close(
        torch.as_tensor(d_gpu).cpu(), torch.as_tensor(d_cpu), rtol=1e-9, atol=0
    )


def test_count_1d_exact_cuda_equals_cpu():
    model = _mlp([10, 32, 32, 32, 2])
    gpu = _on_gpu(model)
    x = _inputs(2, 10, 4)
    r_cpu = regions.count_1d(model, x[0], x[1])
    r_gpu = regions.count_1d(gpu, x[0].to(CUDA), x[1].to(CUDA))
    assert r_gpu.n_regions == r_cpu.n_regions
    torch.testing.assert_close(
        torch.as_tensor(r_gpu.breakpoints).cpu(),
        torch.as_tensor(r_cpu.breakpoints),
        rtol=1e-9,
        atol=1e-12,
    )


def test_signal_moments_cuda_match_cpu_in_distribution():
    """On a GPU the inits are drawn by the GPU's generator, so the numbers differ from the CPU's;
    the distribution must not. Compare E[M_d/M_0] and E[(M_d/M_0)^2] within 4 combined SE."""
    kw = dict(n_inits=4000, scheme="he_normal", seed=3, dtype=torch.float64, jacobian=False)
    for engine in ("gaussian", "weights"):
        cpu = signal.moments([16, 16, 16, 16], engine=engine, device="cpu", **kw)
        gpu = signal.moments([16, 16, 16, 16], engine=engine, device=CUDA, **kw)
        assert gpu.engine == cpu.engine and gpu.m.device.type == CUDA.type
        for power in (1, 2):
            a = cpu.ratio[:, -1].pow(power)
            b = gpu.ratio[:, -1].cpu().pow(power)
            se = (a.var() / a.numel() + b.var() / b.numel()).sqrt()
            assert abs(float(a.mean() - b.mean())) < 4 * float(se), (engine, power)


def test_init_is_device_independent_for_a_cpu_generator():
    """depthlab.init draws on the generator's device: the same seed, the same weights anywhere."""
    for scheme in ("he_normal", "trunc_normal_naive", "orthogonal", "torch_trunc_normal"):
        cpu = initialize(mlp([8, 16, 4]), scheme, torch.Generator().manual_seed(5), sigma_b2=0.1)
        gpu = initialize(
            mlp([8, 16, 4]).to(CUDA), scheme, torch.Generator().manual_seed(5), sigma_b2=0.1
        )
        for p, q in zip(cpu.parameters(), gpu.parameters(), strict=True):
            assert q.device.type == CUDA.type
            torch.testing.assert_close(q.cpu(), p, rtol=0, atol=0)


def test_trajectory_cuda_equals_cpu():
    model = _mlp([6, 32, 32, 32, 3])
    gpu = _on_gpu(model)
    x = _inputs(3, 6, 5)
    loop = trajectory.closed_curve(x, "linear")
    loop_gpu = trajectory.closed_curve(x.to(CUDA), "linear")
    r_cpu = trajectory.length(model, loop, method="exact")
    r_gpu = trajectory.length(gpu, loop_gpu, method="exact")
    assert np.array_equal(np.asarray(r_gpu.pieces), np.asarray(r_cpu.pieces))
    torch.testing.assert_close(
        torch.as_tensor(r_gpu.lengths, dtype=torch.float64).cpu(),
        torch.as_tensor(r_cpu.lengths, dtype=torch.float64),
        rtol=1e-9,
        atol=0,
    )


def test_landscape_and_hessian_cuda_equal_cpu():
    model = _mlp([8, 32, 32, 4], dtype=torch.float32)
    gpu = _on_gpu(model)
    x = _inputs(512, 8, 6, torch.float32)
    y = torch.randint(0, 4, (512,), generator=torch.Generator().manual_seed(7))
    dirs = (landscape.random_direction(model, seed=1), landscape.random_direction(model, seed=2))
    dirs_gpu = (landscape.random_direction(gpu, seed=1), landscape.random_direction(gpu, seed=2))
    grid = landscape.Grid.plane(-1, 1, 5)
    before = snapshot(gpu)
    s_cpu = landscape.surface(model, F.cross_entropy, (x, y), dirs, grid)
    s_gpu = landscape.surface(gpu, F.cross_entropy, (x.to(CUDA), y.to(CUDA)), dirs_gpu, grid)
    assert_unchanged(gpu, before)
    torch.testing.assert_close(
        torch.as_tensor(s_gpu.loss).cpu(), torch.as_tensor(s_cpu.loss), rtol=1e-4, atol=1e-5
    )
    h_cpu = landscape.hessian.eigenvalues(model, F.cross_entropy, (x, y), iters=15)
    h_gpu = landscape.hessian.eigenvalues(gpu, F.cross_entropy, (x.to(CUDA), y.to(CUDA)), iters=15)
    assert h_gpu.lambda_max == pytest.approx(h_cpu.lambda_max, rel=1e-3)


def test_doctor_on_cuda_model():
    model = nn.Sequential(
        nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2)
    )
    gpu = _on_gpu(model)
    x = _inputs(4, 8, 8, torch.float32)
    d_cpu = depthlab.diagnose(model, x)
    d_gpu = depthlab.diagnose(gpu, x.to(CUDA))
    assert d_gpu.verdict == d_cpu.verdict
    assert d_gpu.beta == pytest.approx(d_cpu.beta)
    assert len(d_gpu.findings) == len(d_cpu.findings)


def test_fit_batched_cuda_equals_cpu():
    x = _inputs(256, 4, 9)
    y = (x[:, :1] * x[:, 1:2]).to(torch.float64)
    data = Dataset(x, y, x[:64], y[:64], "regression", {"name": "toy"})
    cfg = TrainConfig(epochs=3, batch_size=64, lr=1e-2, optimizer="adam", loss="mse")
    models = [_mlp([4, 16, 1], seed=s) for s in range(4)]
    gens = [torch.Generator().manual_seed(s) for s in range(4)]
    r_cpu = fit_batched(models, data, cfg, generators=gens)
    data_gpu = data.to(CUDA)
    gens = [torch.Generator().manual_seed(s) for s in range(4)]
    models = [_on_gpu(_mlp([4, 16, 1], seed=s)) for s in range(4)]
    r_gpu = fit_batched(models, data_gpu, cfg, generators=gens)
    for k in r_cpu.params:
        torch.testing.assert_close(r_gpu.params[k].cpu(), r_cpu.params[k], rtol=1e-7, atol=1e-9)
