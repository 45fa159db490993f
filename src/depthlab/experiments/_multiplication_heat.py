"""The multiplication experiment's error heat map: depth k against total neurons at fixed n.

Every cell (k, neurons) trains ``len(heat_lrs) * heat_seeds`` tanh nets with ``k`` equal hidden
layers of ``neurons // k`` units on the product of ``heat_n`` inputs from ``U[0, 2]``, all in one
batched call (parameters stacked on a leading model axis, ``torch.baddbmm``), with

- **fresh samples every step**: each seed draws its own minibatch of ``heat_batch`` points per
  step from the importance-sampled mixture of :func:`depthlab.data.synthetic.product_is_data`
  (half ``U[0, 2]^n``, half the ``y²``-tilted density, weights ``p/q <= 2``), so no net can
  overfit a fixed training set and the loss is an unbiased estimate of the relative MSE;
- **a learning-rate scan decided before the run** (``heat_lrs``): Adam with a cosine schedule,
  every learning rate from the same initial net of a seed; the rate is chosen per (cell, seed)
  on a validation set, and the reported error is that net's error on a separate test set (both
  ``heat_n_test`` points per seed, drawn once);
- **seeds as the independent unit**: a seed owns its initial nets (stream
  ``("mult-heat-init", k, neurons, seed)``), its minibatches (``("mult-heat-data", k, neurons,
  seed)``) and its validation and test sets (``("mult-heat-val", seed)``,
  ``("mult-heat-test", seed)``).
"""

from __future__ import annotations

import math

import pandas as pd
import torch

from depthlab.context import RunContext
from depthlab.theory.multiplication import depth_k_bound, shallow_product_neurons

BETAS = (0.9, 0.999)
EPS = 1e-8


