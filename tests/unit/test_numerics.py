"""NaN/Inf stop a run with a message naming the layer or step; checkpoints load weights only."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from depthlab.checkpoint import UnsafeCheckpointError, load_checkpoint, load_state_into
from depthlab.numerics import (
    NonFiniteError,
    check_finite,
    first_nonfinite_parameter,
    locate_nonfinite,
)
from depthlab.testing import unchanged


class Log(nn.Module):
    def forward(self, x):
        return torch.log(x)


def model_with_log() -> nn.Sequential:
    g = torch.Generator().manual_seed(0)
    lin = nn.Linear(3, 4)
    with torch.no_grad():
        lin.weight.copy_(torch.randn(4, 3, generator=g))
        lin.bias.zero_()
    return nn.Sequential(lin, nn.BatchNorm1d(4), Log(), nn.Linear(4, 1))


def test_locate_names_the_layer_that_made_the_nan():
    model = model_with_log().train()
    x = torch.randn(16, 3, generator=torch.Generator().manual_seed(1))
    with unchanged(model):
        bad = locate_nonfinite(model, x)
    assert bad is not None
    assert (bad.index, bad.name, bad.kind) == (2, "2", "Log")
    assert bad.input_finite and bad.n_nan > 0
    assert "layer 2 '2' (Log)" in str(bad)


def test_locate_returns_none_for_a_finite_model():
    model = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 1))
    assert locate_nonfinite(model, torch.ones(2, 3)) is None


def test_check_finite_and_parameter_scan():
    check_finite(torch.ones(3), "x")
    with pytest.raises(NonFiniteError, match=r"curve length is not finite: 1 NaN and 1 Inf"):
        check_finite(torch.tensor([1.0, math.nan, math.inf]), "curve length")
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
    assert first_nonfinite_parameter(model) is None
    with torch.no_grad():
        model[1].weight[0, 0] = math.inf
    assert first_nonfinite_parameter(model) == "1.weight"


def test_training_that_diverges_names_step_and_parameter():
    from depthlab.data.base import Dataset
    from depthlab.train import TrainConfig, fit

    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 2, generator=g)
    data = Dataset(x, x.sum(1, keepdim=True), x, x.sum(1, keepdim=True), task="regression")
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 1))
    cfg = TrainConfig(epochs=50, lr=1e6, optimizer="sgd", batch_size=16, loss="mse")
    with pytest.raises(FloatingPointError) as err:
        fit(model, data, cfg, generator=g)
    msg = str(err.value)
    assert ", step " in msg and ("parameter" in msg or "layer" in msg or "overflowed" in msg)


def test_checkpoints_load_weights_only(tmp_path):
    model = nn.Linear(3, 2)
    torch.save(model.state_dict(), tmp_path / "ok.pt")
    fresh = load_state_into(nn.Linear(3, 2), tmp_path / "ok.pt")
    assert torch.equal(fresh.weight, model.weight)
    torch.save(model, tmp_path / "whole.pt")  # a pickled module: code could run on load
    with pytest.raises(UnsafeCheckpointError, match="state_dict"):
        load_checkpoint(tmp_path / "whole.pt")
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")
