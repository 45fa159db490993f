"""The batched signal probe against a plain float64 loop over nn.Modules with the same weights."""

import pytest
import torch
from torch import nn

from depthlab.signal import draw_weights, mlp_family, model_moments, moments


def _reference(widths, weights, x0, jac_inputs):
    """One nn.Sequential per init, forward and autograd Jacobian, in a plain loop."""
    K = weights[0].shape[0]
    ms, j2, j4 = [], [], []
    for k in range(K):
        layers = []
        for w in weights:
            lin = nn.Linear(w.shape[2], w.shape[1], bias=False).double()
            with torch.no_grad():
                lin.weight.copy_(w[k])
            layers.append(lin)
        x, row = x0, [x0.pow(2).mean()]
        jrow2, jrow4 = [], []
        for lin in layers:
            sub = nn.Sequential(
                *[m for lin2 in layers[: layers.index(lin)] for m in (lin2, nn.ReLU())], lin
            )
            jac = torch.autograd.functional.jacobian(sub, x0)[:, :jac_inputs]
            jrow2.append(jac.pow(2).mean())
            jrow4.append(jac.pow(4).mean())
            x = torch.relu(lin(x))
            row.append(x.pow(2).mean())
        ms.append(torch.stack(row))
        j2.append(torch.stack(jrow2))
        j4.append(torch.stack(jrow4))
    return torch.stack(ms), torch.stack(j2), torch.stack(j4)


