import sys

import pytest
import torch
from torch import nn

from depthlab import nets
from depthlab.config import ConfigError
from depthlab.data.base import Dataset
from depthlab.init import initialize
from depthlab.mimic import Teacher, bottleneck_mlp, kd_loss, l2_logit_loss, mimic
from depthlab.testing import unchanged
from depthlab.train import TrainConfig


def _data(n=120, d=6, c=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n + 60, d, generator=g, dtype=torch.float64)
    y = (x[:, :c] + 0.2 * torch.randn(n + 60, c, generator=g, dtype=torch.float64)).argmax(1)
    return Dataset(x[:n], y[:n], x[n:], y[n:], "classification", {"num_classes": c})


def _net(widths, seed):
    m = nets.mlp(widths, activation="tanh").to(torch.float64)
    initialize(m, "lecun_normal", torch.Generator().manual_seed(seed))
    return m


def test_ensemble_teacher_logits_are_the_mean_and_leave_members_unchanged():
    a, b = _net([6, 5, 3], 0), _net([6, 5, 3], 1)
    a.train()
    x = torch.randn(10, 6, dtype=torch.float64)
    t = Teacher([a, b])
    with unchanged(a), unchanged(b):
        z = t.logits(x)
    assert a.training  # mode restored
    assert torch.allclose(z, (a(x) + b(x)) / 2)
    assert t.logits(x) is z  # cached: the same inputs are not labelled twice


def test_l2_loss_is_half_the_summed_squared_logit_error():
    out = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    z = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    # (1 + 4) / 2 and (1 + 1) / 2, averaged: (2.5 + 1) / 2
    assert float(l2_logit_loss(out, z)) == pytest.approx(1.75)


def test_kd_loss_is_zero_at_the_teacher_and_matches_kl_times_tau_squared():
    z = torch.randn(5, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert float(kd_loss(3.0)(z, z)) == pytest.approx(0.0, abs=1e-12)
    out = z + 0.5
    out[:, 0] -= 1.0
    ref = 9.0 * torch.nn.functional.kl_div(
        torch.log_softmax(out / 3, 1), torch.softmax(z / 3, 1), reduction="batchmean"
    )
    assert float(kd_loss(3.0)(out, z)) == pytest.approx(float(ref), rel=1e-10)


def test_mimic_student_regresses_teacher_logits_like_fit_with_targets():
    data = _data()
    teacher = _net([6, 16, 3], 5)
    cfg = TrainConfig(lr=1e-2, epochs=3, batch_size=32)
    s1, s2 = _net([6, 4, 3], 9), _net([6, 4, 3], 9)
    res = mimic(s1, teacher, data, cfg, generators=[torch.Generator().manual_seed(3)])
    from depthlab.train import fit

    with torch.no_grad():
        z = teacher(data.x_train)
    fit(
        s2,
        data,
        cfg.model_copy(update={"loss": "logit_l2"}),
        targets=z,
        generator=torch.Generator().manual_seed(3),
    )
    for p1, p2 in zip(s1.parameters(), s2.parameters(), strict=True):
        assert torch.allclose(p1, p2, rtol=1e-9, atol=1e-11)
    assert len(res.test_acc) == 1 and 0 <= res.test_acc[0] <= 1
    assert res.to_frame().shape[0] == 1


def test_mimic_with_extra_inputs_labels_them_with_the_teacher():
    data = _data()
    teacher = _net([6, 16, 3], 5)
    extra = torch.randn(50, 6, dtype=torch.float64)
    res = mimic(
        [_net([6, 4, 3], s) for s in range(3)],
        [teacher, _net([6, 16, 3], 6)],
        data,
        TrainConfig(lr=1e-2, epochs=2, batch_size=64),
        loss="kd",
        extra_inputs=extra,
    )
    assert res.n_inputs == 170 and len(res.test_acc) == 3 and res.loss == "kd"
    with pytest.raises(ValueError, match="extra_inputs have shape"):
        mimic(_net([6, 4, 3], 0), teacher, data, extra_inputs=torch.zeros(3, 5))
    with pytest.raises(ValueError, match="allowed: l2, kd"):
        mimic(_net([6, 4, 3], 0), teacher, data, loss="ce")


def test_bottleneck_factorises_the_input_layer_through_k_linear_units():
    m = bottleneck_mlp(40, 8, 100, 10)
    linears = [layer for layer in m if isinstance(layer, nn.Linear)]
    assert [(lin.in_features, lin.out_features) for lin in linears] == [
        (40, 8),
        (8, 100),
        (100, 10),
    ]
    assert linears[0].bias is None
    assert not isinstance(m[2], (nn.ReLU, nn.Tanh))  # the k units are linear
    assert m(torch.randn(3, 40)).shape == (3, 10)


def test_mimic_experiment_on_cifar10_without_torchvision_names_the_fix(tmp_path, monkeypatch):
    from depthlab.runs import run_experiment

    monkeypatch.setitem(sys.modules, "torchvision", None)  # import torchvision -> ImportError
    monkeypatch.setenv("DEPTHLAB_DATA", str(tmp_path / "no-cifar"))  # not a copy the user has
    with pytest.raises(ConfigError, match=r"dataset='cifar10'.*torchvision"):
        run_experiment("mimic", {"dataset": "cifar10"}, out_dir=tmp_path, quick=True)
    with pytest.raises(ConfigError, match="dataset"):
        run_experiment("mimic", {"dataset": "imagenet"}, out_dir=tmp_path, quick=True)
