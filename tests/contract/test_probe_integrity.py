"""The probe contract (issue 15): no public probe entry point touches the user's model.

A table of every public probe entry point x five model variants (BatchNorm in train mode, mixed
train/eval submodules, extra registered hooks of every kind, frozen parameters, tied weights).
Every variant carries counting forward, forward-pre and full-backward hooks on every module and
holds ``.grad`` from a previous backward. After each call the parameters, buffers, ``.grad``
(values and objects), ``requires_grad``, every module's ``training`` flag, the tensors' identities
and the hook dicts (objects and contents) are bit-identical, and no user hook fired. The same
table feeds each entry point a model with a NaN weight in ``fc2`` and expects a
``NonFiniteError`` that names ``'fc2'`` (the first non-finite layer), with the model again left
bit-identical.

Sizes are tiny (3 inputs, widths 6, 16 examples) so the whole file runs in well under a minute.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from depthlab import landscape, pl, regions, signal, trajectory
from depthlab.mimic import Teacher
from depthlab.numerics import NonFiniteError
from depthlab.probes import doctor
from depthlab.probes._guard import ProbeIntegrityError, first_nonfinite_tensor, guarded
from depthlab.train import evaluate

_HOOK_ATTRS = (
    "_forward_hooks",
    "_forward_hooks_with_kwargs",
    "_forward_hooks_always_called",
    "_forward_pre_hooks",
    "_forward_pre_hooks_with_kwargs",
    "_backward_hooks",
    "_backward_pre_hooks",
)

# --------------------------------------------------------------------------- models


def _net(tied: bool) -> nn.Sequential:
    layers: OrderedDict[str, nn.Module] = OrderedDict(
        fc1=nn.Linear(3, 6), bn=nn.BatchNorm1d(6), act1=nn.ReLU(), fc2=nn.Linear(6, 6)
    )
    layers["act2"] = nn.ReLU()
    if tied:
        layers["fc2b"] = nn.Linear(6, 6)
        layers["act3"] = nn.ReLU()
    layers["fc3"] = nn.Linear(6, 2)
    net = nn.Sequential(layers).double()
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) * 0.7)
    if tied:
        net.fc2b.weight = net.fc2.weight
    return net


def _inputs() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    x = torch.randn(16, 3, generator=g, dtype=torch.float64)
    y = torch.randint(0, 2, (16,), generator=g)
    return x, y


class Counter:
    """Counts every call of the user's hooks."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, *args, **kwargs):
        self.calls += 1

    def __deepcopy__(self, memo):  # a deep copy of the model shares the counter, as a closure would
        return self


def make_model(variant: str, nan: bool = False) -> tuple[nn.Module, Counter]:
    net = _net(tied=variant == "tied")
    x, y = _inputs()
    net.train()
    if variant == "frozen":
        net.fc1.weight.requires_grad_(False)
        net.fc1.bias.requires_grad_(False)
        net.fc3.bias.requires_grad_(False)
    # BN running statistics that are not the defaults, and .grad left by a previous backward
    F.cross_entropy(net(x), y).backward()
    if variant == "mixed":
        net.bn.eval()
        net.fc2.eval()
    elif variant == "hooked":
        net.eval()
    counter = Counter()
    for m in net.modules():
        m.register_forward_hook(counter)
        m.register_forward_pre_hook(counter)
    net.fc3.register_full_backward_hook(counter)
    if variant == "hooked":
        net.register_forward_hook(counter, with_kwargs=True, always_call=True)
        net.fc1.register_forward_pre_hook(counter, with_kwargs=True)
        net.fc1.register_full_backward_pre_hook(counter)
        net.fc2.register_full_backward_hook(counter)
    if nan:
        with torch.no_grad():
            net.fc2.weight[1, 2] = math.nan
    return net, counter


VARIANTS = ("bn_train", "mixed", "hooked", "frozen", "tied")