@pytest.mark.parametrize("scheme", ["he_normal", "he_uniform", "trunc_normal_naive", "orthogonal"])
def test_weights_engine_equals_plain_loop(scheme):
    widths, K = [6, 7, 5, 4], 5
    x0 = torch.randn(6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    g = torch.Generator().manual_seed(11)
    weights = [
        draw_weights(scheme, K, b, a, g) for a, b in zip(widths[:-1], widths[1:], strict=True)
    ]
    m, j2, j4 = _reference(widths, weights, x0, 2)
    r = moments(
        widths,
        K,
        scheme=scheme,
        x=x0,
        engine="weights",
        generator=torch.Generator().manual_seed(11),
        jac_inputs=2,
        chunk_size=K,
    )
    torch.testing.assert_close(r.m, m, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(r.jac2, j2, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(r.jac4, j4, rtol=1e-12, atol=1e-14)


def test_draw_weights_variances():
    g = torch.Generator().manual_seed(0)
    for scheme, want in [
        ("he_normal", 2 / 50),
        ("he_uniform", 2 / 50),
        ("trunc_normal_naive", 0.7737 * 2 / 50),
        ("orthogonal", 2 / 50),
    ]:
        w = draw_weights(scheme, 200, 50, 50, g)
        assert w.var().item() == pytest.approx(want, rel=0.01), scheme
    w = draw_weights("orthogonal", 3, 8, 5, g)
    torch.testing.assert_close(
        w.transpose(1, 2) @ w, 2 * torch.eye(5, dtype=torch.float64).expand(3, 5, 5)
    )


def test_chunking_and_seed_determinism():
    a = moments([5, 6, 7], 50, seed=3, chunk_size=50)
    b = moments([5, 6, 7], 50, seed=3, chunk_size=50)
    torch.testing.assert_close(a.m, b.m, rtol=0, atol=0)
    c = moments([5, 6, 7], 50, seed=3, chunk_size=7)
    assert c.m.shape == (50, 3) and c.jac2.shape == (50, 2)


def test_result_frame_and_repr():
    r = moments([5, 6, 7], 20, seed=0)
    df = r.to_frame()
    assert list(df["layer"]) == [0, 1, 2]
    assert {"mean_m", "second_m", "var_log_m", "jac_kurtosis"} <= set(df.columns)
    assert "E[M_d]/M_0" in repr(r)
    assert r.layer_var.shape == (20,) and r.layer_var_log.shape == (20,)
    upto = r.layer_var_log_upto
    assert upto.shape == (3,) and upto[0] == 0 and upto[1] == 0
    torch.testing.assert_close(upto[-1], r.layer_var_log.mean())


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="unknown init scheme 'nope'"):
        moments([3, 3], 10, scheme="nope")
    with pytest.raises(ValueError, match="engine 'gaussian' is exact only"):
        moments([3, 3], 10, scheme="he_uniform", engine="gaussian")
    with pytest.raises(ValueError, match="constant width"):
        moments([3, 4], 10, etas=[1.0])
    with pytest.raises(ValueError, match="example input x"):
        moments(lambda: nn.Linear(2, 2), 10)


def test_a_family_gives_the_numbers_of_the_deprecated_width_list():
    fam = mlp_family([6, 9, 7], activation="tanh")
    new = moments(fam, 40, seed=4, scheme="he_uniform")
    with pytest.warns(DeprecationWarning, match=r"moments\(widths, \.\.\.\) is deprecated"):
        old = moments([6, 9, 7], 40, seed=4, scheme="he_uniform", activation="tanh")
    assert torch.equal(new.m, old.m) and torch.equal(new.jac4, old.jac4)
    assert new.widths == (6, 9, 7) and new.activation == "tanh" and new.engine == "weights"
    res = moments(mlp_family([5] * 4, etas=[0.5, 0.5, 0.5]), 30, seed=1, jacobian=False)
    with pytest.warns(DeprecationWarning):
        old = moments([5] * 4, 30, etas=[0.5, 0.5, 0.5], seed=1, jacobian=False)
    assert torch.equal(res.m, old.m) and res.etas == (0.5, 0.5, 0.5)
    with pytest.warns(DeprecationWarning):
        again = moments(range(5, 8), 10, seed=2)  # any sequence of widths, as before
    assert again.widths == (5, 6, 7)
    assert res.layer_names == ("input", "block1", "block2", "block3")


def test_model_moments_is_a_deprecated_alias_of_moments_on_a_module():
    factory = lambda: nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2)).double()  # noqa: E731
    x = torch.randn(3, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    new = moments(factory, 5, x=x, seed=2)
    with pytest.warns(DeprecationWarning, match="model_moments is deprecated"):
        old = model_moments(factory, x, 5, seed=2)
    assert torch.equal(new.m, old.m) and torch.equal(new.jac2, old.jac2)
    assert new.engine == "module-loop" and new.m.shape == (5, 3)


def test_mlp_family_builds_seeded_nets_and_names_bad_arguments():
    fam = mlp_family([4, 6, 3])
    state = torch.random.get_rng_state()
    a, b = fam(), fam()
    assert torch.equal(torch.random.get_rng_state(), state)  # the global stream is untouched
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert [tuple(p.shape) for p in a.parameters()] == [(6, 4), (3, 6)]  # no biases
    c = fam(generator=torch.Generator().manual_seed(1))
    assert not torch.equal(next(a.parameters()), next(c.parameters()))
    res = mlp_family([5] * 3, etas=[1.0, 0.5])()
    assert res(torch.ones(2, 5)).shape == (2, 5)
    assert res.second[0].weight.var().item() < res.first[0].weight.var().item()
    with pytest.raises(ValueError, match="widths must be"):
        mlp_family([4])
    with pytest.raises(ValueError, match="unknown activation 'nope'"):
        mlp_family([4, 4], activation="nope")
    with pytest.raises(ValueError, match="constant width"):
        mlp_family([3, 4], etas=[1.0])
    with pytest.raises(ValueError, match="pass mlp_family"):
        moments(fam, 10, etas=[1.0, 1.0])
    with pytest.raises(ValueError, match="no biases"):
        moments(fam, 10, sigma_b2=0.1)
    with pytest.raises(TypeError, match=r"model must be an nn\.Module"):
        moments("mlp", 10)
