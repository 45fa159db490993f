"""count_2d and distance_to_boundary with MaxPool on CUDA give the CPU's numbers, and stay there.

Runs only where a CUDA device exists (``DEPTHLAB_PARITY_DEVICE=cpu`` dry-runs it CPU against CPU);
the CPU path is checked against a float64 reference in tests/unit/test_regions_maxpool.py.
"""

from __future__ import annotations

import copy
import os

import pytest
import torch
from torch import nn

from depthlab import regions
from depthlab.testing import assert_unchanged, snapshot

CUDA = torch.device(os.environ.get("DEPTHLAB_PARITY_DEVICE", "cuda"))
pytestmark = pytest.mark.skipif(
    CUDA.type == "cuda" and not torch.cuda.is_available(), reason="needs a CUDA device"
)


def _seeded(net, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * (0.8 if p.dim() > 1 else 0.3))
    return net


CASES = {
    "conv2d-overlap": (
        lambda: nn.Sequential(
            nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, stride=1), nn.Flatten(),
            nn.Linear(3 * 4 * 4, 8), nn.ReLU(), nn.Linear(8, 1),
        ),
        (1, 5, 5),
    ),
    "conv1d-padded": (
        lambda: nn.Sequential(
            nn.Conv1d(2, 4, 3, padding=1), nn.ReLU(), nn.MaxPool1d(3, stride=2, padding=1),
            nn.Flatten(), nn.Linear(4 * 5, 1),
        ),
        (2, 10),
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", list(CASES))
def test_count_2d_and_distance_with_maxpool_cuda_equal_cpu(name):
    make, shape = CASES[name]
    model = _seeded(make(), 0).double()
    gpu = copy.deepcopy(model).to(CUDA)
    pts = torch.randn(3, *shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    before = snapshot(gpu)
    cpu_r = regions.count_2d(model, pts)
    gpu_r = regions.count_2d(gpu, pts.to(CUDA))
    x = pts[:1] + 0.1 * torch.randn(16, *shape, generator=torch.Generator().manual_seed(2))
    d_cpu = regions.distance_to_boundary(model, x)
    d_gpu = regions.distance_to_boundary(gpu, x.to(CUDA))
    assert_unchanged(gpu, before)
    # results stay on the model's device
    assert gpu_r.vertices.device.type == gpu_r.patterns.device.type == CUDA.type
    assert d_gpu.distance.device.type == CUDA.type
    assert gpu_r.n_regions == cpu_r.n_regions > 50
    assert gpu_r.euler_characteristic() == 1
    assert float(gpu_r.areas.sum()) == pytest.approx(float(cpu_r.areas.sum()), rel=1e-9)
    assert {tuple(p) for p in gpu_r.patterns.long().cpu().tolist()} == {
        tuple(p) for p in cpu_r.patterns.long().tolist()
    }
    assert torch.allclose(d_gpu.distance.cpu(), d_cpu.distance, rtol=1e-9, atol=0)
    assert torch.equal(d_gpu.nearest_site.cpu(), d_cpu.nearest_site)
