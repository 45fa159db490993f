import copy

import pytest
import torch

from depthlab import nets
from depthlab.data.base import Dataset
from depthlab.init import initialize
from depthlab.train import TrainConfig, fit
from depthlab.train_batched import fit_batched


def _models(k, widths, activation="tanh", dtype=torch.float64):
    out = []
    for s in range(k):
        m = nets.mlp(widths, activation=activation).to(dtype)
        initialize(m, "he_normal", torch.Generator().manual_seed(100 + s), sigma_b2=0.01)
        out.append(m)
    return out


def _classification(dtype=torch.float64, n=96, d=5, c=3):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n + 40, d, generator=g, dtype=dtype)
    y = (x[:, :c] + 0.3 * torch.randn(n + 40, c, generator=g, dtype=dtype)).argmax(dim=1)
    return Dataset(x[:n], y[:n], x[n:], y[n:], "classification", {"num_classes": c})


def _regression(dtype=torch.float64, n=80, d=3):
    g = torch.Generator().manual_seed(1)
    x = torch.rand(n + 30, d, generator=g, dtype=dtype)
    y = x.prod(dim=1, keepdim=True)
    return Dataset(x[:n], y[:n], x[n:], y[n:], "regression", {})


def _sequential(models, data, cfg, seeds, **kw):
    results = []
    for m, s in zip(models, seeds, strict=True):
        results.append(fit(m, data, cfg, generator=torch.Generator().manual_seed(s), **kw))
    return results


@pytest.mark.parametrize(
    "cfg",
    [
        TrainConfig(optimizer="adam", lr=1e-2, epochs=4, batch_size=32),
        TrainConfig(
            optimizer="sgd",
            lr=5e-2,
            momentum=0.9,
            epochs=3,
            batch_size=20,
            weight_decay=1e-3,
            schedule="cosine",
        ),
        TrainConfig(
            optimizer="adam",
            lr=3e-3,
            epochs=4,
            batch_size=50,
            schedule="step",
            step_size=2,
            gamma=0.5,
            weight_decay=1e-4,
        ),
    ],
)
def test_batched_training_equals_sequential_runs_in_float64(cfg):
    data = _classification()
    seeds = [3, 4, 5, 6]
    seq_models = _models(4, [5, 7, 6, 3])
    bat_models = copy.deepcopy(seq_models)
    seq = _sequential(seq_models, data, cfg, seeds)
    bat = fit_batched(
        bat_models, data, cfg, generators=[torch.Generator().manual_seed(s) for s in seeds]
    )
    for j, (ms, mb) in enumerate(zip(seq_models, bat_models, strict=True)):
        for (n, ps), pb in zip(ms.named_parameters(), mb.parameters(), strict=True):
            assert torch.allclose(ps, pb, rtol=1e-9, atol=1e-11), (j, n)
        hist_b = bat.history[bat.history.model == j].reset_index(drop=True)
        for col in ("train_loss", "test_loss", "test_acc", "lr", "step", "epoch"):
            assert hist_b[col].to_numpy() == pytest.approx(
                seq[j].history[col].to_numpy(), rel=1e-9, abs=1e-12
            ), col


def test_batched_training_matches_in_float32_to_float_tolerance():
    data = _regression(dtype=torch.float32)
    cfg = TrainConfig(optimizer="adam", lr=1e-2, epochs=5, batch_size=16, loss="mse")
    seq_models = _models(3, [3, 8, 8, 1], dtype=torch.float32)
    bat_models = copy.deepcopy(seq_models)
    _sequential(seq_models, data, cfg, [0, 1, 2])
    fit_batched(
        bat_models, data, cfg, generators=[torch.Generator().manual_seed(s) for s in (0, 1, 2)]
    )
    for ms, mb in zip(seq_models, bat_models, strict=True):
        for ps, pb in zip(ms.parameters(), mb.parameters(), strict=True):
            assert torch.allclose(ps, pb, rtol=1e-4, atol=1e-5)


def test_per_model_early_stopping_is_masked_like_sequential_runs():
    data = _regression()
    # Models stop at different epochs: the target is met by some earlier than others.
    cfg = TrainConfig(
        optimizer="adam",
        lr=2e-2,
        epochs=30,
        batch_size=16,
        loss="mse",
        target_metric=6e-3,
        patience=4,
    )
    seeds = [0, 1, 2, 3, 4]
    seq_models = _models(5, [3, 6, 1])
    bat_models = copy.deepcopy(seq_models)
    seq = _sequential(seq_models, data, cfg, seeds)
    bat = fit_batched(
        bat_models, data, cfg, generators=[torch.Generator().manual_seed(s) for s in seeds]
    )
    stops = [r.final["epoch"] for r in seq]
    assert len(set(stops)) > 1  # the masking is exercised
    assert [f["epoch"] for f in bat.finals] == stops
    assert bat.steps == [r.steps for r in seq]
    assert bat.reached_at_epoch == [r.reached_at_epoch for r in seq]
    for ms, mb in zip(seq_models, bat_models, strict=True):
        for ps, pb in zip(ms.parameters(), mb.parameters(), strict=True):
            assert torch.allclose(ps, pb, rtol=1e-9, atol=1e-11)


def test_custom_loss_and_targets_match_sequential_logit_regression():
    data = _classification()
    z = torch.randn(
        len(data.x_train), 3, generator=torch.Generator().manual_seed(9), dtype=torch.float64
    )
    cfg = TrainConfig(lr=1e-2, epochs=3, batch_size=32, loss="logit_l2")
    seq_models = _models(2, [5, 6, 3])
    bat_models = copy.deepcopy(seq_models)
    _sequential(seq_models, data, cfg, [7, 8], targets=z)
    fit_batched(
        bat_models,
        data,
        cfg,
        targets=z,
        generators=[torch.Generator().manual_seed(s) for s in (7, 8)],
    )
    for ms, mb in zip(seq_models, bat_models, strict=True):
        for ps, pb in zip(ms.parameters(), mb.parameters(), strict=True):
            assert torch.allclose(ps, pb, rtol=1e-9, atol=1e-11)


def test_batched_rejects_mixed_architectures_and_batchnorm():
    data = _regression()
    with pytest.raises(ValueError, match="one architecture"):
        fit_batched([nets.mlp([3, 4, 1]), nets.mlp([3, 5, 1])], data)
    with pytest.raises(ValueError, match="BatchNorm"):
        fit_batched([torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))], data)
