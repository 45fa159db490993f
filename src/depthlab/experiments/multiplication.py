"""The multiplication problem (Rolnick & Tegmark 2018; lecture slide 23).

Claims measured
---------------
1. The 4-neuron multiplication gate and the 3-neuron squaring gate are exact as λ -> 0: their
   error falls like λ² for every smooth activation with ``σ''(a) != 0`` (softplus, SiLU, GELU;
   tanh about a shifted point). Log-log slope of the max error against λ.
2. A binary tree of gates computes ``x_1 ⋯ x_n`` with ``4(n − 1)`` neurons in ``ceil(log2 n)``
   layers, far below the ``2^n`` one hidden layer needs exactly (``depthlab.theory.multiplication``).
3. Learned nets: for the product of n inputs from U[0, 2] and k = 1..4 hidden layers (equal
   widths, tanh as in their experiment), the smallest total neuron count ``k * w`` whose best
   seed reaches a target relative test MSE. The claim: the shallow minimum grows
   exponentially in n, the deep one far slower.

The width search
----------------
For each (n, k), :class:`~depthlab.widthsearch.WidthSearch` brackets the smallest passing width by doubling
(1, 2, 4, ..., 16 in the first round, then one doubling per round) and then bisects the
bracket (lo, hi] at its geometric midpoint (log2 steps), probing all widths of a bracket at
once once it holds at most 8 of them. It stops when ``hi − lo ≤ max(1, hi / 8)``, so the
reported minimum ``k * hi`` is exact *for the pass/fail oracle* up to 8 neurons per layer and
within 12.5% above that (training noise makes pass/fail non-monotone near the target, so one
lucky seed can pass below widths that fail: the ``width_probes`` table shows every probe);
the table gives the bracket (``max_failing_neurons``, ``min_neurons``]. A probe trains
``seeds`` nets of that width (several seeds; it passes if any seed does). A search whose cap
fails is *censored*: ``min_neurons`` is empty, never a made-up number.

Every probe of a round, over all n at one depth and width bucket (next power of two), trains
in one :func:`depthlab.train_batched.fit_batched` call: narrower nets are zero-padded to the
bucket's width and to the largest n's input size (exact for tanh: zero units stay zero and
zero input columns get zero gradient, see :func:`~depthlab.train_batched.embed_padded`),
and each model gets its own n's data (``stacked_data=True``). Each model stops as soon as its
test error reaches the target (per-model masking).

Training budget per probe (never tuned to the claim): tanh MLP, LeCun-normal init, full-batch
Adam, lr 3e-2 (as before this search was rewritten) with a cosine schedule over ``steps`` = 300
steps, 2 seeds, all fixed before any result; 512 training points, and for n ≥ ``large_n`` = 7
``steps_large`` = 150 steps and ``seeds_large`` = 1 seed, chosen from the wall time of the first
runs to fit the CPU budget (fewer steps and seeds at large n rather than fewer n). Test error (1024 points) is evaluated every 10 steps; a
net "reaches" the target if its test error is at or below it at one of these evaluations.
Caps: ``max_neurons`` (default ``2^max n``: 4096 on the CPU) for one hidden layer;
``max_neurons_deep`` = 128 for k ≥ 2 (the deep bounds need at most 48 at n ≤ 12; deep probes
cost width², so a deep cap of 4096 is out of reach on a CPU). A doubling that stops helping
(``plateau``: two doublings, from 128 neurons on, cut the best error by less than 10%) also
ends a search as censored. In the claim every censored search, at every
depth, counts as twice the one-layer cap, so the deep searches' lower cap cannot favour depth.

The target
----------
The target is unchanged: relative test MSE ``E[(f − y)²] / Var(y) ≤ 0.01`` with
``x ~ U[0, 2]^n`` and ``y = x_1 ⋯ x_n``. What changed is how it is *estimated*. ``y`` is
heavy-tailed: ``E[y²] = (4/3)^n`` is carried by the rare corner where every ``x_i`` is large,
and a plain sample of N points has an effective size of ``N (5/9)^n`` for it (below one point
at n = 12 with 1024 points), so the plain estimate at large n measures a handful of samples,
and the training set never sees the region the error is made of. So train and test points are
drawn from the mixture ``q = ½ U[0, 2]^n + ½ t``, where ``t`` has density ``∝ y²``
(``x_i = 2 u^{1/3}``), half from each, and every squared error is weighted by
``p/q = 1 / (½ + ½ y² / E[y²])`` (≤ 2): an unbiased estimate of the same relative MSE with
bounded weights, and the same population loss for training. ``Var(y) = (4/3)^n − 1`` is
exact. This was decided from the arithmetic above, before any run at n > 6.

Claim 3 is about *approximation to a fixed error by gradient descent*, not exact
representation, so the theory's ``2^n`` is an upper reference, not a prediction of the number.

Where each part lives
---------------------
The search itself is :mod:`depthlab.widthsearch` (it trains nothing); the product data and
its loss are :func:`depthlab.data.synthetic.product_is_data` and
:func:`~depthlab.data.synthetic.weighted_mse`; the batched training of the probes is
``_multiplication_learned``, the claims ``_multiplication_claims`` and the config
``_multiplication_config`` (the public names are re-exported here).

Time budget: default (n = 2..12 on the CPU) 93 s CPU on one thread (97 s wall at load ≈ 1 on
a shared 2-core machine, more under load); ``--quick`` under 10 s. On CUDA the default n range
is 2..16 (one-layer cap 2^16 neurons).
"""

