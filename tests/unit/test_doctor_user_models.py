"""The doctor on users' own models (issue 17 item 4): attention and LayerNorm blocks are read per
block (no false alarm on a default nn.TransformerEncoder, attention weights covered, gains never
multiplied across a normalization), and ``depthlab doctor`` finds ``./mymodels.py``, recognises
a state dict and says what shape it tried and what the first layer expects."""

from __future__ import annotations

import sys
import textwrap

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from depthlab.cli import app
from depthlab.probes.doctor import diagnose

runner = CliRunner()


def _default_init(build):
    """``build()`` with PyTorch's own default initializers drawn from a fixed stream: they read
    the global generator only, so its state is set (from a keyed Generator) inside fork_rng and
    the caller's global state comes back untouched."""
    with torch.random.fork_rng(devices=[]):
        torch.set_rng_state(torch.Generator().manual_seed(17).get_state())
        return build()


class Encoder(nn.Module):
    def __init__(self, norm_first: bool = False) -> None:
        super().__init__()
        layer = nn.TransformerEncoderLayer(
            16, 2, 32, dropout=0.0, batch_first=True, norm_first=norm_first
        )
        self.enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(16, 3)

    def forward(self, x):
        return self.head(self.enc(x).mean(1))


def _x() -> torch.Tensor:
    return torch.randn(2, 5, 16, generator=torch.Generator().manual_seed(1))


def test_default_transformer_encoder_is_healthy_and_attention_is_covered():
    model = _default_init(Encoder)
    d = diagnose(model, _x())
    assert d.verdict == "healthy", d.summary()
    names = [r.name for r in d.layers]
    assert names == [
        "enc.layers.0.self_attn.in_proj_weight",
        "enc.layers.0.self_attn.out_proj",
        "enc.layers.0.linear1",
        "enc.layers.0.linear2",
        "enc.layers.1.self_attn.in_proj_weight",
        "enc.layers.1.self_attn.out_proj",
        "enc.layers.1.linear1",
        "enc.layers.1.linear2",
        "head",
    ]
    in_proj = d.layers[0]
    w = model.enc.layers[0].self_attn.in_proj_weight.detach().double()
    assert in_proj.n_weights == 3 * 16 * 16 and in_proj.fan_in == 16
    assert in_proj.var == pytest.approx(float(w.pow(2).mean()), rel=1e-12)
    assert in_proj.followed_by == "attention" and in_proj.width == 16
    assert d.layers[1].followed_by == "norm" and d.layers[3].followed_by == "norm"
    # four blocks (attention, feed-forward) x 2, each closed by a LayerNorm that resets the gain
    assert len(d.block_gains) == 4
    assert d.block_gains[0] == pytest.approx(in_proj.gain, rel=1e-12)
    assert d.block_gains[1] == pytest.approx(d.layers[2].gain, rel=1e-12)
    assert [r.cum_gain for r in d.layers if r.followed_by == "norm"] == [1.0] * 4
    # nothing after the last LayerNorm but the readout: no drift multiplied across the norms
    assert d.mean_drift == 1.0 and d.log_second_moment == 0.0
    assert "(after the last normalization)" in d.summary()
    assert "4 block(s) closed by a normalization" in d.summary()


def test_a_vanishing_block_inside_a_transformer_is_flagged():
    """The failing input: a feed-forward block whose first layer is scaled by 0.01 shrinks the
    signal by about 1e-4 before its LayerNorm, which the doctor must report."""
    model = _default_init(Encoder)
    with torch.no_grad():
        model.enc.layers[1].linear1.weight.mul_(0.01)
    d = diagnose(model, _x())
    assert d.verdict == "warning"
    assert min(d.block_gains) < 1e-3
    assert any("the block ending at layer 7" in f and "shrinks" in f for f in d.findings)
    assert d.layers[7].verdict == "warn"


