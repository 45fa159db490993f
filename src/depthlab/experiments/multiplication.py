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
For each (n, k), :class:`WidthSearch` brackets the smallest passing width by doubling
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

Time budget: default (n = 2..12 on the CPU) 93 s CPU on one thread (97 s wall at load ≈ 1 on
a shared 2-core machine, more under load); ``--quick`` under 10 s. On CUDA the default n range
is 2..16 (one-layer cap 2^16 neurons).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from pydantic import Field, field_validator
from torch import nn

from depthlab.config import ExperimentConfig
from depthlab.context import RunContext
from depthlab.core import Claim, Result, verdict_from
from depthlab.data.base import Dataset
from depthlab.experiments.base import register
from depthlab.init import initialize
from depthlab.nets import mlp
from depthlab.nets.multiplication import multiplication_gate, product_tree, squaring_gate
from depthlab.theory.multiplication import (
    deep_monomial_neurons,
    depth_k_bound,
    shallow_product_neurons,
    tree_product_neurons,
)
from depthlab.train import TrainConfig
from depthlab.train_batched import embed_padded, fit_batched

MAX_DEPTH = 4
MAX_N = 24


def _sorted_within(v: list[int], lo: int, hi: int, what: str, meaning: str) -> list[int]:
    """``v`` sorted and deduplicated; a ValueError naming the values outside ``lo..hi``."""
    if not v:
        raise ValueError(f"give at least one {what} ({lo}..{hi}), got []")
    bad = [x for x in v if not lo <= x <= hi]
    if bad:
        raise ValueError(f"every {what} must be {meaning} from {lo} to {hi}, got {bad} in {v}")
    return sorted(set(v))


class MultiplicationConfig(ExperimentConfig):
    activations: list[str] = Field(
        default=["softplus", "silu", "gelu", "tanh"], description="activations of the gates"
    )
    lambdas: list[float] = Field(
        default=[0.2, 0.1, 0.05, 0.025, 0.0125, 0.00625], description="gate scales λ"
    )
    tree_ns: list[int] = Field(default=[2, 3, 4, 8, 16], description="n for the product tree")
    ns: list[int] | None = Field(
        None,
        description="inputs n for the width search; None: 2..12 on the CPU, 2..16 on CUDA",
    )
    depths: list[int] = Field(default=[1, 2, 3, 4], description="hidden layers k (1..4)")
    seeds: int = Field(2, ge=1, description="seeds per probe (a probe passes if any seed does)")
    large_n: int = Field(7, ge=2, description="from this n on, use seeds_large and steps_large")
    seeds_large: int = Field(1, ge=1, description="seeds per probe for n >= large_n")
    target_rel_mse: float = Field(
        0.01, gt=0, lt=1, description="relative test MSE E[(f-y)^2]/Var(y) a net must reach"
    )
    max_neurons: int | None = Field(
        None, ge=2, description="cap on total neurons for k = 1; None: 2^max(ns)"
    )
    max_neurons_deep: int = Field(
        128, ge=2, description="cap on total neurons for k >= 2 (Thm 5.1 needs <= 48 at n <= 12)"
    )
    resolution: float = Field(
        0.125, gt=0, lt=1, description="bisection stops when hi - lo <= max(1, resolution * hi)"
    )
    plateau: float | None = Field(
        0.1,
        gt=0,
        lt=1,
        description="stop doubling (censored) once two doublings cut the error by less than this",
    )
    plateau_from: int = Field(
        128, ge=4, description="total neurons from which the plateau rule may stop a search"
    )
    steps: int = Field(300, ge=1, description="full-batch Adam steps per probe")
    steps_large: int = Field(150, ge=1, description="steps per probe for n >= large_n")
    eval_every: int = Field(10, ge=1, description="steps between test evaluations")
    lr: float = Field(3e-2, gt=0)
    n_train: int = Field(512, ge=16)
    n_test: int = Field(1024, ge=16)
    heat_n: int = Field(6, ge=2, description="n for the error heat map")
    heat_neurons: list[int] = Field(
        default=[4, 8, 16, 32, 64], description="total neurons (columns) of the heat map"
    )

    _quick_overrides = {
        "activations": ["softplus", "tanh"],
        "lambdas": [0.1, 0.05, 0.025],
        "tree_ns": [2, 3, 4],
        "ns": [2, 3, 4],
        "depths": [1, 2],
        "seeds": 1,
        "max_neurons": 16,
        "max_neurons_deep": 16,
        "steps": 60,
        "lr": 3e-2,
        "n_train": 128,
        "n_test": 256,
        "heat_n": 3,
        "heat_neurons": [4, 8],
    }

    @field_validator("ns")
    @classmethod
    def _ns_allowed(cls, v: list[int] | None) -> list[int] | None:
        return None if v is None else _sorted_within(v, 2, MAX_N, "n", "a number of inputs")

    @field_validator("depths")
    @classmethod
    def _depths_allowed(cls, v: list[int]) -> list[int]:
        return _sorted_within(v, 1, MAX_DEPTH, "depth k", "a number of hidden layers")

    @field_validator("heat_n")
    @classmethod
    def _heat_n_allowed(cls, v: int) -> int:
        if v > MAX_N:
            raise ValueError(f"heat_n must be from 2 to {MAX_N}, got {v}")
        return v


