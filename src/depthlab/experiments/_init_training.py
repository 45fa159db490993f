"""Training helpers of the init experiments: seeds of one architecture trained together."""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import numpy as np
import pandas as pd

from depthlab.init import initialize
from depthlab.nets import mlp
from depthlab.theory import signal as th
from depthlab.train import TrainConfig
from depthlab.train_batched import embed_padded, fit_batched

_DIVERGED = re.compile(r"non-finite for models \[([0-9, ]*)\]")


def fit_surviving(
    models: list, make_generators: Callable[[list[int]], list], data, tc: TrainConfig
) -> tuple[list[int | None], list[dict], list[bool]]:
    """:func:`fit_batched` on ``models``, where a net whose training loss becomes non-finite
    (diverges) is dropped and the others train again from their unchanged inits with fresh copies
    of their streams (``make_generators(indices)``), so every surviving net trains exactly as it
    would alone. Returns, per net, the epoch it reached the target (``None``: never, or
    diverged), its last evaluation (``{}`` if diverged) and whether it diverged."""
    alive = list(range(len(models)))
    diverged: set[int] = set()
    reached: list[int | None] = [None] * len(models)
    finals: list[dict] = [{} for _ in models]
    while alive:
        try:
            res = fit_batched(
                [models[i] for i in alive], data, tc, generators=make_generators(alive)
            )
        except FloatingPointError as err:
            found = _DIVERGED.search(str(err))
            bad = [alive[int(j)] for j in found.group(1).split(",") if j.strip()] if found else []
            if not bad:
                raise
            diverged.update(bad)
            alive = [i for i in alive if i not in diverged]
            continue
        for i, r, f in zip(alive, res.reached_at_epoch, res.finals, strict=True):
            reached[i], finals[i] = r, f
        break
    return reached, finals, [i in diverged for i in range(len(models))]


def pick_lr(scan: pd.DataFrame) -> float:
    """The learning rate of a scan table (rows ``lr``, ``epochs_to_target``, one per net; a net
    that never reached the target or diverged carries the censored cap) with the fewest mean
    epochs to the target; ties go to the smaller learning rate."""
    means = scan.groupby("lr")["epochs_to_target"].mean().sort_index()
    return float(means.index[int(np.argmin(means.to_numpy()))])


def train_depth(ctx, config, data, depth: int, nets, seeds: int, salt):
    """One row per (scheme, width, lr) net and seed at ``depth``, each net trained from its own
    init stream; nets of one learning rate train together (narrower ones zero-padded to the
    group's width), and seed ``s`` shares its mini-batch order across the nets of a depth."""
    n_in = int(data.x_train.shape[1])
    cap = float(config.max_epochs + 1)
    rows = []
    for lr in dict.fromkeys(n[2] for n in nets):
        group = [(s, w) for s, w, r in nets if r == lr]
        wide = max(w for _, w in group)
        tc = TrainConfig(
            optimizer="sgd",
            lr=lr,
            momentum=config.momentum,
            epochs=config.max_epochs,
            batch_size=config.batch_size,
            target_metric=config.target_acc,
        )
        models, meta = [], []
        for scheme, width in group:
            for seed in range(seeds):
                net = mlp([n_in, *[width] * depth, 10])
                key = ("init-trainability", "init", scheme, depth, width, seed, *salt)
                initialize(net, scheme, ctx.generator(*key))
                if width != wide:
                    net = embed_padded(net, mlp([n_in, *[wide] * depth, 10]))
                models.append(net.to(device=ctx.device, dtype=ctx.dtype))
                meta.append((scheme, width, seed))

        def orders(idx: list[int], meta: list = meta) -> list:
            return [
                ctx.generator("init-trainability", "order", depth, meta[i][2], *salt) for i in idx
            ]

        fitted = fit_surviving(models, orders, data, tc)
        for (scheme, width, seed), reached, final, diverged in zip(meta, *fitted, strict=True):
            rows.append(
                {
                    "scheme": scheme,
                    "depth": depth,
                    "width": width,
                    "seed": seed,
                    "lr": lr,
                    "beta": depth / width,
                    "log_drift": depth * math.log(th.scheme_gain(scheme, width, width)),
                    "reached": reached is not None,
                    "epochs_to_target": float(reached) if reached is not None else cap,
                    "diverged": diverged,
                    "last_test_acc": float(final.get("test_acc", math.nan)),
                    "steps_per_epoch": math.ceil(config.n_train / config.batch_size),
                }
            )
    return rows