# --------------------------------------------------------------------------- snapshot


def _bits(t: torch.Tensor) -> bytes:
    return t.detach().cpu().contiguous().numpy().tobytes()


def snapshot(model: nn.Module) -> dict:
    mods = dict(model.named_modules())
    return {
        "tensors": {
            n: (id(t), t.dtype, t.device, _bits(t), t.requires_grad)
            for n, t in [
                *model.named_parameters(remove_duplicate=False),
                *model.named_buffers(remove_duplicate=False),
            ]
        },
        "grads": {
            n: None if p.grad is None else (id(p.grad), _bits(p.grad))
            for n, p in model.named_parameters(remove_duplicate=False)
        },
        "modes": {n: m.training for n, m in mods.items()},
        "hooks": {
            (n, a): (id(getattr(m, a)), [(k, id(v)) for k, v in getattr(m, a).items()])
            for n, m in mods.items()
            for a in _HOOK_ATTRS
        },
    }


def assert_same(before: dict, after: dict) -> None:
    for key in ("tensors", "grads", "modes", "hooks"):
        b, a = before[key], after[key]
        assert a.keys() == b.keys(), f"{key}: names changed"
        changed = [k for k in b if a[k] != b[k]]
        assert not changed, f"{key} changed: {changed[:4]}"


# --------------------------------------------------------------------------- entry points


def _direction(model: nn.Module, seed: int = 0) -> landscape.Direction:
    with guarded(model, check_finite=False):
        return landscape.random_direction(model, seed=seed)


def _nearby_states(model: nn.Module, k: int) -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(11)
    return [
        {
            n: p.detach() + 0.01 * torch.randn(p.shape, generator=g, dtype=p.dtype)
            for n, p in model.named_parameters()
        }
        for _ in range(k)
    ]


def _signal_moments(model: nn.Module, x: torch.Tensor) -> None:
    if hasattr(signal, "mlp_family"):  # one verb: moments(model, n_inits, x=)
        signal.moments(model, 2, x=x)
    else:
        signal.model_moments(lambda: model, x, n_inits=2)


x_, y_ = _inputs()
_SEG = trajectory.segment(x_[0], x_[1])
_CIRCLE = trajectory.great_circle(x_[0], x_[1])
_ADAPT = {"method": "adaptive", "n0": 16, "tol": 1e-2, "max_points": 64}

#: name -> call(model): one public probe entry point at tiny sizes
ENTRY_POINTS: dict[str, Callable[[nn.Module], object]] = {
    "regions.count_1d": lambda m: regions.count_1d(m, x_[0], x_[1]),
    "regions.count_1d[batch]": lambda m: regions.count_1d(m, x_[:4], x_[4:8]),
    "regions.count_2d": lambda m: regions.count_2d(m, x_[:3], max_regions=10_000),
    "regions.distance_to_boundary": lambda m: regions.distance_to_boundary(m, x_[:4]),
    "pl.trace_segments": lambda m: pl.trace_segments(m, x_[:2], x_[2:4]),
    "pl.activation_patterns": lambda m: pl.activation_patterns(m, x_[:4]),
    "trajectory.length[exact]": lambda m: trajectory.length(m, _SEG, method="exact"),
    "trajectory.length[adaptive]": lambda m: trajectory.length(m, _CIRCLE, **_ADAPT),
    "trajectory.length[curvature]": lambda m: trajectory.length(
        m, _CIRCLE, curvature=True, **_ADAPT
    ),
    "signal.moments[model]": lambda m: _signal_moments(m, x_),
    "landscape.random_direction": lambda m: landscape.random_direction(m, seed=1),
    "landscape.target_direction": lambda m: landscape.target_direction(m, _nearby_states(m, 1)[0]),
    "landscape.pca_directions": lambda m: landscape.pca_directions(m, _nearby_states(m, 3)),
    "landscape.surface": lambda m: landscape.surface(
        m, F.cross_entropy, (x_, y_), _direction(m), [-0.5, 0.0, 0.5]
    ),
    "landscape.surface[pieces]": lambda m: landscape.surface(
        m, F.cross_entropy, (x_, y_), _direction(m), [-0.5, 0.0, 0.5], pieces=2
    ),
    "landscape.reference_surface": lambda m: landscape.reference_surface(
        m, F.cross_entropy, x_, y_, (_direction(m),), landscape.Grid((-0.5, 0.5))
    ),
    "landscape.hessian.eigenvalues": lambda m: landscape.hessian.eigenvalues(
        m, F.cross_entropy, (x_, y_), iters=3
    ),
    "landscape.hessian.trace": lambda m: landscape.hessian.trace(
        m, F.cross_entropy, (x_, y_), samples=2
    ),
    "landscape.hessian.curvature_map": lambda m: landscape.hessian.curvature_map(
        m, F.cross_entropy, (x_, y_), _direction(m), [-0.1, 0.1], iters=2
    ),
    "doctor.diagnose": lambda m: doctor.diagnose(m, x_[:4]),
    "mimic.Teacher.logits": lambda m: Teacher(m).logits(x_),
    "train.evaluate": lambda m: evaluate(m, x_, y_),
}

