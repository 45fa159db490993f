"""The trajectory probe leaves the model exactly as it found it."""

import torch

from depthlab import nets, trajectory
from depthlab.testing import unchanged


def _touched(model):
    model.train()
    out = model(torch.randn(3, model.widths[0])).sum()
    out.backward()  # the probe must keep these grads as they are
    return model


def test_adaptive_probe_does_not_modify_the_model():
    model = _touched(nets.mlp([3, 8, 8, 2], activation="tanh"))
    c = trajectory.great_circle(torch.tensor([1.0, 0, 0]), torch.tensor([0.0, 1, 0]))
    with unchanged(model):
        trajectory.length(model, c, curvature=True)
    assert model.training


def test_exact_probe_does_not_modify_the_model():
    model = _touched(nets.mlp([3, 8, 8, 2], activation="relu"))
    c = trajectory.segment(torch.zeros(3), torch.ones(3))
    with unchanged(model):
        res = trajectory.length(model, c)
    assert res.method == "exact"
