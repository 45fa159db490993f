"""The batched signal probe against a plain float64 loop over nn.Modules with the same weights."""

import pytest
import torch
from torch import nn

from depthlab.signal import draw_weights, moments


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