#: entry points whose guard lands with their package split (landscape/, signal/); strict xfail
#: keeps the table honest: the test starts failing the moment one of them passes
PENDING_NAN: frozenset[str] = frozenset()
PENDING: frozenset[str] = frozenset()


def _marks(name: str, pending: frozenset[str] = PENDING):
    if name in pending:
        return [pytest.mark.xfail(strict=True, reason="guard pending the package split")]
    return []


CASES = [
    pytest.param(name, variant, id=f"{name}-{variant}", marks=_marks(name))
    for name in ENTRY_POINTS
    for variant in VARIANTS
]


def test_table_covers_every_entry_point_and_variant():
    n = len(ENTRY_POINTS) * len(VARIANTS)
    print(f"probe contract: {len(ENTRY_POINTS)} entry points x {len(VARIANTS)} variants = {n}")
    assert len(CASES) == n == 110


@pytest.mark.parametrize(("name", "variant"), CASES)
def test_probe_leaves_model_untouched(name: str, variant: str):
    model, counter = make_model(variant)
    before = snapshot(model)
    tied = variant == "tied"
    ENTRY_POINTS[name](model)
    assert counter.calls == 0, f"{name} fired the user's hooks {counter.calls} times"
    assert_same(before, snapshot(model))
    if tied:
        assert model.fc2b.weight is model.fc2.weight


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=_marks(n, PENDING_NAN)) for n in ENTRY_POINTS]
)
def test_nan_weight_is_named(name: str):
    model, counter = make_model("bn_train", nan=True)
    before = snapshot(model)
    with pytest.raises(NonFiniteError) as err:
        ENTRY_POINTS[name](model)
    msg = str(err.value)
    assert "'fc2'" in msg and "fc2.weight" in msg, msg
    assert "'fc1'" not in msg and "'fc3'" not in msg, msg
    assert "1 NaN" in msg, msg
    assert counter.calls == 0
    assert_same(before, snapshot(model))


# --------------------------------------------------------------------------- the guard itself


def test_guard_restores_mixed_modes_and_bn_statistics_after_a_raw_forward():
    model, counter = make_model("mixed")
    before = snapshot(model)
    with guarded(model):
        model.train()  # flattens the modes...
        model(x_)  # ...and updates the BN running statistics (bn is in train mode now)
        assert model.bn.num_batches_tracked.item() == 2
    assert counter.calls == 0
    assert_same(before, snapshot(model))
    assert not model.bn.training and model.fc1.training


