import pytest
import torch

from depthlab import data, fit, nets
from depthlab.init import initialize
from depthlab.train import TrainConfig, evaluate


def _setup(seed=0):
    ds = data.digits(seed=0)
    model = nets.mlp([64, 32, 10])
    initialize(model, "he_normal", torch.Generator().manual_seed(seed))
    return ds, model


def test_training_on_digits_learns_and_is_deterministic():
    ds, m1 = _setup()
    _, m2 = _setup()
    cfg = TrainConfig(epochs=3, lr=3e-3, batch_size=64)
    r1 = fit(m1, ds, cfg, generator=torch.Generator().manual_seed(5))
    r2 = fit(m2, ds, cfg, generator=torch.Generator().manual_seed(5))
    assert r1.final["test_acc"] > 0.7  # far above chance (0.1) after 3 epochs
    assert r1.history["test_loss"].tolist() == r2.history["test_loss"].tolist()
    assert list(r1.history.columns[:4]) == ["epoch", "step", "train_loss", "test_loss"]


def test_target_metric_stops_early():
    ds, m = _setup()
    r = fit(m, ds, TrainConfig(epochs=50, lr=3e-3, batch_size=64, target_metric=0.8))
    assert r.reached_at_epoch is not None and r.reached_at_epoch < 50
    assert len(r.history) == r.reached_at_epoch


def test_patience_and_max_steps():
    ds, m = _setup()
    r = fit(m, ds, TrainConfig(epochs=50, lr=1e-9, patience=2))
    assert len(r.history) <= 4
    _, m = _setup()
    r = fit(m, ds, TrainConfig(epochs=50, batch_size=100, max_steps=7))
    assert r.steps == 7


@pytest.mark.parametrize("schedule", ["cosine", "step"])
def test_schedules_lower_the_lr(schedule):
    ds, m = _setup()
    r = fit(m, ds, TrainConfig(epochs=4, lr=0.1, optimizer="sgd", schedule=schedule, step_size=2))
    assert r.history["lr"].iloc[-1] < 0.1


def test_logit_matching_loss_fits_teacher_logits():
    ds, teacher = _setup(1)
    with torch.no_grad():
        z = teacher(ds.x_train)
    _, student = _setup(2)
    before = float(((student(ds.x_train) - z) ** 2).sum(1).mean())
    fit(student, ds, TrainConfig(epochs=5, lr=3e-3, loss="logit_l2"), targets=z)
    after = float(((student(ds.x_train) - z) ** 2).sum(1).mean())
    assert after < 0.2 * before
    with pytest.raises(ValueError, match="targets="):
        fit(student, ds, TrainConfig(loss="logit_l2"))


def test_nan_loss_raises_naming_the_step():
    ds, m = _setup()
    with pytest.raises(FloatingPointError, match="epoch 1, step 0"):
        fit(
            m,
            ds,
            TrainConfig(lr=1e30, optimizer="sgd", loss="mse"),
            targets=torch.full((len(ds.x_train), 10), float("nan")),
        )


def test_evaluate_restores_mode():
    ds, m = _setup()
    m.train()
    res = evaluate(m, ds.x_test, ds.y_test)
    assert m.training and 0 <= res["acc"] <= 1


def test_bad_train_config_key():
    with pytest.raises(ValueError, match="extra"):
        TrainConfig(lrr=0.1)
