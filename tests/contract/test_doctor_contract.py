"""Probe contract: the doctor leaves the user's model exactly as it found it."""

import torch

from depthlab.init import initialize
from depthlab.nets import mlp, resnet1d
from depthlab.probes.doctor import diagnose
from depthlab.testing import unchanged


def test_doctor_leaves_an_mlp_unchanged():
    model = initialize(mlp([20, 30, 30, 4]), "trunc_normal_naive", torch.Generator().manual_seed(0))
    model.train()
    model[0].weight.grad = torch.zeros_like(model[0].weight)
    with unchanged(model):
        d = diagnose(model)
    assert len(d.layers) == 3


def test_doctor_leaves_a_batchnorm_resnet_unchanged():
    model = resnet1d(blocks=2, channels=8)
    model.train()
    x = torch.randn(3, 40, generator=torch.Generator().manual_seed(1))
    with unchanged(model):
        diagnose(model, x)
