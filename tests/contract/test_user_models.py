"""Users' own models through every applicable probe (issue 17 item 4).

Four models built without network (tests/helpers/user_models.py): an MLP with LayerNorm and
GELU, a CNN with BatchNorm and max pool, a small ``nn.TransformerEncoder`` (batch_first, 2
layers, d_model 16) with a linear head, and ResNet-18 (torchvision's code when it imports, else
the architecture written out) at a 16x16 input with batch 2. Each runs the trajectory length,
the signal moments, a 3x3 loss surface and the Hessian's extreme eigenvalues, the exact region
counts where the model is piecewise linear (and a one-line refusal where it is not), and the
doctor, at tiny sizes, asserting real numbers: finite values of the right shapes, the surface's
centre equal to the model's own loss, the input length of a segment equal to its length, the
first signal moment equal to the input's. ResNet-18's exact trace is refused by the memory
guard (its planned ~40 GiB at a 16x16 input exceeds an 8 GB budget) before it allocates.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from depthlab import landscape, pl, regions, signal, trajectory
from depthlab.probes import doctor
from depthlab.probes._memory import MemoryBudgetError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "helpers"))
import user_models as um

#: name -> (factory, input shape without batch, piecewise linear?)
MODELS = {
    "mlp_ln_gelu": (um.mlp_ln_gelu, (6,), False),
    "cnn_bn_maxpool": (um.cnn_bn_maxpool, (2, 8, 8), True),
    "transformer": (um.transformer, (4, 16), False),
    "resnet18": (um.resnet18, (3, 16, 16), True),
}


def _setup(name: str):
    factory, shape, is_pl = MODELS[name]
    model = factory().eval()
    g = torch.Generator().manual_seed(11)
    x = torch.randn(2, *shape, generator=g)
    y = torch.tensor([0, 2])
    return factory, model, x, y, is_pl


@pytest.mark.parametrize("name", list(MODELS))
def test_trajectory_length(name):
    _, model, x, _, is_pl = _setup(name)
    curve = trajectory.segment(x[0], x[1])
    res = trajectory.length(model, curve, method="adaptive", n0=8, max_points=32, tol=0.5)
    assert res.lengths.shape[0] == 1 and res.lengths.shape[1] >= 3
    assert np.isfinite(res.lengths).all() and (res.lengths[0, 1:] > 0).all()
    assert res.lengths[0, 0] == pytest.approx(float((x[1] - x[0]).norm()), rel=1e-5)
    if is_pl and name != "resnet18":
        exact = trajectory.length(model, curve, method="exact")
        assert exact.method == "exact" and np.isfinite(exact.lengths).all()
        assert exact.lengths[0, 0] == pytest.approx(res.lengths[0, 0], rel=1e-5)
        assert (exact.pieces >= 1).all()


def test_resnet18_exact_trace_is_refused_before_allocating():
    _, model, x, _, _ = _setup("resnet18")
    curve = trajectory.segment(x[0], x[1])
    with pytest.raises(MemoryBudgetError) as exc:
        trajectory.length(model, curve, method="exact", max_memory="8GB")
    msg = str(exc.value)
    assert "\n" not in msg and "above the memory budget of 8.0 GiB (max_memory=)" in msg
    assert "GiB (" in msg.split("needs about ")[1]  # tens of GiB planned
    with pytest.raises(MemoryBudgetError, match=r"regions\.count_1d: needs about"):
        regions.count_1d(model, x[0], x[1], max_memory="8GB")


@pytest.mark.parametrize("name", list(MODELS))
def test_signal_moments(name):
    factory, _, x, _, _ = _setup(name)
    res = signal.moments(factory, 2, x=x, jacobian=False, seed=0)
    assert res.m.shape[0] == 2 and res.m.shape[1] >= 3
    assert torch.isfinite(res.m).all() and (res.m > 0).all()
    # M_0 = ||x||^2 / n_0 over the batch at the first weight layer's input, the same for every
    # init: the input itself, except in the post-norm transformer, where that layer (linear1)
    # reads a LayerNorm output (mean square 1)
    m0 = 1.0 if name == "transformer" else float(x.pow(2).mean())
    assert res.m[:, 0].tolist() == pytest.approx([m0] * 2, rel=1e-4)


@pytest.mark.parametrize("name", list(MODELS))
def test_landscape_surface_and_hessian(name):
    _, model, x, y, _ = _setup(name)
    d1 = landscape.random_direction(model, seed=0)
    d2 = landscape.random_direction(model, seed=1)
    s = landscape.surface(model, F.cross_entropy, (x, y), (d1, d2), landscape.Grid.plane(-1, 1, 3))
    assert tuple(s.loss.shape) == (3, 3) and torch.isfinite(s.loss).all()
    with torch.no_grad():
        own = float(F.cross_entropy(model(x), y))
    assert float(s.loss[1, 1]) == pytest.approx(own, rel=1e-4)
    assert float(s.loss.max()) > own  # moving a whole filter norm away raises the loss somewhere
    spec = landscape.hessian.eigenvalues(model, F.cross_entropy, (x, y), iters=3)
    assert math.isfinite(spec.lambda_max) and math.isfinite(spec.lambda_min)
    assert spec.lambda_max >= spec.lambda_min and spec.lambda_max > 0
    assert spec.dim == sum(p.numel() for p in model.parameters())
    assert spec.loss == pytest.approx(own, rel=1e-4)


@pytest.mark.parametrize("name", ["cnn_bn_maxpool", "mlp_ln_gelu", "transformer"])
def test_regions(name):
    _, model, x, _, is_pl = _setup(name)
    if not is_pl:
        with pytest.raises(pl.UnsupportedLayerError, match="LayerNorm"):
            regions.count_1d(model, x[0], x[1], batch=False)
        return
    r1 = regions.count_1d(model, x[0], x[1])
    t = r1.breakpoints.numpy()
    assert r1.n_regions >= 2 and len(t) == r1.n_regions - 1
    assert (t > 0).all() and (t < 1).all() and (np.diff(t) > 0).all()
    assert r1.length == pytest.approx(float((x[1] - x[0]).norm()), rel=1e-6)
    with torch.no_grad():  # the traced outputs at the ends are the model's own
        ends = model(torch.stack([x[0], x[1]]).double().float()).double()
    assert torch.allclose(r1.outputs[[0, -1]].double(), ends, rtol=1e-4, atol=1e-5)
    x3 = torch.cat([x, torch.randn(1, *x.shape[1:], generator=torch.Generator().manual_seed(5))])
    r2 = regions.count_2d(model, x3, window=(-0.05, 0.05, -0.05, 0.05), max_regions=20_000)
    assert r2.window_area == pytest.approx(0.01) and 2 <= r2.n_regions < 20_000


@pytest.mark.parametrize("name", list(MODELS))
def test_doctor(name):
    _, model, x, _, _ = _setup(name)
    d = doctor.diagnose(model, x)
    assert d.verdict == "healthy", d.summary()
    assert all(math.isfinite(r.var) and r.var > 0 for r in d.layers)
    assert math.isfinite(d.mean_drift) and d.layers[-1].verdict == "info"
    if name == "transformer":
        assert sum("self_attn" in r.name for r in d.layers) == 4
    if name == "resnet18":
        assert len(d.layers) == 21  # 20 convolutions (3 of them 1x1 shortcuts) and the fc
