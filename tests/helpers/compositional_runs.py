"""Fake per-model tables (``runs``) for the compositional claims: power laws with a set advantage
and rate gap per n, so the tests feed the claims exact, known numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd

from depthlab.experiments.compositional import budget_for

TREE_SLOPE = -1.3


def fake_runs(
    comp_adv: dict[int, float],
    ctrl_adv: dict[int, float] | None = None,
    comp_gap: dict[int, float] | None = None,
    ctrl_gap: dict[int, float] | None = None,
    *,
    seeds: int = 8,
    node_widths=(2, 4, 8),
    noise: float = 0.05,
    gap_noise: float = 0.0,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per (target, n, arch, budget, seed). The tree's relative MSE falls like
    ``params^-1.3``; the shallow net's is ``A(n) (p / p_g)^{gap(n)}`` times the tree's, with p_g
    the geometric mean of the budgets at n, so the geometric mean over budgets of shallow/tree is
    A(n) and the rate gap (shallow minus tree log-log slope) is gap(n), up to ``noise`` (a
    multiplicative wobble per net) and ``gap_noise`` (a per-seed, per-n offset of the gap)."""
    rng = np.random.default_rng(seed)
    rows = []
    for target, adv, gap in (
        ("compositional", comp_adv, comp_gap),
        ("control", ctrl_adv, ctrl_gap),
    ):
        if adv is None:
            continue
        for n, a in adv.items():
            budgets = np.array([budget_for(n, m) for m in node_widths], dtype=float)
            pg = float(np.exp(np.log(budgets).mean()))
            for s in range(seeds):
                g = (gap or {}).get(n, 0.0) + gap_noise * rng.standard_normal()
                for b in budgets:
                    tree = 0.02 * (b / pg) ** TREE_SLOPE
                    shallow = tree * a * (b / pg) ** g
                    for arch, err in (("shallow", shallow), ("tree", tree)):
                        rows.append(
                            {
                                "target": target,
                                "n": n,
                                "arch": arch,
                                "budget": int(b),
                                "size": 1,
                                "seed": s,
                                "params": int(b),
                                "rel_mse": err * np.exp(noise * rng.standard_normal()),
                            }
                        )
    return pd.DataFrame(rows)
