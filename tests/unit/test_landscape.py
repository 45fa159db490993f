"""Loss surfaces: the fast path against the plain float64 reference, directions, resume."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from depthlab import landscape
from depthlab.landscape import reference_surface
from depthlab.nets import resnet1d

CE = F.cross_entropy


def _mlp(seed: int = 0, dtype=torch.float32) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 3)
    ).to(dtype)


def _data(n: int = 300, d: int = 10, classes: int = 3, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g), torch.randint(0, classes, (n,), generator=g)


def _resnet(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    net = resnet1d(blocks=2, channels=6, skip=True)
    # Non-trivial BN running statistics, as after training.
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm1d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    return net.eval()


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_mlp_surface_matches_float64_reference(dtype):
    model = _mlp(dtype=dtype)
    x, y = _data()
    dirs = (landscape.random_direction(model, seed=1), landscape.random_direction(model, seed=2))
    grid = landscape.Grid.plane(-1, 1, 5)
    opts = landscape.SurfaceOptions(points_per_call=8)  # vmap over 8 points per call
    fast = landscape.surface(model, CE, (x, y), dirs, grid, options=opts)
    assert fast.options["points_per_call"] == 8
    ref_loss, ref_acc = reference_surface(model, CE, x, y, dirs, grid, dtype=torch.float64)
    assert fast.loss.shape == (5, 5)
    assert _rel(fast.loss, ref_loss) < 1e-6
    assert torch.equal(fast.acc, ref_acc)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_resnet_surface_matches_float64_reference(dtype):
    model = _resnet().to(dtype)
    x, y = _data(n=200, d=40, classes=10)
    dirs = (landscape.random_direction(model, seed=3), landscape.random_direction(model, seed=4))
    grid = landscape.Grid.plane(-0.5, 0.5, 3)
    opts = landscape.SurfaceOptions(batch_size=72)  # batches that do not divide N
    fast = landscape.surface(model, CE, (x, y), dirs, grid, options=opts)
    ref_loss, _ = reference_surface(model, CE, x, y, dirs, grid, dtype=torch.float64)
    assert _rel(fast.loss, ref_loss) < 1e-6


def test_vmap_chunks_and_one_point_calls_agree_in_float64():
    model = _mlp(dtype=torch.float64)
    x, y = _data()
    x = x.double()
    d = landscape.random_direction(model, seed=0)
    grid = landscape.Grid.line(-2, 2, 11)
    one = landscape.surface(
        model, CE, (x, y), d, grid, options=landscape.SurfaceOptions(points_per_call=1)
    )
    many = landscape.surface(
        model,
        CE,
        (x, y),
        d,
        grid,
        options=landscape.SurfaceOptions(points_per_call=4, batch_size=64),
    )
    assert one.options["points_per_call"] == 1 and many.options["points_per_call"] == 4
    assert _rel(many.loss, one.loss) < 1e-12
    assert one.loss.shape == (11,)


def test_memory_budget_limits_points_per_call():
    model = _mlp()
    x, y = _data()
    d = landscape.random_direction(model, seed=0)
    tiny = landscape.SurfaceOptions(points_per_call=64, memory_budget=300 * 200)
    s = landscape.surface(model, CE, (x, y), d, landscape.Grid.line(-1, 1, 5), options=tiny)
    assert s.options["points_per_call"] < 64 or s.options["batch_size"] < 300


def _trained_mlp():
    from depthlab.data import mnist1d
    from depthlab.train import TrainConfig, fit

    data = mnist1d().subset(1000, 500)
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(40, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10)
    )
    fit(model, data, TrainConfig(epochs=15, lr=3e-3), generator=torch.Generator().manual_seed(0))
    return model, data


def test_bf16_autocast_within_two_percent_of_fp32_on_trained_mlp():
    # Stated tolerance: bf16 keeps 8 mantissa bits (~0.4% per rounding); we allow 2% relative
    # on the loss and 2 points of accuracy anywhere on the grid.
    model, data = _trained_mlp()
    dirs = (landscape.random_direction(model, seed=0), landscape.random_direction(model, seed=1))
    grid = landscape.Grid.plane(-1, 1, 5)
    fp32 = landscape.surface(model, CE, data, dirs, grid)
    bf16 = landscape.surface(
        model, CE, data, dirs, grid, options=landscape.SurfaceOptions(autocast_bf16=True)
    )
    assert bf16.options["autocast_bf16"] is True
    assert _rel(bf16.loss, fp32.loss) < 2e-2
    assert float((bf16.acc - fp32.acc).abs().max()) <= 0.02
    # the trained minimum sits at the centre of a basin
    assert fp32.center_loss < float(fp32.loss[0, 0]) and fp32.center_loss < float(fp32.loss[-1, -1])


@pytest.mark.parametrize("dtype,rtol", [(torch.float64, 1e-12), (torch.float32, 1e-6)])
def test_filter_normalization_gives_each_filter_its_weights_norm(dtype, rtol):
    model = _resnet().to(dtype)
    d = landscape.random_direction(model, norm="filter", seed=7)
    checked = 0
    for name, w in model.named_parameters():
        t = d.tensors[name]
        assert t.dtype == w.dtype and t.shape == w.shape
        if w.dim() <= 1:
            assert torch.count_nonzero(t) == 0, f"{name}: biasbn must be zero by default"
            continue
        wn = w.detach().double().flatten(1).norm(dim=1)
        dn = t.double().flatten(1).norm(dim=1)
        torch.testing.assert_close(dn, wn, rtol=rtol, atol=0)
        checked += w.shape[0]
    assert checked > 20


def test_layer_norm_and_including_biasbn():
    model = _resnet()
    d = landscape.random_direction(model, norm="layer", ignore="none", seed=0)
    for name, w in model.named_parameters():
        dn, wn = d.tensors[name].double().norm(), w.detach().double().norm()
        if wn == 0:  # a zero weight (fresh BN bias) gets a zero direction
            assert dn == 0, name
        else:
            assert abs(float(dn / wn) - 1) < 1e-6, name
    raw = landscape.random_direction(model, norm="none", ignore="none", seed=0)
    assert all(torch.count_nonzero(t) > 0 for t in raw.tensors.values())


def test_same_seed_same_direction_other_seed_differs():
    model = _mlp()
    a, b = landscape.random_direction(model, seed=5), landscape.random_direction(model, seed=5)
    c = landscape.random_direction(model, seed=6)
    assert all(torch.equal(a.tensors[k], b.tensors[k]) for k in a.tensors)
    assert not torch.equal(a.tensors["0.weight"], c.tensors["0.weight"])


def test_bad_choices_are_errors_naming_the_value():
    model = _mlp()
    with pytest.raises(ValueError, match="norm must be one of filter, layer, none, got 'row'"):
        landscape.random_direction(model, norm="row")
    d = landscape.random_direction(model)
    with pytest.raises(ValueError, match="2-D grid needs 2 direction"):
        landscape.surface(model, CE, _data(), d, landscape.Grid.plane(-1, 1, 3))


def test_target_direction_reaches_the_other_model_at_alpha_one():
    a, b = _mlp(seed=0), _mlp(seed=1)
    x, y = _data()
    d = landscape.target_direction(a, b)
    s = landscape.surface(
        a,
        CE,
        (x, y),
        d,
        landscape.Grid((0.0, 0.5, 1.0)),
        options=landscape.SurfaceOptions(points_per_call=1),
    )
    with torch.no_grad():
        la, lb = float(CE(a(x), y)), float(CE(b(x), y))
    assert abs(float(s.loss[0]) - la) < 1e-5 and abs(float(s.loss[-1]) - lb) < 1e-5


def test_pca_recovers_the_plane_of_a_planar_trajectory():
    model = _mlp(dtype=torch.float64)
    u = landscape.random_direction(model, norm="none", ignore="none", seed=1)
    v = landscape.random_direction(model, norm="none", ignore="none", seed=2)
    final = {k: p.detach() for k, p in model.named_parameters()}
    ts = torch.linspace(0, 1, 8, dtype=torch.float64)
    traj = [
        {k: final[k] + (1 - t) * 3 * u.tensors[k] + (1 - t) ** 2 * v.tensors[k] for k in final}
        for t in ts
    ]
    pca = landscape.pca_directions(model, traj, ignore="none")
    assert sum(pca.explained_variance_ratio) == pytest.approx(1.0, abs=1e-9)
    # every trajectory displacement lies in the span of the two PCA directions
    flat = [torch.cat([d.tensors[k].flatten() for k in final]) for d in pca.directions]
    basis = torch.stack(flat)
    for ck in traj:
        delta = torch.cat([(ck[k] - final[k]).flatten() for k in final])
        resid = delta - basis.T @ (basis @ delta)
        assert float(resid.norm()) < 1e-8 * max(1.0, float(delta.norm()))
    assert pca.coords.shape == (8, 2)


def test_saved_surface_recomputes_exactly(tmp_path):
    model = _resnet()
    x, y = _data(n=64, d=40, classes=10)
    dirs = (landscape.random_direction(model, seed=0), landscape.random_direction(model, seed=1))
    s = landscape.surface(model, CE, (x, y), dirs, landscape.Grid.plane(-1, 1, 3))
    s.save(tmp_path / "s.pt")
    back = landscape.Surface.load(tmp_path / "s.pt")
    again = landscape.surface(model, CE, (x, y), back.directions, back.grid)
    assert torch.equal(again.loss, s.loss) and torch.equal(back.loss, s.loss)
    assert back.directions[0].info == {"norm": "filter", "ignore": "biasbn", "seed": 0}
    frame = s.to_frame()
    assert list(frame.columns) == ["alpha", "beta", "loss", "acc"] and len(frame) == 9


class _Interrupt(Exception):
    pass


def test_interrupted_surface_resumes_from_checkpoint(tmp_path):
    model = _mlp()
    x, y = _data()
    dirs = (landscape.random_direction(model, seed=0), landscape.random_direction(model, seed=1))
    grid = landscape.Grid.plane(-1, 1, 4)
    opts = landscape.SurfaceOptions(points_per_call=1, checkpoint_every_s=0.0)
    full = landscape.surface(model, CE, (x, y), dirs, grid, options=opts)
    calls = {"n": 0}

    def flaky(out, yy):
        calls["n"] += 1
        if calls["n"] > 6:
            raise _Interrupt
        return CE(out, yy)

    ck = tmp_path / "partial.pt"
    with pytest.raises(_Interrupt):
        landscape.surface(model, flaky, (x, y), dirs, grid, options=opts, checkpoint=ck)
    assert ck.exists()
    resumed = landscape.surface(model, CE, (x, y), dirs, grid, options=opts, checkpoint=ck)
    assert resumed.options["resumed_points"] == 6 and resumed.computed_points == 10
    assert torch.equal(resumed.loss, full.loss)
    other = (dirs[1], dirs[0])
    with pytest.raises(ValueError, match="belongs to another surface"):
        landscape.surface(model, CE, (x, y), other, grid, options=opts, checkpoint=ck)


def test_recompute_bn_matches_a_manual_train_mode_pass():
    model = _resnet()
    x, y = _data(n=96, d=40, classes=10)
    d = landscape.random_direction(model, seed=0)
    opts = landscape.SurfaceOptions(recompute_bn=True, batch_size=32)
    s = landscape.surface(model, CE, (x, y), d, landscape.Grid((0.0, 0.5)), options=opts)
    assert s.options["recompute_bn"] is True and s.options["points_per_call"] == 1
    net = copy.deepcopy(model)
    with torch.no_grad():
        for n, p in net.named_parameters():
            p.add_(0.5 * d.tensors[n])
        for m in net.modules():
            if isinstance(m, nn.BatchNorm1d):
                m.momentum = None
                m.reset_running_stats()
        net.train()
        for i in range(0, 96, 32):
            net(x[i : i + 32])
        net.eval()
        want = float(CE(net(x), y))
    assert abs(float(s.loss[1]) - want) < 1e-5
    plain = landscape.surface(model, CE, (x, y), d, landscape.Grid((0.5,)))
    assert abs(float(plain.loss[0]) - want) > 1e-4  # the option changes the answer


def test_channels_last_gives_the_same_surface_on_a_2d_resnet():
    from depthlab.nets import CifarResNet

    torch.manual_seed(0)
    net = CifarResNet(depth=8, width=4).eval()
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(24, 3, 32, 32, generator=g), torch.randint(0, 10, (24,), generator=g)
    d = landscape.random_direction(net, seed=0)
    grid = landscape.Grid((-0.5, 0.5))
    plain = landscape.surface(net, CE, (x, y), d, grid)
    nhwc = landscape.surface(
        net, CE, (x, y), d, grid, options=landscape.SurfaceOptions(channels_last=True)
    )
    assert nhwc.options["channels_last"] is True
    assert _rel(nhwc.loss, plain.loss) < 1e-5