def product_is_sample(
    n: int, shape: tuple[int, ...], generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(x, y', weight)`` of shape ``(*shape, n)``, ``shape``, ``shape``: the same mixture,
    scaling and weights as :func:`~depthlab.data.synthetic.product_is_data`, so
    ``mean(weight * (f' - y')^2)`` estimates the relative MSE ``E[(f - y)^2] / Var(y)``."""
    u = torch.rand(*shape, n, generator=generator, dtype=torch.float64)
    tilted = (torch.arange(shape[-1]) % 2 == 1).view(*([1] * (len(shape) - 1)), shape[-1], 1)
    x = torch.where(tilted, 2 * u ** (1 / 3), 2 * u)
    y = x.prod(dim=-1)
    m2 = (4 / 3) ** n
    var_p = m2 - 1
    s2 = 0.5 * var_p + 0.5 * (2.4**n - 2 * 1.5**n + 1)
    w = 1 / (0.5 + 0.5 * y**2 / m2)
    return (x - 1).float(), ((y - 1) / math.sqrt(s2)).float(), (w * s2 / var_p).float()


def _init(dims: list[int], seeds: int, k: int, total: int, ctx: RunContext) -> list[torch.Tensor]:
    """LeCun-normal weights and zero biases, one net per seed: ``[W_1..W_L, b_1..b_L]``,
    ``W_l`` of shape ``(seeds, d_{l-1}, d_l)``."""
    ws, bs = [], []
    for a, b in zip(dims[:-1], dims[1:], strict=True):
        ws.append(torch.empty(seeds, a, b))
        bs.append(torch.zeros(seeds, 1, b))
    for s in range(seeds):
        g = ctx.generator("mult-heat-init", k, total, s)
        for w in ws:
            w[s] = torch.randn(w.shape[1:], generator=g) / math.sqrt(w.shape[1])
    return ws + bs


def _forward(params: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    layers = len(params) // 2
    h = x
    for i in range(layers):
        h = torch.baddbmm(params[layers + i], h, params[i])
        if i < layers - 1:
            h = torch.tanh(h)
    return h[..., 0]


def _errors(params: list[torch.Tensor], sets: list[tuple], lrs: int) -> torch.Tensor:
    """Relative MSE of every model (``lrs * seeds``, lr-major) on its seed's evaluation set."""
    with torch.no_grad():
        x = torch.stack([s[0] for s in sets]).repeat(lrs, 1, 1)
        y = torch.stack([s[1] for s in sets]).repeat(lrs, 1)
        w = torch.stack([s[2] for s in sets]).repeat(lrs, 1)
        return (w * (_forward(params, x) - y) ** 2).mean(dim=1)


def train_cell(
    n: int,
    k: int,
    total: int,
    lrs: list[float],
    seeds: int,
    steps: int,
    batch: int,
    val: list[tuple],
    test: list[tuple],
    ctx: RunContext,
) -> list[dict]:
    """Train one heat-map cell (every learning rate x seed) and return one record per model."""
    width = max(1, total // k)
    dims = [n] + [width] * k + [1]
    base = _init(dims, seeds, k, total, ctx)
    params = [p.repeat(len(lrs), 1, 1).requires_grad_() for p in base]
    lr = torch.tensor([v for v in lrs for _ in range(seeds)]).view(-1, 1, 1)
    mom = [torch.zeros_like(p) for p in params]
    var = [torch.zeros_like(p) for p in params]
    gens = [ctx.generator("mult-heat-data", k, total, s) for s in range(seeds)]
    b1, b2 = BETAS
    for step in range(steps):
        draws = [product_is_sample(n, (batch,), g) for g in gens]
        x = torch.stack([d[0] for d in draws]).repeat(len(lrs), 1, 1)
        y = torch.stack([d[1] for d in draws]).repeat(len(lrs), 1)
        w = torch.stack([d[2] for d in draws]).repeat(len(lrs), 1)
        loss = (w * (_forward(params, x) - y) ** 2).mean(dim=1)
        grads = torch.autograd.grad(loss.sum(), params)
        scale = 0.5 * (1 + math.cos(math.pi * step / steps))
        c1, c2 = 1 - b1 ** (step + 1), 1 - b2 ** (step + 1)
        with torch.no_grad():
            for p, g, m, v in zip(params, grads, mom, var, strict=True):
                m.mul_(b1).add_(g, alpha=1 - b1)
                v.mul_(b2).addcmul_(g, g, value=1 - b2)
                p.sub_(scale * lr * (m / c1) / ((v / c2).sqrt() + EPS))
    e_val, e_test = _errors(params, val, len(lrs)), _errors(params, test, len(lrs))
    return [
        {
            "k": k,
            "neurons_grid": total,
            "neurons": k * width,
            "width": width,
            "lr": lrs[j // seeds],
            "seed": j % seeds,
            "val_rel_mse": float(e_val[j]),
            "test_rel_mse": float(e_test[j]),
        }
        for j in range(len(lrs) * seeds)
    ]


def heatmap(config, ctx: RunContext) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All cells: ``(runs, heat)``. ``runs`` has one row per trained net; ``heat`` one row per
    (k, neurons, seed) at the learning rate the validation set chose, beside the bounds."""
    n = config.heat_n
    seeds = config.heat_seeds
    val = [
        product_is_sample(n, (config.heat_n_test,), ctx.generator("mult-heat-val", s))
        for s in range(seeds)
    ]
    test = [
        product_is_sample(n, (config.heat_n_test,), ctx.generator("mult-heat-test", s))
        for s in range(seeds)
    ]
    recs: list[dict] = []
    cells = [
        (k, t)
        for k in config.depths
        for t in config.heat_neurons
        if k == 1 or t <= config.heat_max_deep
    ]
    for k, total in ctx.progress.track(cells, "heat map (depth x neurons)"):
        recs += train_cell(
            n,
            k,
            total,
            list(config.heat_lrs),
            seeds,
            config.heat_steps,
            config.heat_batch,
            val,
            test,
            ctx,
        )
    runs = pd.DataFrame(recs)
    runs.insert(0, "n", n)
    best = runs.loc[runs.groupby(["k", "neurons_grid", "seed"])["val_rel_mse"].idxmin()]
    heat = best.rename(columns={"test_rel_mse": "rel_mse"}).reset_index(drop=True)
    heat["reached"] = heat.rel_mse <= config.target_rel_mse
    heat["bound_thm51"] = [depth_k_bound(n, int(k)) for k in heat.k]
    heat["shallow_exact"] = shallow_product_neurons(n)
    return runs, heat


def minima_per_seed(heat: pd.DataFrame) -> pd.DataFrame:
    """Per (k, seed): the fewest neurons in the grid whose net reached the target (``NaN``:
    censored, none did) and the most neurons tried."""
    rows = []
    for (k, s), g in heat.groupby(["k", "seed"]):
        hit = g[g.reached]
        rows.append(
            {
                "k": int(k),
                "seed": int(s),
                "min_neurons": float(hit.neurons.min()) if len(hit) else float("nan"),
                "max_tried": float(g.neurons.max()),
                "bound_thm51": int(g.bound_thm51.iloc[0]),
            }
        )
    return pd.DataFrame(rows)


__all__ = ["heatmap", "minima_per_seed", "product_is_sample", "train_cell"]
