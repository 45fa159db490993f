"""depthlab.trajectory: exact PL lengths, adaptive lengths, curvature, batching."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from depthlab import nets, trajectory
from depthlab.init import initialize

F64 = torch.float64


def _dense_lengths(model, curve, names, n=1_000_000):
    """Chord length of about 10^6 samples in every named layer (float64 reference).

    For polylines the grid holds every vertex (n is a multiple of the number of edges)."""
    if curve.vertices is not None:
        n -= n % (curve.vertices.shape[0] - 1)
    t = torch.linspace(0, 1, n + 1, dtype=F64)
    outs = {}
    mods = dict(model.named_modules())
    hooks = [
        mods[nm].register_forward_hook(lambda m, i, o, nm=nm: outs.__setitem__(nm, o))
        for nm in names
        if nm not in ("input", "output")
    ]
    try:
        with torch.no_grad():
            x = curve.points(t)
            outs["output"] = model(x)
            outs["input"] = x
    finally:
        for h in hooks:
            h.remove()
    return [float((outs[nm][1:] - outs[nm][:-1]).flatten(1).norm(dim=1).sum()) for nm in names]


@pytest.mark.parametrize("activation", ["relu", "hardtanh", "leaky_relu"])
def test_exact_pl_length_equals_dense_sampling(activation):
    g = torch.Generator().manual_seed(3)
    net = nets.mlp([3, 4, 3, 2], activation=activation).to(F64)
    initialize(net, "he_normal", g, sigma_b2=0.1)
    pts = torch.randn(3, 3, generator=g, dtype=F64)
    for curve in (trajectory.segment(pts[0], pts[1]), trajectory.closed_curve(pts)):
        res = trajectory.length(net, curve, layers=["0", "1", "2", "3", "4"])
        assert res.method == "exact"
        dense = _dense_lengths(net, curve, res.layers)
        np.testing.assert_allclose(res.lengths[0], dense, rtol=1e-6)
        assert np.all(res.lengths[0] >= np.array(dense) - 1e-12)  # chords never exceed the curve
        assert res.pieces[0, -1] >= res.pieces[0, 0]


def test_dense_chords_converge_to_the_exact_length_like_one_over_n():
    # a wider net has more kinks; the chord sum cuts each one, so its error falls like 1/n
    g = torch.Generator().manual_seed(3)
    net = nets.mlp([3, 12, 12, 2], activation="relu").to(F64)
    initialize(net, "he_normal", g, sigma_b2=0.1)
    a, b = torch.randn(2, 3, generator=g, dtype=F64)
    curve = trajectory.segment(a, b)
    exact = trajectory.length(net, curve, layers=["output"]).lengths[0, -1]
    err = [exact - _dense_lengths(net, curve, ["output"], n=n)[0] for n in (10_000, 1_000_000)]
    assert err[0] > 0 and err[1] > 0
    assert 20 < err[0] / err[1] < 500
    assert err[1] / exact < 1e-5


def test_hand_computed_two_neuron_net():
    # f(x) = relu(x - 0.5) + relu(-x) on the segment [-1, 2]: slopes -1, 0, +1
    net = nn.Sequential(nn.Linear(1, 2), nn.ReLU(), nn.Linear(2, 1)).to(F64)
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0], [-1.0]]))
        net[0].bias.copy_(torch.tensor([-0.5, 0.0]))
        net[2].weight.copy_(torch.tensor([[1.0, 1.0]]))
        net[2].bias.zero_()
    res = trajectory.length(net, trajectory.segment(torch.tensor([-1.0]), torch.tensor([2.0])))
    assert res.layers == ("input", "0", "2")
    # input length 3; pre-activations (x - 0.5, -x): length 3 sqrt 2; output: 1 + 0 + 1.5
    np.testing.assert_allclose(res.lengths[0], [3.0, 3 * math.sqrt(2), 2.5], rtol=1e-14)
    assert res.pieces[0].tolist() == [1, 1, 3]
    assert res.transitions[0] == 2
    # after the ReLU: (-1.5, 1) -> (0, 0.5) ... the path (0,1) -> (0,0) -> (0,0) -> (1.5,0)
    hid = trajectory.length(
        net, trajectory.segment(torch.tensor([-1.0]), torch.tensor([2.0])), layers=["1"]
    )
    np.testing.assert_allclose(hid.lengths[0, 1], 2.5, rtol=1e-14)


def test_orthogonal_linear_map_keeps_circle_length_and_curvature():
    g = torch.Generator().manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(6, 6, generator=g, dtype=F64))
    lin = nn.Linear(6, 6, bias=True).to(F64)
    with torch.no_grad():
        lin.weight.copy_(q)
    u0, u1 = torch.randn(2, 6, generator=g, dtype=F64)
    res = trajectory.length(lin, trajectory.great_circle(u0, u1, radius=2.0), curvature=True)
    np.testing.assert_allclose(res.lengths[0], [4 * math.pi] * 2, rtol=1e-12)
    np.testing.assert_allclose(res.curvature[0], [0.5, 0.5], rtol=1e-6)
    assert res.converged and res.achieved_tol <= 1e-5


def test_adaptive_length_of_a_tanh_net_matches_dense_chords():
    g = torch.Generator().manual_seed(1)
    net = nets.mlp([4, 32, 32, 3], activation="tanh").to(F64)
    initialize(net, "custom", g, sigma_b2=0.09, sigma_w2=4.0)
    u0, u1 = torch.randn(2, 4, generator=g, dtype=F64)
    curve = trajectory.great_circle(u0, u1, radius=3.0)
    res = trajectory.length(net, curve, tol=1e-8)
    assert res.converged and res.achieved_tol <= 1e-8
    dense = _dense_lengths(net, curve, res.layers, n=200_000)
    np.testing.assert_allclose(res.lengths[0], dense, rtol=1e-8)


def test_mlp_lengths_batched_matches_length_per_net():
    g = torch.Generator().manual_seed(2)
    models = []
    for _ in range(3):
        m = nets.mlp([5, 20, 20, 20], activation="tanh").to(F64)
        initialize(m, "custom", g, sigma_b2=0.05, sigma_w2=2.0)
        models.append(m)
    lin = [m for m in models[0] if isinstance(m, nn.Linear)]
    ws = [
        torch.stack([[x for x in m if isinstance(x, nn.Linear)][i].weight for m in models]).detach()
        for i in range(len(lin))
    ]
    bs = [
        torch.stack([[x for x in m if isinstance(x, nn.Linear)][i].bias for m in models]).detach()
        for i in range(len(lin))
    ]
    u0, u1 = torch.randn(2, 5, generator=g, dtype=F64)
    curve = trajectory.great_circle(u0, u1, radius=2.0)
    lens, curv = trajectory.mlp_lengths(ws, bs, torch.tanh, curve, n=2048, curvature=True)
    for k, m in enumerate(models):
        ref = trajectory.length(m, curve, tol=1e-10, curvature=True)
        np.testing.assert_allclose(lens[k], ref.lengths[0], rtol=1e-9)
        np.testing.assert_allclose(curv[k], ref.curvature[0], rtol=1e-5)


def test_many_curves_in_one_batch_equal_one_at_a_time():
    g = torch.Generator().manual_seed(4)
    net = nets.mlp([3, 10, 2], activation="gelu").to(F64)
    pts = torch.randn(4, 3, generator=g, dtype=F64)
    curves = [trajectory.great_circle(pts[0], pts[1]), trajectory.closed_curve(pts, "cubic")]
    both = trajectory.length(net, curves, tol=1e-9)
    for i, c in enumerate(curves):
        one = trajectory.length(net, c, tol=1e-9)
        np.testing.assert_allclose(both.lengths[i], one.lengths[0], rtol=1e-8)


def test_curves_pass_through_their_points():
    pts = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=F64)
    lin = trajectory.closed_curve(pts)
    assert abs(lin.input_length - (2 + math.sqrt(2))) < 1e-12
    cub = trajectory.closed_curve(pts, "cubic")
    got = cub.points(torch.tensor([0.0, 1 / 3, 2 / 3], dtype=F64))
    torch.testing.assert_close(got, pts)
    torch.testing.assert_close(cub.points(torch.tensor([1.0], dtype=F64))[0], pts[0])


def test_clear_errors():
    net = nets.mlp([2, 4, 1], activation="tanh")
    e = torch.tensor([1.0, 0.0])
    with pytest.raises(ValueError, match="parallel"):
        trajectory.great_circle(e, 2 * e)
    with pytest.raises(ValueError, match="unknown layer 'nope'"):
        trajectory.length(net, trajectory.segment(e, -e), layers=["nope"])
    with pytest.raises(ValueError, match="polyline"):
        trajectory.length(net, trajectory.great_circle(e, torch.tensor([0.0, 1.0])), method="exact")
    with pytest.raises(ValueError, match="method"):
        trajectory.length(net, trajectory.segment(e, -e), method="fast")


def test_float32_model_gets_float64_curvature_and_is_left_float32():
    net = nets.mlp([3, 16, 2], activation="tanh")
    e0, e1 = torch.eye(3)[:2]
    res = trajectory.length(net, trajectory.great_circle(e0, e1, radius=3.0), curvature=True)
    assert abs(res.curvature[0, 0] - 1 / 3) < 1e-9
    assert next(net.parameters()).dtype == torch.float32
    ref = trajectory.length(
        net.to(F64), trajectory.great_circle(e0, e1, radius=3.0), curvature=True
    )
    np.testing.assert_allclose(res.curvature, ref.curvature, rtol=1e-6)


def test_mlp_lengths_post_activation_equals_final_activation_of_each_prefix():
    g = torch.Generator().manual_seed(5)
    ws = [
        torch.randn(2, 6, 4, generator=g, dtype=F64),
        torch.randn(2, 6, 6, generator=g, dtype=F64),
    ]
    bs = [torch.randn(2, 6, generator=g, dtype=F64) for _ in ws]
    c = trajectory.great_circle(*torch.eye(4, dtype=F64)[:2])
    post, _ = trajectory.mlp_lengths(ws, bs, torch.tanh, c, n=256, post_activation=True)
    for d in (1, 2):
        ref, _ = trajectory.mlp_lengths(ws[:d], bs[:d], torch.tanh, c, n=256, final_activation=True)
        np.testing.assert_allclose(post[:, d], ref[:, -1], rtol=1e-12)
