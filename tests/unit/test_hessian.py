"""Hessian probes against the dense Hessian of a tiny model (torch.autograd.functional.hessian)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from depthlab import landscape
from depthlab.landscape import hessian

CE = F.cross_entropy


def _tiny():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).double()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(120, 4, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (120,), generator=g)
    return model, x, y


def _dense_hessian(model, x, y, at=None) -> torch.Tensor:
    named = {n: p.detach() for n, p in model.named_parameters()}
    at = at or named
    names, shapes = list(named), [named[n].shape for n in named]

    def f(flat):
        ps, off = {}, 0
        for n, sh in zip(names, shapes, strict=True):
            k = sh.numel()
            ps[n] = flat[off : off + k].view(sh)
            off += k
        return CE(functional_call(model, ps, (x,)), y)

    flat = torch.cat([at[n].flatten() for n in names])
    return torch.autograd.functional.hessian(f, flat)


def test_lanczos_extremes_match_eigvalsh_of_the_full_hessian():
    model, x, y = _tiny()
    ev = torch.linalg.eigvalsh(_dense_hessian(model, x, y))
    spec = hessian.eigenvalues(model, CE, (x, y), iters=100, batch_size=50)
    assert spec.dim == 51
    assert spec.lambda_max == pytest.approx(float(ev[-1]), rel=1e-8)
    assert spec.lambda_min == pytest.approx(float(ev[0]), rel=1e-8, abs=1e-10)
    assert spec.lambda_min < 0  # an untrained net has negative curvature
    assert spec.ratio == pytest.approx(abs(float(ev[0] / ev[-1])), rel=1e-7)


def test_few_lanczos_steps_find_the_top_eigenvalue():
    model, x, y = _tiny()
    ev = torch.linalg.eigvalsh(_dense_hessian(model, x, y))
    spec = hessian.eigenvalues(model, CE, (x, y), iters=25)
    assert spec.lambda_max == pytest.approx(float(ev[-1]), rel=1e-4)


def test_hutchinson_trace_within_four_standard_errors():
    model, x, y = _tiny()
    exact = float(torch.trace(_dense_hessian(model, x, y)))
    est = hessian.trace(model, CE, (x, y), samples=300, seed=0)
    assert abs(est.estimate - exact) < 4 * est.stderr
    assert est.stderr < 0.2 * abs(exact)


def test_curvature_map_at_a_grid_point_matches_the_dense_hessian_there():
    model, x, y = _tiny()
    d1 = landscape.random_direction(model, seed=0)
    d2 = landscape.random_direction(model, seed=1)
    cm = hessian.curvature_map(
        model, CE, (x, y), (d1, d2), landscape.Grid((0.0, 0.7), (-0.4,)), iters=100
    )
    assert cm.lambda_max.shape == (2, 1)
    at = {
        n: p.detach() + 0.7 * d1.tensors[n] - 0.4 * d2.tensors[n]
        for n, p in model.named_parameters()
    }
    ev = torch.linalg.eigvalsh(_dense_hessian(model, x, y, at))
    assert float(cm.lambda_max[1, 0]) == pytest.approx(float(ev[-1]), rel=1e-8)
    assert float(cm.lambda_min[1, 0]) == pytest.approx(float(ev[0]), rel=1e-7, abs=1e-10)
    assert set(cm.to_frame().columns) >= {"alpha", "beta", "ratio"}
