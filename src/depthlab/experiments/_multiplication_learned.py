"""The width search of the multiplication experiment (tables only; run at the paper scale).

For each (n, k) a :class:`~depthlab.widthsearch.WidthSearch` looks for the fewest neurons a
tanh net with k hidden layers needs to reach the target relative test MSE on
:func:`~depthlab.data.synthetic.product_is_data`. :func:`search_rounds` advances every search
one round at a time and trains all probes of a round that share a depth, a width bucket and a
step budget in one :func:`~depthlab.train_batched.fit_batched` call (see the module docstring of
:mod:`depthlab.experiments.multiplication` for the design and the budget).
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import torch
from torch import nn

from depthlab.context import RunContext
from depthlab.data.base import Dataset
from depthlab.data.synthetic import product_is_data, weighted_mse
from depthlab.experiments._multiplication_config import MultiplicationConfig
from depthlab.init import initialize
from depthlab.nets import mlp
from depthlab.theory.multiplication import (
    deep_monomial_neurons,
    depth_k_bound,
    shallow_product_neurons,
    tree_product_neurons,
)
from depthlab.train import TrainConfig
from depthlab.train_batched import embed_padded, fit_batched
from depthlab.widthsearch import WidthSearch

Key = tuple[int, int]  # (n, k): inputs and hidden layers of one search


def cap(k: int, ns: list[int], config: MultiplicationConfig) -> int:
    """Cap on total neurons: ``max_neurons`` (default 2^max n) for k = 1, else the deep cap."""
    if k == 1:
        return config.max_neurons or 2 ** max(ns)
    return config.max_neurons_deep


def budget(n: int, config: MultiplicationConfig) -> tuple[int, int]:
    """(steps, seeds) per probe for this n."""
    if n >= config.large_n:
        return config.steps_large, config.seeds_large
    return config.steps, config.seeds


def data(n: int, config: MultiplicationConfig, ctx: RunContext) -> Dataset:
    """The importance-sampled product data for n inputs on the run's device."""
    return product_is_data(
        n,
        config.n_train,
        config.n_test,
        int(ctx.rng("mult-search-data", n).integers(2**62)),
        ctx.device,
        ctx.dtype,
    )