def test_guard_silences_hooks_on_deep_copies_and_restores_handles():
    import copy

    model, counter = make_model("hooked")
    with guarded(model):
        copy.deepcopy(model)(x_)
        model(x_)
    assert counter.calls == 0
    model.eval()(x_)  # the user's hooks are back and still removable by their handles
    assert counter.calls > 0


def test_guard_drops_grads_and_requires_grad_changes():
    model, _ = make_model("frozen")
    before = snapshot(model)
    with guarded(model):
        for p in model.parameters():
            p.grad = None
            p.requires_grad_(True)
    assert_same(before, snapshot(model))


def test_guard_reports_in_place_parameter_writes():
    model, _ = make_model("bn_train")
    with pytest.raises(ProbeIntegrityError, match="in place"):
        with guarded(model, what="a bad probe"):
            with torch.no_grad():
                model.fc1.weight.add_(1.0)


def test_first_nonfinite_tensor_names_buffers_and_infs():
    model, _ = make_model("bn_train")
    assert first_nonfinite_tensor(model) is None
    model.bn.running_var[3] = math.inf
    msg = first_nonfinite_tensor(model)
    assert msg is not None and "'bn'" in msg and "buffer 'bn.running_var'" in msg
    assert "0 NaN and 1 Inf of 6" in msg


def test_nonfinite_output_names_the_first_layer_that_made_it():
    # finite weights whose product overflows float32 in fc2: the length is Inf, fc2 is named
    net = nn.Sequential(
        OrderedDict(fc1=nn.Linear(3, 4), act=nn.Tanh(), fc2=nn.Linear(4, 4), fc3=nn.Linear(4, 1))
    )
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(0.5)
        net.fc2.weight.fill_(3e38)
    c = trajectory.great_circle(torch.tensor([1.0, 0, 0]), torch.tensor([0.0, 1, 0]))
    with pytest.raises(NonFiniteError, match=r"first appears in the output of layer \d 'fc2'"):
        trajectory.length(net, c, method="adaptive", n0=8, tol=1e-2, max_points=16)


def test_evaluate_keeps_mixed_modes():
    # issue 15: evaluate restored the mode with model.train(was), flattening a BN set to eval
    model, _ = make_model("mixed")
    evaluate(model, x_, y_)
    assert model.training and not model.bn.training and not model.fc2.training
    assert model.fc1.training


# --------------------------------------------------------------------------- the doctor (issue 15.3)


