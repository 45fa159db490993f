"""Probe contract: the any-model moments path leaves the user's model exactly as it was."""

import torch

from depthlab.nets import mlp
from depthlab.signal import moments
from depthlab.testing import unchanged


def test_any_model_moments_leaves_model_unchanged():
    model = mlp([6, 8, 8, 3])
    model.train()
    model[0].weight.grad = torch.ones_like(model[0].weight)
    x = torch.randn(4, 6, generator=torch.Generator().manual_seed(0))
    with unchanged(model):
        # a factory that hands back the user's own instance must not let us re-initialize it
        r = moments(lambda: model, n_inits=5, x=x, seed=0)
    assert r.m.shape == (5, 4)
    with unchanged(model):
        r2 = moments(model, n_inits=3, x=x, seed=0, jacobian=False)  # a module instance
    assert r2.m.shape == (3, 4) and r2.jac2 is None


def test_any_model_moments_is_deterministic_under_a_seed():
    x = torch.randn(2, 6, generator=torch.Generator().manual_seed(0))
    a = moments(lambda: mlp([6, 8, 3]), n_inits=4, x=x, seed=5)
    b = moments(lambda: mlp([6, 8, 3]), n_inits=4, x=x, seed=5)
    torch.testing.assert_close(a.m, b.m, rtol=0, atol=0)
    torch.testing.assert_close(a.jac4, b.jac4, rtol=0, atol=0)
