"""Training helpers of the init experiments: seeds of one architecture trained together."""

from __future__ import annotations

import re
from collections.abc import Callable

from depthlab.train import TrainConfig
from depthlab.train_batched import fit_batched

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