def _doctor_net(tmp_path, monkeypatch, body: str) -> str:
    """A module ``guardnets`` with ``net()`` whose second Linear is set by ``body``; its target."""
    import sys
    import textwrap

    (tmp_path / "guardnets.py").write_text(
        textwrap.dedent(
            f"""
            import torch
            from depthlab.init import initialize
            from depthlab.nets import mlp

            def net():
                m = initialize(mlp([16, 32, 32, 4]), "he_normal", torch.Generator().manual_seed(0))
                w = [x for x in m.modules() if isinstance(x, torch.nn.Linear)][1].weight
                with torch.no_grad():
                    {body}
                return m
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("guardnets", None)
    return "guardnets:net"


def test_doctor_names_a_zero_initialised_hidden_layer(tmp_path, monkeypatch):
    import json

    from typer.testing import CliRunner

    from depthlab.cli import app

    target = _doctor_net(tmp_path, monkeypatch, "w.zero_()")
    res = CliRunner().invoke(app, ["doctor", target])  # was: ZeroDivisionError
    assert res.exit_code == 0, res.output
    assert "all-zero weights" in res.stdout and "nan" not in res.stdout
    res = CliRunner().invoke(app, ["doctor", target, "--json"])
    assert res.exit_code == 0, res.output
    assert "NaN" not in res.stdout and "Infinity" not in res.stdout
    out = json.loads(res.stdout)
    assert out["verdict"] == "unhealthy" and out["mean_drift"] == 0.0
    layer = out["layers"][1]
    assert layer["verdict"] == "bad" and layer["distribution"] == "constant"
    assert layer["kurtosis"] is None and layer["max_over_std"] is None
    assert out["why_null"] == {
        "layers[1].kurtosis": "undefined: the weights are constant (zero variance)",
        "layers[1].max_over_std": "undefined: the weights are constant (zero variance)",
    }
    assert 1.5 < out["layers"][0]["kurtosis"] < 6.0  # a Gaussian layer of 512 weights: finite


def test_doctor_names_a_nan_weight_instead_of_scaling_by_nan(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from depthlab.cli import app

    target = _doctor_net(tmp_path, monkeypatch, "w[3, 5] = float('nan')")
    for extra in ([], ["--json"]):
        res = CliRunner().invoke(app, ["doctor", target, *extra])
        assert res.exit_code == 2, res.output
        assert "scale" not in res.output and "Traceback" not in res.output
        assert "layer '2' (Linear)" in res.output and "'2.weight' has 1 NaN" in res.output


def test_doctor_json_overflow_is_null_with_a_reason():
    from depthlab.nets import mlp

    net = mlp([8, *[8] * 12, 2]).double()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Linear):
                m.weight.fill_(1e30)  # finite weights, gains of ~1e61 per layer
    diag = doctor.diagnose(net, torch.ones(2, 8, dtype=torch.float64))
    assert diag.layers[0].ratio == pytest.approx(4e60)  # constant weights: E w^2 = c^2, not 0
    assert diag.layers[0].distribution == "constant"
    d = diag.to_dict()
    assert d["mean_drift"] is None
    assert "overflows" in d["why_null"]["mean_drift"]


# --------------------------------------------------------------------------- attention (issue 17.4)


class _Tiny(nn.Module):
    """A 3-token transformer encoder classifier on inputs of 3 x 4 = 12 numbers."""

    def __init__(self) -> None:
        super().__init__()
        self.inp = nn.Linear(4, 8)
        layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
        self.enc = nn.TransformerEncoder(layer, 1, enable_nested_tensor=False)
        self.out = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.enc(self.inp(x.view(x.shape[0], 3, 4))).mean(1))


def _sdpa_flags() -> tuple:
    b = torch.backends
    return (
        b.mha.get_fastpath_enabled(),
        b.cuda.flash_sdp_enabled(),
        b.cuda.mem_efficient_sdp_enabled(),
        b.cuda.math_sdp_enabled(),
    )


@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("name", ["trajectory", "eigenvalues", "trace"])
def test_attention_runs_under_forward_ad_and_double_backward(name, train, caplog):
    # issue 17: the flash kernel / MHA fast path have no forward AD and no double backward
    g = torch.Generator().manual_seed(5)
    with torch.random.fork_rng():
        torch.random.default_generator.manual_seed(0)  # nn.Module init reads the global stream
        model = _Tiny().train(train)
    x = torch.randn(8, 12, generator=g)
    y = torch.randint(0, 2, (8,), generator=g)
    counter = Counter()
    for m in model.modules():
        m.register_forward_hook(counter)
    before, flags = snapshot(model), _sdpa_flags()
    with caplog.at_level("INFO", logger="depthlab"):
        if name == "trajectory":
            c = trajectory.great_circle(x[0], x[1])
            res = trajectory.length(model, c, method="adaptive", n0=16, tol=1e-2, max_points=64)
            assert res.lengths.shape == (1, 5) and math.isfinite(float(res.lengths.sum()))
            assert res.lengths[0, 0] == pytest.approx(2 * math.pi, rel=1e-2)
        elif name == "eigenvalues":
            spec = landscape.hessian.eigenvalues(model, F.cross_entropy, (x, y), iters=3)
            assert math.isfinite(spec.lambda_max) and spec.lambda_max > spec.lambda_min
        else:
            tr = landscape.hessian.trace(model, F.cross_entropy, (x, y), samples=2)
            assert math.isfinite(tr.estimate)
    assert "math SDPA kernel" in caplog.text
    assert _sdpa_flags() == flags  # the user's settings are unchanged
    assert counter.calls == 0
    assert_same(before, snapshot(model))


def test_adaptive_trajectory_in_train_mode_says_so(caplog):
    # issue 17: an adaptive trajectory through a train-mode model ran silently (Dropout noise)
    model, _ = make_model("bn_train")
    with caplog.at_level("WARNING", logger="depthlab"):
        trajectory.length(model, _CIRCLE, **_ADAPT)
    assert "'bn' (BatchNorm1d) run in train mode" in caplog.text
    caplog.clear()
    model.eval()
    with caplog.at_level("WARNING", logger="depthlab"):
        trajectory.length(model, _CIRCLE, **_ADAPT)
    assert "train mode" not in caplog.text  # (the max_points cap may still be logged)


@pytest.mark.parametrize("name", ["train.evaluate", "mimic.Teacher.logits"])
def test_finite_weights_whose_output_overflows_name_the_layer(name):
    # float32 weights just below the largest float: fc2's output is Inf although every weight is
    # finite; the error names fc2, not a NaN loss or NaN logits
    net = nn.Sequential(
        OrderedDict(fc1=nn.Linear(3, 4), act=nn.Tanh(), fc2=nn.Linear(4, 4), fc3=nn.Linear(4, 2))
    )
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(0.5)
        net.fc2.weight.fill_(3e38)
    x, y = x_.float(), y_
    with pytest.raises(NonFiniteError, match=r"first appears in the output of layer \d 'fc2'"):
        evaluate(net, x, y) if name == "train.evaluate" else Teacher(net).logits(x)


def test_overflow_in_a_later_batch_is_still_named():
    # the fault is only in rows 8..15 (huge inputs); labelling 4 rows at a time, the teacher must
    # look past the first batch to name the layer
    net = nn.Sequential(
        OrderedDict(fc1=nn.Linear(3, 4), act=nn.ReLU(), fc2=nn.Linear(4, 4), fc3=nn.Linear(4, 2))
    )
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(0.5)
        net.fc2.weight.fill_(1e10)
    x = x_.float().abs()
    x[8:] *= 1e30
    with pytest.raises(NonFiniteError, match=r"Inf first appears in the output of layer 2 'fc2'"):
        Teacher(net, batch_size=4).logits(x)
    assert torch.isfinite(Teacher(net, batch_size=4).logits(x[:8])).all()


def test_hooks_that_define_the_weights_keep_running():
    # old-style weight_norm and pruning compute the weight in a forward pre-hook: setting them
    # aside would probe another network
    import warnings

    from torch.nn.utils import prune

    g = torch.Generator().manual_seed(2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # weight_norm is deprecated upstream
        first = nn.utils.weight_norm(nn.Linear(3, 6).double())
    net = nn.Sequential(first, nn.ReLU(), nn.Linear(6, 2).double())
    with torch.no_grad():
        for p in net[2].parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64))
    prune.l1_unstructured(net[2], "weight", amount=0.5)
    counter = Counter()
    net.register_forward_hook(counter)
    net.eval()(x_)  # every hook has run once: the stored .weight attributes are current
    with torch.no_grad():  # ...and now stale: only the pre-hooks bring them up to date
        first.weight_g.mul_(3.0)
        net[2].weight_orig.mul_(-2.0)
    v, g_ = first.weight_v, first.weight_g
    w1 = g_ * v / v.norm(dim=1, keepdim=True)
    w2 = net[2].weight_orig * net[2].weight_mask
    want = F.linear(F.relu(F.linear(x_, w1, first.bias)), w2, net[2].bias).detach()
    counter.calls = 0
    before = snapshot(net)
    got = Teacher(net).logits(x_)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)  # stale weights: far off
    assert counter.calls == 0
    assert_same(before, snapshot(net))
