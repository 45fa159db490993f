"""The model doctor flags a naively truncated layer and a bottleneck, and passes a He MLP."""

import torch

from depthlab.init import init_weight_, initialize
from depthlab.nets import mlp
from depthlab.nets.load import load_target
from depthlab.probes.doctor import diagnose


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_passes_a_he_initialized_mlp():
    d = diagnose(initialize(mlp([784, 64, 64, 10]), "he_normal", _gen()))
    assert d.verdict == "healthy" and d.findings == ()
    assert [r.verdict for r in d.layers] == ["ok", "ok", "info"]
    assert abs(d.layers[0].ratio - 1) < 0.02 and d.layers[0].distribution == "gaussian"
    assert d.beta == 2 / 64


def test_flags_a_naively_truncated_layer_and_names_the_fix():
    model = initialize(mlp([200, 200, 200, 200, 10]), "he_normal", _gen())
    init_weight_(model[2].weight, "trunc_normal_naive", _gen(1))
    d = diagnose(model)
    bad = d.layers[1]
    assert bad.distribution == "truncated normal" and bad.verdict != "ok"
    assert abs(bad.ratio - 0.7737) < 0.03
    assert 2.1 < bad.max_over_std < 2.4  # a normal cut at ±2 std: 2 / 0.8796
    assert d.verdict != "healthy"
    assert any(
        "truncated normal not rescaled" in f and "trunc_normal_corrected" in f for f in d.findings
    )
    assert [r.verdict for r in d.layers if r.index != 1] == ["ok", "ok", "info"]


def test_flags_a_bottleneck_with_its_share_of_beta():
    model = initialize(mlp([64, 64, 64, 4, 64, 64, 10]), "he_normal", _gen())
    d = diagnose(model)
    assert d.narrowest_width == 4
    share = (1 / 4) / (4 / 64 + 1 / 4)
    assert abs(d.narrowest_share - share) < 1e-12
    assert any(
        f.startswith("a 4-wide bottleneck") and f"{share:.0%} of beta" in f for f in d.findings
    )
    assert d.verdict == "unhealthy"


def test_lecun_and_pytorch_default_inits_are_called_out():
    lecun = diagnose(initialize(mlp([100] * 6 + [10]), "lecun_normal", _gen()))
    assert any("LeCun-like" in f for f in lecun.findings)
    assert 0.5**5 * 0.8 < lecun.mean_drift < 0.5**5 * 1.2
    default = diagnose(
        mlp([784, 64, 64, 10])
    )  # PyTorch's kaiming_uniform(a=sqrt 5): Var = 1/(3 fan_in)
    assert abs(default.layers[0].ratio - 1 / 6) < 0.02
    assert default.verdict == "unhealthy"


def test_normalized_layers_are_not_judged_for_drift():
    model, example = load_target("resnet1d", init="lecun_normal")
    d = diagnose(model, example)
    assert all(r.followed_by in ("norm", "none", "relu (assumed)", "relu") for r in d.layers)
    assert d.layers[0].followed_by == "norm" and d.layers[0].verdict == "ok"


def test_torchscript_file_is_read(tmp_path):
    model = initialize(mlp([50, 40, 40, 5]), "he_normal", _gen())
    path = tmp_path / "net.pt"
    torch.jit.script(model).save(str(path))
    loaded, _ = load_target(str(path))
    d = diagnose(loaded)
    assert [r.width for r in d.layers] == [40, 40, 5]
    assert d.verdict == "healthy"