from __future__ import annotations

import time

import pandas as pd
import torch

from depthlab.context import RunContext
from depthlab.core import Claim, Result
from depthlab.data.synthetic import product_is_data, weighted_mse
from depthlab.experiments import _multiplication_claims as claims_
from depthlab.experiments import _multiplication_learned as learned
from depthlab.experiments._multiplication_config import (
    MAX_DEPTH,
    MAX_N,
    MultiplicationConfig,
    default_ns,
)
from depthlab.experiments.base import register
from depthlab.nets.multiplication import multiplication_gate, product_tree, squaring_gate
from depthlab.theory.multiplication import shallow_product_neurons, tree_product_neurons
from depthlab.widthsearch import WidthSearch, search_min_width


@register
class Multiplication:
    name = "multiplication"
    title = "Multiplying n numbers: exact gates, 2^n shallow neurons, and what training finds"
    section = "multiplication"
    order = 10
    Config = MultiplicationConfig

    def run(self, config: MultiplicationConfig, ctx: RunContext) -> Result:
        t0 = time.perf_counter()
        ns = list(config.ns or default_ns(ctx.device))
        gates = self._gate_errors(config, ctx)
        trees = self._tree_errors(config)

        datasets = {n: learned.data(n, config, ctx) for n in ns}
        searches = learned.searches(ns, config)
        probe_rows: list[dict] = []
        calls = 0
        rounds = learned.search_rounds(searches, datasets, config, ctx, probe_rows)
        for _ in ctx.progress.track(rounds, "width search (batched probes)"):
            calls += 1
        minima = learned.minima_table(searches, config)
        probes = pd.DataFrame(probe_rows)

        heat = learned.heatmap(datasets, config, ctx)

        claims = [
            self._gate_claim(gates),
            self._tree_claim(trees),
            self._growth_claim(minima, config),
        ]
        from depthlab.plots.depth import plot_multiplication

        figures = (
            plot_multiplication(gates, minima, heat, config.target_rel_mse, ctx.out_dir)
            if ctx.out_dir is not None
            else {}
        )
        metrics = {
            "gate_slope_min": float(claims_.gate_slopes(gates).min()),
            "n_searches": float(len(minima)),
            "censored_searches": float((~minima.found).sum()),
            "width_probes": float(len(probes)),
            "fit_calls": float(calls),
            "n_max": float(max(ns)),
            "wall_s": time.perf_counter() - t0,
        }
        return Result(
            self.name,
            config.model_dump(),
            claims,
            {
                "gate_errors": gates,
                "tree": trees,
                "minimal_neurons": minima,
                "minima_by_n": learned.minima_by_n(minima),
                "width_probes": probes,
                "heatmap": heat,
            },
            figures,
            metrics,
        )

    # ---- constructions -------------------------------------------------------------------

    @staticmethod
    def _gate_errors(config: MultiplicationConfig, ctx: RunContext) -> pd.DataFrame:
        g = ctx.generator(1)
        x = 2 * torch.rand(4096, 2, generator=g, dtype=torch.float64)  # U[0, 2]^2
        rows = []
        with torch.no_grad():
            for act in config.activations:
                for lam in config.lambdas:
                    mul = multiplication_gate(act, lam)(x)[:, 0] - x.prod(dim=1)
                    sq = squaring_gate(act, lam)(x[:, :1])[:, 0] - x[:, 0] ** 2
                    for gate, err in (("multiply", mul), ("square", sq)):
                        rows.append(
                            {
                                "gate": gate,
                                "activation": act,
                                "lam": lam,
                                "max_abs_err": float(err.abs().max()),
                                "rms_err": float(err.pow(2).mean().sqrt()),
                            }
                        )
        return pd.DataFrame(rows)

    @staticmethod
    def _tree_errors(config: MultiplicationConfig) -> pd.DataFrame:
        rows = []
        g = torch.Generator().manual_seed(2)
        with torch.no_grad():
            for n in config.tree_ns:
                x = 2 * torch.rand(2048, n, generator=g, dtype=torch.float64)
                y = x.prod(dim=1)
                lam = 1e-3
                net = product_tree(n, "softplus", lam)
                err = net(x)[:, 0] - y
                rows.append(
                    {
                        "n": n,
                        "neurons": net.n_neurons,
                        "layers": net.n_layers,
                        "neurons_predicted": tree_product_neurons(n)[0],
                        "layers_predicted": tree_product_neurons(n)[1],
                        "shallow_exact": shallow_product_neurons(n),
                        "lam": lam,
                        "rel_rms_err": float(err.pow(2).mean().sqrt() / y.pow(2).mean().sqrt()),
                    }
                )
        return pd.DataFrame(rows)

    # ---- claims (see _multiplication_claims) -------------------------------------------------

    @staticmethod
    def _gate_claim(gates: pd.DataFrame) -> Claim:
        return claims_.gate_claim(gates)

    @staticmethod
    def _tree_claim(trees: pd.DataFrame) -> Claim:
        return claims_.tree_claim(trees)

    @staticmethod
    def _growth_claim(minima: pd.DataFrame, config: MultiplicationConfig) -> Claim:
        """Shallow minimum: log2(N_min) slope per input ≥ 0.5; deep: slope below the shallow one."""
        return claims_.growth_claim(minima, config)


__all__ = [
    "MAX_DEPTH",
    "MAX_N",
    "Multiplication",
    "MultiplicationConfig",
    "WidthSearch",
    "default_ns",
    "product_is_data",
    "search_min_width",
    "weighted_mse",
]
