import torch
from torch import nn

from depthlab import nets
from depthlab.batched import batched_forward, stack_models
from depthlab.init import initialize
from depthlab.testing import unchanged
from depthlab.walk import walk, weight_layers


def test_walk_lists_layers_in_execution_order_with_fans():
    m = nets.resnet1d(blocks=3, skip=True)
    m.train()
    with unchanged(m):
        layers = walk(m, torch.randn(2, 40))
    kinds = [li.kind for li in layers]
    assert kinds[:3] == ["Conv1d", "BatchNorm1d", "ReLU"]
    assert kinds[-1] == "Linear"
    convs = weight_layers(m, torch.randn(2, 40))
    assert convs[0].fan_in == 3 and convs[-1].fan_in == m.fc.in_features


def test_batched_forward_equals_each_model():
    models = []
    for s in range(5):
        m = nets.mlp([3, 8, 8, 2], activation="tanh")
        initialize(m, "he_normal", torch.Generator().manual_seed(s))
        models.append(m)
    params, buffers = stack_models(models)
    x = torch.randn(7, 3)
    out = batched_forward(models[0], params, x, buffers)
    assert out.shape == (5, 7, 2)
    for k, m in enumerate(models):
        assert torch.allclose(out[k], m(x), atol=1e-6)


def test_unchanged_detects_a_mutation_and_a_leftover_hook():
    m = nn.Linear(2, 2)
    try:
        with unchanged(m):
            with torch.no_grad():
                m.weight.add_(1.0)
        raise RuntimeError("mutation not detected")
    except AssertionError as e:
        assert "weight" in str(e)
    try:
        with unchanged(m):
            m.register_forward_hook(lambda *a: None)
        raise RuntimeError("hook not detected")
    except AssertionError as e:
        assert "hooks" in str(e)