class LnMlp(nn.Module):
    """Linear-ReLU-Linear-LayerNorm, then Linear-ReLU-Linear-ReLU and a readout."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(64, 64)
        self.b = nn.Linear(64, 64)
        self.ln = nn.LayerNorm(64)
        self.c = nn.Linear(64, 64)
        self.d = nn.Linear(64, 64)
        self.out = nn.Linear(64, 10)
        g = torch.Generator().manual_seed(3)
        with torch.no_grad():
            for m in (self.a, self.b, self.c, self.d, self.out):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) / 8)  # Var = 1/fan_in

    def forward(self, x):
        h = self.ln(self.b(torch.relu(self.a(x))))
        return self.out(torch.relu(self.d(torch.relu(self.c(h)))))


def test_gains_are_not_multiplied_across_a_layernorm():
    d = diagnose(LnMlp(), torch.randn(2, 64, generator=torch.Generator().manual_seed(0)))
    gains = {r.name: r.gain for r in d.layers}
    # the block before the LayerNorm is reported on its own...
    assert d.block_gains == pytest.approx((gains["a"],), rel=1e-12)
    # ...and the drift is the product after it only (LeCun init: about 1/2 per ReLU layer)
    assert d.mean_drift == pytest.approx(gains["c"] * gains["d"], rel=1e-12)
    assert 0.2 < d.mean_drift < 0.3
    assert d.layers[0].verdict == "ok" and d.layers[2].verdict in ("warn", "bad")
    assert any("'c'" in f and "he_normal" in f for f in d.findings)


class BareAttention(nn.Module):
    def __init__(self, scale: float) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(16, 2, batch_first=True)
        self.head = nn.Linear(16, 3)
        with torch.no_grad():
            self.attn.in_proj_weight.mul_(scale)

    def forward(self, x):
        return self.head(self.attn(x, x, x, need_weights=False)[0])


def test_attention_weights_are_judged_when_no_norm_follows():
    d = _default_init(lambda: diagnose(BareAttention(30.0), _x()))
    first = d.layers[0]
    assert first.name == "attn.in_proj_weight" and first.verdict == "bad"
    assert any("attn.in_proj_weight" in f and "attention" in f for f in d.findings)


# --------------------------------------------------------------------------- the CLI


def test_module_in_the_current_directory_is_found(tmp_path, monkeypatch):
    (tmp_path / "mymodels.py").write_text(
        textwrap.dedent(
            """
            import torch
            from depthlab.init import initialize
            from depthlab.nets import mlp

            def mlp_he():
                return initialize(mlp([32, 64, 64, 10]), "he_normal", torch.Generator().manual_seed(0))
            """
        )
    )
    monkeypatch.chdir(tmp_path)
    # the folder is not on the import path (as when the depthlab script runs)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    res = runner.invoke(app, ["doctor", "mymodels:mlp_he", "--json"])
    assert res.exit_code == 0, res.output
    assert '"verdict": "healthy"' in res.stdout
    assert str(tmp_path) not in sys.path  # put back after the import
    sys.modules.pop("mymodels", None)


def test_missing_module_names_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["doctor", "nosuchmodels_xyz:mlp"])
    assert res.exit_code == 2
    out = " ".join(res.output.split())
    assert "cannot import module 'nosuchmodels_xyz'" in out
    assert f"looked in the current directory {tmp_path} and on sys.path" in res.output


def test_state_dict_file_gets_the_architecture_hint(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save(nn.Linear(4, 2).state_dict(), path)
    res = runner.invoke(app, ["doctor", str(path)])
    assert res.exit_code == 2
    out = " ".join(res.output.split())
    assert "holds a state dict (2 tensors, e.g. 'weight')" in out
    assert "package.module:factory" in out and "corrupt" not in out


def test_wrong_input_shape_says_what_was_tried_and_what_is_expected():
    res = runner.invoke(app, ["doctor", "mlp:10-8-2", "--input-shape", "7"])
    assert res.exit_code == 2
    out = " ".join(res.output.split())
    assert "input of shape 7 (--input-shape" in out
    assert "expects 10 input features" in out and "--input-shape 10" in out
    res = runner.invoke(app, ["doctor", "resnet20", "--input-shape", "1,32,32"])
    assert res.exit_code == 2
    out = " ".join(res.output.split())
    assert "input of shape 1x32x32" in out and "expects 3 input channels" in out