def searches(ns: list[int], config: MultiplicationConfig) -> dict[Key, WidthSearch]:
    """One width search per (n, k), in widths per layer (the caps and plateau start divided by k)."""
    return {
        (n, k): WidthSearch(
            cap=max(1, cap(k, ns, config) // k),
            resolution=config.resolution,
            plateau=config.plateau,
            plateau_from=max(4, -(-config.plateau_from // k)),
        )
        for k in config.depths
        for n in ns
    }


def stack_data(datasets: list[Dataset], n_pad: int) -> Dataset:
    """One slice per model, inputs zero-padded to ``n_pad`` columns."""

    def pad(x: torch.Tensor) -> torch.Tensor:
        return nn.functional.pad(x, (0, n_pad - x.shape[1]))

    return Dataset(
        torch.stack([pad(d.x_train) for d in datasets]),
        torch.stack([d.y_train for d in datasets]),
        torch.stack([pad(d.x_test) for d in datasets]),
        torch.stack([d.y_test for d in datasets]),
        "regression",
        {"name": "stacked"},
    )


def bucket(w: int) -> int:
    """The width bucket of ``w``: the next power of two (probes of one bucket train together)."""
    return 1 << max(0, (w - 1).bit_length())


def train(
    k: int,
    items: list[tuple[int, int]],
    steps: int,
    datasets: dict[int, Dataset],
    config: MultiplicationConfig,
    ctx: RunContext,
    stop_at_target: bool,
) -> list[dict]:
    """Train every (n, width) of ``items`` with its seeds in one batched call.

    Returns one record per model: n, width, seed, reached (target met at an evaluation),
    best and final relative test MSE, steps taken.
    """
    big_w = max(w for _, w in items)
    n_pad = max(n for n, _ in items)
    models, gens, slices, owners = [], [], [], []
    for n, w in items:
        for s in range(budget(n, config)[1]):
            narrow = mlp([n] + [w] * k + [1], activation="tanh")
            initialize(narrow, "lecun_normal", ctx.generator("mult-search-init", n, k, w, s))
            wide = embed_padded(narrow, mlp([n_pad] + [big_w] * k + [1], activation="tanh"))
            models.append(wide.to(ctx.device, ctx.dtype))
            gens.append(ctx.generator("mult-search-order", n, k, w, s))
            slices.append(datasets[n])
            owners.append((n, w, s))
    cfg = TrainConfig(
        optimizer="adam",
        lr=config.lr,
        epochs=steps,
        batch_size=config.n_train,
        loss="mse",
        schedule="cosine",
        eval_every=min(config.eval_every, steps),
        target_metric=config.target_rel_mse if stop_at_target else None,
    )
    res = fit_batched(
        models,
        stack_data(slices, n_pad),
        cfg,
        generators=gens,
        loss_fn=weighted_mse,
        eval_loss_fn=weighted_mse,
        stacked_data=True,
    )
    best = res.history.groupby("model")["test_loss"].min()
    return [
        {
            "n": n,
            "width": w,
            "seed": s,
            "reached": res.reached_at_epoch[j] is not None,
            "best_rel_mse": float(best.loc[j]),
            "final_rel_mse": float(res.finals[j]["test_loss"]),
            "steps": int(res.steps[j]),
            "batch_models": len(models),
            "batch_width": big_w,
        }
        for j, (n, w, s) in enumerate(owners)
    ]


def _round_groups(
    searches: dict[Key, WidthSearch], config: MultiplicationConfig
) -> dict[tuple[int, int, int], list[tuple[int, int]]]:
    """Every search's proposed widths, grouped by (depth, width bucket, step budget)."""
    groups: dict[tuple[int, int, int], list[tuple[int, int]]] = {}
    for (n, k), s in searches.items():
        for w in s.propose():
            steps = budget(n, config)[0]
            groups.setdefault((k, bucket(w), steps), []).append((n, w))
    return groups


def search_rounds(
    searches: dict[Key, WidthSearch],
    datasets: dict[int, Dataset],
    config: MultiplicationConfig,
    ctx: RunContext,
    rows: list[dict],
) -> Iterator[int]:
    """Advance every search one round at a time; yields after each batched call.

    A round gathers every search's proposed widths, groups them by (depth, width bucket,
    step budget) and trains each group in one call; then all searches update. One row per
    probed (n, k, width) is appended to ``rows`` (the ``width_probes`` table).
    """
    while True:
        groups = _round_groups(searches, config)
        if not groups:
            return
        outcomes: dict[Key, dict[int, bool]] = {}
        errors: dict[Key, dict[int, float]] = {}
        for (k, _, steps), items in sorted(groups.items()):
            recs = train(k, items, steps, datasets, config, ctx, stop_at_target=True)
            for (n, w), grp in pd.DataFrame(recs).groupby(["n", "width"]):
                passed = bool(grp.reached.any())
                outcomes.setdefault((int(n), k), {})[int(w)] = passed
                errors.setdefault((int(n), k), {})[int(w)] = float(grp.best_rel_mse.min())
                rows.append(
                    {
                        "n": int(n),
                        "k": k,
                        "width": int(w),
                        "neurons": k * int(w),
                        "round": searches[(int(n), k)].rounds + 1,
                        "passed": passed,
                        "best_rel_mse": float(grp.best_rel_mse.min()),
                        "seeds": len(grp),
                        "max_steps": int(grp.steps.max()),
                        "step_budget": steps,
                        "batch_models": int(grp.batch_models.iloc[0]),
                        "batch_width": int(grp.batch_width.iloc[0]),
                    }
                )
            yield len(recs)
        for key, o in outcomes.items():
            searches[key].update(o, errors[key])


def minima_table(searches: dict[Key, WidthSearch], config: MultiplicationConfig) -> pd.DataFrame:
    """One row per finished search: the bracket in total neurons beside the theory's counts."""
    rows = []
    for (n, k), s in sorted(searches.items()):
        steps, seeds = budget(n, config)
        rows.append(
            {
                "n": n,
                "k": k,
                "min_neurons": k * s.result if s.result is not None else None,
                "found": s.result is not None,
                "stop": s.stop_reason,
                "max_failing_neurons": k * s.lo,
                "width": s.result,
                "cap_neurons": k * s.cap,
                "probes": len(s.probed),
                "rounds": s.rounds,
                "seeds": seeds,
                "steps": steps,
                "bound_thm51": depth_k_bound(n, k),
                "shallow_exact": shallow_product_neurons(n),
                "tree_neurons": tree_product_neurons(n)[0],
                "tree_layers": tree_product_neurons(n)[1],
                "deep_monomial": deep_monomial_neurons([1] * n),
            }
        )
    frame = pd.DataFrame(rows)
    frame["min_neurons"] = frame["min_neurons"].astype("Float64").astype(float)
    frame["width"] = frame["width"].astype("Float64").astype(float)
    return frame


def minima_by_n(minima: pd.DataFrame) -> pd.DataFrame:
    """One row per n: measured minima per depth (NaN: censored) beside the bounds."""
    wide = minima.pivot(index="n", columns="k", values="min_neurons")
    wide.columns = [f"measured_k{k}" for k in wide.columns]
    out = wide.reset_index()
    for k in sorted(minima.k.unique()):
        caps = minima[minima.k == k].set_index("n")["cap_neurons"]
        out[f"cap_k{k}"] = out.n.map(caps)
    out["shallow_exact"] = [shallow_product_neurons(n) for n in out.n]
    for k in (2, 3, 4):
        out[f"thm51_k{k}"] = [depth_k_bound(n, k) for n in out.n]
    out["tree"] = [tree_product_neurons(n)[0] for n in out.n]
    out["deep_monomial"] = [deep_monomial_neurons([1] * n) for n in out.n]
    return out


__all__ = [
    "bucket",
    "budget",
    "cap",
    "data",
    "minima_by_n",
    "minima_table",
    "search_rounds",
    "searches",
    "stack_data",
    "train",
]
