import math

import torch

from depthlab.experiments.resnet_degradation import _grad_ratio
from depthlab.init import initialize
from depthlab.nets import resnet1d
from depthlab.runs import run_experiment
from depthlab.testing import unchanged


def test_grad_ratio_is_the_norm_ratio_and_leaves_the_net_alone():
    net = resnet1d(blocks=2, channels=4, skip=False).eval()
    initialize(net, "he_normal", torch.Generator().manual_seed(0))
    x, y = torch.randn(16, 40, generator=torch.Generator().manual_seed(1)), torch.arange(16) % 10
    with unchanged(net):
        r = _grad_ratio(net, x, y)
    ref = resnet1d(blocks=2, channels=4, skip=False)
    ref.load_state_dict(net.state_dict())
    ref.train()
    loss = torch.nn.functional.cross_entropy(ref(x), y)
    loss.backward()
    assert math.isclose(
        r, float(ref.stem[0].weight.grad.norm() / ref.fc.weight.grad.norm()), rel_tol=1e-5
    )


def test_degradation_experiment_tiny_run(tmp_path):
    res = run_experiment(
        "resnet-degradation",
        {
            "blocks": [1, 2],
            "ref_blocks": 1,
            "seeds": 2,
            "channels": 4,
            "epochs": 1,
            "n_train": 64,
            "n_test": 32,
        },
        out_dir=tmp_path,
    )
    t = res.tables["nets"]
    assert sorted(set(t["blocks"])) == [1, 2] and set(t["skip"]) == {True, False}
    assert (t["conv_layers"] == 2 * t["blocks"] + 1).all()
    assert t["train_loss"].between(0, 20).all() and t["grad_ratio_init"].gt(0).all()
    assert [c.id for c in res.claims] == [
        "he-2016.plain-degrades",
        "he-2016.residual-no-degradation",
        "he-2016.shortcuts-win-at-depth",
    ]
    assert (tmp_path / res.figures["degradation"]).stat().st_size > 0
