"""Probe contract: landscape and Hessian probes leave the user's model exactly as they found it."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from depthlab import landscape
from depthlab.landscape import hessian
from depthlab.nets import resnet1d
from depthlab.testing import unchanged

CE = F.cross_entropy


def _model_in_training_state():
    torch.manual_seed(0)
    model = resnet1d(blocks=2, channels=4, skip=True)
    x = torch.randn(48, 40)
    y = torch.randint(0, 10, (48,))
    model.train()
    CE(model(x), y).backward()  # grads present, BN stats moved, train mode: all must survive
    return model, x, y


def test_surface_and_directions_leave_the_model_unchanged(tmp_path):
    model, x, y = _model_in_training_state()
    other, _, _ = _model_in_training_state()
    with unchanged(model):
        d1 = landscape.random_direction(model, seed=0)
        d2 = landscape.target_direction(model, other)
        landscape.pca_directions(model, [other.state_dict(), dict(model.named_parameters()), other])
        grid = landscape.Grid.plane(-1, 1, 2)
        for opts in (
            landscape.SurfaceOptions(),
            landscape.SurfaceOptions(recompute_bn=True),
            landscape.SurfaceOptions(eval_mode=False, points_per_call=2),
            landscape.SurfaceOptions(autocast_bf16=True, data_on_device=False, batch_size=16),
        ):
            landscape.surface(
                model, CE, (x, y), (d1, d2), grid, options=opts, checkpoint=tmp_path / "c.pt"
            )
            (tmp_path / "c.pt").unlink()


def test_surface_is_deterministic_and_batch_size_independent():
    model, x, y = _model_in_training_state()
    d = landscape.random_direction(model, seed=1)
    grid = landscape.Grid.line(-1, 1, 3)
    a = landscape.surface(
        model, CE, (x, y), d, grid, options=landscape.SurfaceOptions(batch_size=48)
    )
    b = landscape.surface(
        model, CE, (x, y), d, grid, options=landscape.SurfaceOptions(batch_size=48)
    )
    c = landscape.surface(
        model, CE, (x, y), d, grid, options=landscape.SurfaceOptions(batch_size=7)
    )
    assert torch.equal(a.loss, b.loss)
    torch.testing.assert_close(a.loss, c.loss, rtol=1e-6, atol=0)


def test_hessian_probes_leave_the_model_unchanged():
    model, x, y = _model_in_training_state()
    with unchanged(model):
        hessian.eigenvalues(model, CE, (x, y), iters=3)
        hessian.trace(model, CE, (x, y), samples=2)
        d = landscape.random_direction(model, seed=0)
        hessian.curvature_map(model, CE, (x, y), d, landscape.Grid((0.0, 1.0)), iters=2)