def default_ns(device: torch.device | str) -> list[int]:
    """The width search's default n range: 2..12 on the CPU, 2..16 on CUDA."""
    return list(range(2, 17)) if torch.device(device).type == "cuda" else list(range(2, 13))


# ---- the width search ---------------------------------------------------------------------


@dataclass
class WidthSearch:
    """Smallest width ``w`` in ``[1, cap]`` that passes, by doubling then bisection.

    Drive it with :meth:`propose` (the widths to probe next, together) and :meth:`update`
    (their outcomes) until :attr:`done`; :func:`search_min_width` does this for one oracle.
    Passing is assumed monotone in ``w``; when noise breaks that, ``hi`` is the smallest
    passing width seen and ``lo`` the largest failing width below it.

    Parameters
    ----------
    cap : largest width tried; if it fails the search is censored (``result`` is None).
    ladder : the first round probes 1, 2, 4, ... up to ``ladder`` together; later rounds
        double the largest failing width, one width per round.
    exact_below : a bracket with at most this many untried widths inside is probed whole.
    resolution : stop when ``hi − lo ≤ max(1, resolution · hi)``; otherwise bisect at the
        geometric midpoint ``round(sqrt(lo · hi))`` (one width per round, log2 steps).
    plateau : while doubling (nothing passed yet), once the largest failing width is at
        least ``plateau_from``, stop as censored when the best error of the last two doublings
        is not at least this fraction below the best error at a quarter of that width or less:
        more width is not helping at this training budget. None: always double up to ``cap``.
        Needs the errors passed to :meth:`update`.
    plateau_from : the width from which the plateau rule applies (default ``2 · ladder``).
    """

    cap: int
    ladder: int = 16
    exact_below: int = 8
    resolution: float = 0.125
    plateau: float | None = None
    plateau_from: int | None = None
    lo: int = 0
    hi: int | None = None
    probed: dict[int, bool] = field(default_factory=dict)
    errors: dict[int, float] = field(default_factory=dict)
    stalled: bool = False
    rounds: int = 0

    def __post_init__(self) -> None:
        if self.cap < 1:
            raise ValueError(f"cap must be a width >= 1, got {self.cap}")

    @property
    def done(self) -> bool:
        if self.hi is None:
            return self.lo >= self.cap or self.stalled
        gap = self.hi - self.lo
        return gap <= 1 or gap <= self.resolution * self.hi

    @property
    def censored(self) -> bool:
        return self.done and self.hi is None

    @property
    def stop_reason(self) -> str:
        """``found``, ``cap`` (the cap failed), ``plateau`` (error stopped falling) or ``running``."""
        if not self.done:
            return "running"
        if self.hi is not None:
            return "found"
        return "plateau" if self.stalled and self.lo < self.cap else "cap"

    @property
    def result(self) -> int | None:
        """The smallest passing width found (exact or within ``resolution``), None if censored."""
        return self.hi if self.done else None

    def propose(self) -> list[int]:
        """Widths to probe next (empty when done)."""
        if self.done:
            return []
        if self.hi is None:
            if not self.probed:
                return sorted({min(2**i, self.cap) for i in range(self.ladder.bit_length())})
            return [min(2 * self.lo, self.cap)]
        inside = [w for w in range(self.lo + 1, self.hi) if w not in self.probed]
        if len(inside) <= self.exact_below:
            return inside
        mid = round(math.sqrt(self.lo * self.hi)) if self.lo else self.hi // 2
        return [min(max(mid, self.lo + 1), self.hi - 1)]

    def update(self, outcomes: dict[int, bool], errors: dict[int, float] | None = None) -> None:
        """Record pass/fail (and optionally the best error) for probed widths; narrow (lo, hi]."""
        self.rounds += 1
        self.probed.update({int(w): bool(ok) for w, ok in outcomes.items()})
        self.errors.update({int(w): float(e) for w, e in (errors or {}).items()})
        passing = [w for w, ok in self.probed.items() if ok]
        self.hi = min(passing) if passing else None
        below = [w for w, ok in self.probed.items() if not ok and (self.hi is None or w < self.hi)]
        self.lo = max(below, default=0)
        start = self.plateau_from if self.plateau_from is not None else 2 * self.ladder
        if self.hi is None and self.plateau is not None and self.lo >= max(start, 4):
            w = self.lo
            recent = [self.errors[v] for v in (w, w // 2) if v in self.errors]
            before = [e for v, e in self.errors.items() if v <= w // 4]
            if recent and before and min(recent) > (1 - self.plateau) * min(before):
                self.stalled = True


def search_min_width(
    passes: Callable[[int], bool], cap: int, **kwargs
) -> tuple[int | None, WidthSearch]:
    """Run a :class:`WidthSearch` against one oracle ``passes(width) -> bool``.

    Returns ``(smallest passing width or None if the cap fails, the finished search)``; the
    search's ``probed`` dict lists every width tried and ``rounds`` the number of rounds.
    """
    s = WidthSearch(cap=cap, **kwargs)
    while not s.done:
        s.update({w: passes(w) for w in s.propose()})
    return s.result, s


# ---- data ---------------------------------------------------------------------------------


def product_is_data(
    n: int,
    n_train: int,
    n_test: int,
    seed: int,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> Dataset:
    """Points for learning ``y = x_1 ⋯ x_n``, ``x ~ U[0, 2]^n``, by importance sampling.

    Half of each split is drawn from ``U[0, 2]^n`` and half from ``t(x) ∝ y² p(x)``
    (``x_i = 2 u^{1/3}``); a point's weight is ``p/q = 1 / (½ + ½ y²/E[y²])`` with
    ``E[y²] = (4/3)^n``. Inputs are shifted to ``[-1, 1]``; targets are ``(N, 2)``:
    ``y' = (y − 1) / s`` with ``s² = E_q[(y − 1)²]`` (exact), and the weight times
    ``s² / Var(y)``, so that ``mean(weight · (f' − y')²)`` estimates the relative MSE
    ``E_p[(f − y)²] / Var(y)`` of ``f = 1 + s f'`` without bias (see :func:`weighted_mse`).
    """
    g = torch.Generator().manual_seed(seed)
    total = n_train + n_test
    u = torch.rand(total, n, generator=g, dtype=torch.float64)
    tilted = torch.arange(total) % 2 == 1  # alternate: half of each split from each part
    x = torch.where(tilted.unsqueeze(1), 2 * u ** (1 / 3), 2 * u)
    y = x.prod(dim=1)
    m2 = (4 / 3) ** n  # E_p[y^2]
    var_p = m2 - 1
    # E_t[y] = E_p[y^3]/E_p[y^2] = 1.5^n, E_t[y^2] = E_p[y^4]/E_p[y^2] = 2.4^n
    s2 = 0.5 * var_p + 0.5 * (2.4**n - 2 * 1.5**n + 1)
    w = 1 / (0.5 + 0.5 * y**2 / m2)
    tgt = torch.stack([(y - 1) / math.sqrt(s2), w * s2 / var_p], dim=1)
    x = x - 1
    return Dataset(
        x[:n_train],
        tgt[:n_train],
        x[n_train:],
        tgt[n_train:],
        "regression",
        {"name": f"product-{n}-is", "seed": seed, "n_inputs": n, "y_scale": math.sqrt(s2)},
    ).to(device, dtype)


def weighted_mse(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``mean(target[:, 1] · (out[:, 0] − target[:, 0])²)``: the relative MSE estimate."""
    return (target[:, 1] * (out[:, 0] - target[:, 0]) ** 2).mean()


def _stack_data(datasets: list[Dataset], n_pad: int) -> Dataset:
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


def _bucket(w: int) -> int:
    return 1 << max(0, (w - 1).bit_length())


def _slope(x, y) -> float:
    x, y = np.log(np.asarray(x, float)), np.log(np.asarray(y, float))
    return float(np.polyfit(x, y, 1)[0])


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

        datasets = {n: self._data(n, config, ctx) for n in ns}
        searches = {
            (n, k): WidthSearch(
                cap=max(1, self._cap(k, ns, config) // k),
                resolution=config.resolution,
                plateau=config.plateau,
                plateau_from=max(4, -(-config.plateau_from // k)),
            )
            for k in config.depths
            for n in ns
        }
        probe_rows: list[dict] = []
        calls = 0
        rounds = self._search_rounds(searches, datasets, config, ctx, probe_rows)
        for _ in ctx.progress.track(rounds, "width search (batched probes)"):
            calls += 1
        minima = self._minima_table(searches, config)
        probes = pd.DataFrame(probe_rows)

        heat = self._heatmap(datasets, config, ctx)

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
            "gate_slope_min": float(gates.groupby(["gate", "activation"]).apply(_gate_slope).min()),
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
                "minima_by_n": self._minima_by_n(minima),
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

    # ---- learned nets ----------------------------------------------------------------------

    @staticmethod
    def _cap(k: int, ns: list[int], config: MultiplicationConfig) -> int:
        """Cap on total neurons: ``max_neurons`` (default 2^max n) for k = 1, else the deep cap."""
        if k == 1:
            return config.max_neurons or 2 ** max(ns)
        return config.max_neurons_deep

    @staticmethod
    def _budget(n: int, config: MultiplicationConfig) -> tuple[int, int]:
        """(steps, seeds) per probe for this n."""
        if n >= config.large_n:
            return config.steps_large, config.seeds_large
        return config.steps, config.seeds

    @staticmethod
    def _data(n: int, config: MultiplicationConfig, ctx: RunContext) -> Dataset:
        return product_is_data(
            n, config.n_train, config.n_test, ctx.seed * 101 + n, ctx.device, ctx.dtype
        )

    def _train(
        self,
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
            for s in range(self._budget(n, config)[1]):
                narrow = mlp([n] + [w] * k + [1], activation="tanh")
                stream = ((n * 8 + k) * 100_000 + w) * 64 + s
                initialize(narrow, "lecun_normal", ctx.generator(stream))
                wide = embed_padded(narrow, mlp([n_pad] + [big_w] * k + [1], activation="tanh"))
                models.append(wide.to(ctx.device, ctx.dtype))
                gens.append(ctx.generator(s))
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
            _stack_data(slices, n_pad),
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

    def _search_rounds(
        self,
        searches: dict[tuple[int, int], WidthSearch],
        datasets: dict[int, Dataset],
        config: MultiplicationConfig,
        ctx: RunContext,
        rows: list[dict],
    ) -> Iterator[int]:
        """Advance every search one round at a time; yields after each batched call.

        A round gathers every search's proposed widths, groups them by (depth, width bucket,
        step budget) and trains each group in one call; then all searches update.
        """
        while True:
            groups: dict[tuple[int, int, int], list[tuple[int, int]]] = {}
            for (n, k), s in searches.items():
                for w in s.propose():
                    steps = self._budget(n, config)[0]
                    groups.setdefault((k, _bucket(w), steps), []).append((n, w))
            if not groups:
                return
            outcomes: dict[tuple[int, int], dict[int, bool]] = {}
            errors: dict[tuple[int, int], dict[int, float]] = {}
            for (k, _, steps), items in sorted(groups.items()):
                recs = self._train(k, items, steps, datasets, config, ctx, stop_at_target=True)
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

    def _minima_table(
        self, searches: dict[tuple[int, int], WidthSearch], config: MultiplicationConfig
    ) -> pd.DataFrame:
        rows = []
        for (n, k), s in sorted(searches.items()):
            steps, seeds = self._budget(n, config)
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

    @staticmethod
    def _minima_by_n(minima: pd.DataFrame) -> pd.DataFrame:
        """One row per n: measured minima per depth (NaN: censored) beside the bounds."""
        wide = minima.pivot(index="n", columns="k", values="min_neurons")
        wide.columns = [f"measured_k{k}" for k in wide.columns]
        out = wide.reset_index()
        for k in sorted(minima.k.unique()):
            cap = minima[minima.k == k].set_index("n")["cap_neurons"]
            out[f"cap_k{k}"] = out.n.map(cap)
        out["shallow_exact"] = [shallow_product_neurons(n) for n in out.n]
        for k in (2, 3, 4):
            out[f"thm51_k{k}"] = [depth_k_bound(n, k) for n in out.n]
        out["tree"] = [tree_product_neurons(n)[0] for n in out.n]
        out["deep_monomial"] = [deep_monomial_neurons([1] * n) for n in out.n]
        return out

    def _heatmap(
        self, datasets: dict[int, Dataset], config: MultiplicationConfig, ctx: RunContext
    ) -> pd.DataFrame:
        """Relative test MSE after the full budget, for each depth and total neuron count."""
        n = config.heat_n
        data = {n: datasets[n] if n in datasets else self._data(n, config, ctx)}
        steps = self._budget(n, config)[0]
        rows = []
        for k in ctx.progress.track(config.depths, "heat map (depth k)"):
            ws = {total: max(1, total // k) for total in config.heat_neurons}
            items = [(n, w) for w in sorted(set(ws.values()))]
            recs = pd.DataFrame(
                self._train(k, items, steps, data, config, ctx, stop_at_target=False)
            )
            for total, w in ws.items():
                errs = recs[recs.width == w].final_rel_mse
                rows.append(
                    {
                        "n": n,
                        "k": k,
                        "neurons": total,
                        "width": w,
                        "best_rel_mse": float(errs.min()),
                        "median_rel_mse": float(errs.median()),
                    }
                )
        return pd.DataFrame(rows)

    # ---- claims ----------------------------------------------------------------------------

    @staticmethod
    def _gate_claim(gates: pd.DataFrame) -> Claim:
        slopes = gates.groupby(["gate", "activation"]).apply(_gate_slope)
        ok = bool(((slopes - 2).abs() <= 0.2).all())
        worst = slopes.iloc[int((slopes - 2).abs().argmax())]
        return Claim(
            id="rolnick-tegmark-2018.gates.lambda-squared",
            statement="The 4-neuron multiplication gate and the 3-neuron squaring gate become exact as λ -> 0, with error O(λ²), for softplus, SiLU, GELU and (shifted) tanh.",
            source="Lin, Tegmark & Rolnick 2017; Rolnick & Tegmark 2018, Thm 4.1; lecture slide 23",
            predicted=2.0,
            measured=f"log-log slopes {slopes.min():.3f}..{slopes.max():.3f} over {len(slopes)} gate/activation pairs (worst {worst:.3f})",
            tolerance="every slope of max |error| vs λ within 2 ± 0.2",
            verdict=verdict_from(ok),
        )

    @staticmethod
    def _tree_claim(trees: pd.DataFrame) -> Claim:
        counts_ok = bool(
            (trees.neurons == trees.neurons_predicted).all()
            and (trees.layers == trees.layers_predicted).all()
        )
        err_ok = bool((trees.rel_rms_err <= 1e-3).all())
        big = trees.iloc[-1]
        return Claim(
            id="rolnick-tegmark-2018.tree.4-n-minus-1",
            statement="A binary tree of multiplication gates computes x_1⋯x_n with 4(n−1) neurons in ceil(log2 n) hidden layers, while one hidden layer needs 2^n.",
            source="Rolnick & Tegmark 2018, Sec. 4; THEORY.md §4",
            predicted="4(n−1) neurons, ceil(log2 n) layers",
            measured=f"n={int(big.n)}: {int(big.neurons)} neurons in {int(big.layers)} layers (2^n = {int(big.shallow_exact)}); max rel. RMS error {trees.rel_rms_err.max():.2e} at λ=1e-3",
            tolerance="counts equal the formula for every n; relative RMS error ≤ 1e-3 at λ = 1e-3",
            verdict=verdict_from(counts_ok and err_ok),
        )

    @staticmethod
    def _growth_claim(minima: pd.DataFrame, config: MultiplicationConfig) -> Claim:
        """Shallow minimum: log2(N_min) slope per input ≥ 0.5; deep: slope below the shallow one."""
        shallow = minima[minima.k == 1].sort_values("n")
        deep = minima[minima.k > 1]
        src = "Rolnick & Tegmark 2018, Thm 4.2 and 5.1, Fig. 2; lecture slide 23"
        big = int(minima.loc[minima.k == 1, "cap_neurons"].max()) if len(shallow) else 0
        big = big or int(minima["cap_neurons"].max())
        deep_cap = int(deep["cap_neurons"].max()) if len(deep) else 0
        tol = (
            "holds if log2(shallow minimal neurons) rises by ≥ 0.5 per extra input (a factor ≥ √2) "
            "and the best deep depth's slope is at most half the shallow one; a search that fails "
            f"within its cap ({big} neurons for k = 1; {deep_cap} for k ≥ 2, to bound the cost) "
            "or stops because the error no longer falls with width is censored: its minimum lies "
            f"above the largest failing count, and it is taken at both ends of that interval (the "
            f"failing count + 1, and {2 * big}); the verdict is given only if it is the same at "
            "the end that favours the claim and at the end that disfavours it, else inconclusive; "
            "inconclusive also with fewer than 3 shallow minima found"
        )

        def censored(frame, end):
            """Minima with censored searches at the ``"low"`` or ``"high"`` end of their interval."""
            low = frame["max_failing_neurons"].astype(float) + 1
            fill = low if end == "low" else pd.Series(2.0 * big, index=frame.index)
            return frame["min_neurons"].astype(float).fillna(fill)

        def slopes(s_end, d_end):
            s_fit = float(np.polyfit(shallow.n, np.log2(censored(shallow, s_end)), 1)[0])
            best = deep.assign(m=censored(deep, d_end)).groupby("n")["m"].min().sort_index()
            return s_fit, float(np.polyfit(best.index, np.log2(best.values), 1)[0])

        def rule(s_fit, d_fit):
            return s_fit >= 0.5 and d_fit <= 0.5 * s_fit

        if len(shallow) < 3 or deep.empty:
            return Claim(
                id="rolnick-tegmark-2018.learned.shallow-exponential",
                statement="The fewest neurons a trained one-hidden-layer net needs to multiply n inputs grows exponentially in n; with depth it grows far slower.",
                source=src,
                predicted="shallow: exponential in n; deep: much slower",
                measured=f"only {len(shallow)} values of n searched",
                tolerance=tol,
                verdict="inconclusive",
            )
        if int(shallow.found.sum()) < 3:
            return Claim(
                id="rolnick-tegmark-2018.learned.shallow-exponential",
                statement="The fewest neurons a trained one-hidden-layer net needs to multiply n inputs grows exponentially in n; with depth it grows far slower.",
                source=src,
                predicted="shallow: exponential in n; deep: much slower",
                measured=(
                    f"shallow searches reached rel. MSE {config.target_rel_mse} within "
                    f"{int(shallow.cap_neurons.max())} neurons for only "
                    f"{int(shallow.found.sum())} of {len(shallow)} values of n"
                ),
                tolerance=tol,
                verdict="inconclusive",
                note="Too few uncensored minima to fit a growth rate: raise max_neurons or steps.",
            )
        # the end of the censoring intervals that favours the claim (shallow high, deep low) and
        # the end that disfavours it (shallow low, deep high); uncensored minima are the same
        s_for, d_for = slopes("high", "low")
        s_against, d_against = slopes("low", "high")
        ok_for, ok_against = rule(s_for, d_for), rule(s_against, d_against)
        s_slope, d_slope = s_against, d_against
        notes = []
        n_cens = int(minima.min_neurons.isna().sum())
        if n_cens:
            which = minima[minima.min_neurons.isna()]
            stops = ", ".join(
                f"k={int(k)}: n={sorted(int(n) for n in g.n)} ({'/'.join(sorted(set(g.stop)))})"
                for k, g in which.groupby("k")
            )
            notes.append(
                f"Censored searches (stop reason in brackets): {stops}. Taken at the end of their "
                f"intervals that favours the claim, the slopes are shallow {s_for:.2f}, deep "
                f"{d_for:.2f} ({'holds' if ok_for else 'fails'}); at the end that disfavours it, "
                f"shallow {s_against:.2f}, deep {d_against:.2f} "
                f"({'holds' if ok_against else 'fails'})."
            )
            if ok_for != ok_against:
                notes.append(
                    f"The verdict therefore depends on where the {n_cens} censored minima lie, "
                    "and the measurement does not decide the claim: the training budget resolves "
                    "the minima only where it reaches the target."
                )
        both = shallow[shallow.found].merge(
            deep[deep.found].groupby("n", as_index=False)["min_neurons"].min(),
            on="n",
            suffixes=("", "_deep"),
        )
        if len(both) >= 2:
            s_u = float(np.polyfit(both.n, np.log2(both.min_neurons.astype(float)), 1)[0])
            d_u = float(np.polyfit(both.n, np.log2(both.min_neurons_deep.astype(float)), 1)[0])
            notes.append(
                f"For information only (not the stated rule): over the n where both searches "
                f"succeeded ({both.n.tolist()}), the slopes are shallow {s_u:.2f}, deep {d_u:.2f}."
            )
        if ok_for == ok_against and s_slope < 0.5:
            notes.append("The shallow minimum grew by less than √2 per input here.")
        if ok_for == ok_against and d_slope > 0.5 * s_slope:
            notes.append(
                f"The best deep minimum grew by {d_slope:.2f} per input against the shallow "
                f"{s_slope:.2f}, more than half as fast (the stated threshold): gradient training "
                "at this budget does not find the 4(n−1)-neuron tree solutions, and the theorems "
                "bound exact (λ -> 0) representation, not a fixed error."
            )
        if config.large_n <= int(minima.n.max()):
            notes.append(
                f"For n ≥ {config.large_n} each probe trains {config.steps_large} steps with "
                f"{config.seeds_large} seed(s), against {config.steps} steps and {config.seeds} "
                "seed(s) below (to fit the CPU budget); the fitted range spans both budgets."
            )
        notes.append(
            "The relative MSE on U[0, 2]^n is estimated by importance sampling (half the points "
            "from the y²-tilted density, weights p/q ≤ 2): the plain estimate's effective sample "
            "size is N (5/9)^n, below one point at n = 12; decided before any run at n > 6."
        )
        note = " ".join(notes)
        return Claim(
            id="rolnick-tegmark-2018.learned.shallow-exponential",
            statement="The fewest neurons a trained one-hidden-layer net needs to multiply n inputs grows exponentially in n; with depth it grows far slower.",
            source=src,
            predicted="shallow: log2 N_min slope ≈ 1 (2^n); deep: ≈ 0 (4(n−1))",
            measured=(
                f"log2(N_min) slope per input: shallow {min(s_for, s_against):.2f} to "
                f"{max(s_for, s_against):.2f}, best deep {min(d_for, d_against):.2f} to "
                f"{max(d_for, d_against):.2f} over the censoring intervals ({n_cens} of "
                f"{len(minima)} searches censored); shallow N_min {shallow.min_neurons.tolist()} "
                f"for n={shallow.n.tolist()}"
            ),
            tolerance=tol,
            verdict=verdict_from(ok_against) if ok_for == ok_against else "inconclusive",
            note=note.strip(),
        )


def _gate_slope(frame: pd.DataFrame) -> float:
    return _slope(frame["lam"], frame["max_abs_err"])


__all__ = ["Multiplication", "MultiplicationConfig"]
