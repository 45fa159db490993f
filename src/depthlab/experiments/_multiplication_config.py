"""The multiplication experiment's configuration (see :mod:`depthlab.experiments.multiplication`).

A leaf module: the experiment, its learned-net search and its claims all read this config, and
none of them is imported here.
"""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from pydantic import Field, field_validator

from depthlab.config import ExperimentConfig

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


Lam = Annotated[float, Field(gt=0, le=1)]
TreeN = Annotated[int, Field(ge=2, le=64)]
Neurons = Annotated[int, Field(ge=1, le=65_536)]
Rate = Annotated[float, Field(gt=0, le=10)]
Activation = Literal["softplus", "silu", "gelu", "tanh"]


class MultiplicationConfig(ExperimentConfig):
    activations: list[Activation] = Field(
        default=["softplus", "silu", "gelu", "tanh"],
        min_length=1,
        max_length=4,
        description="activations of the gates",
    )
    lambdas: list[Lam] = Field(
        default=[0.2, 0.1, 0.05, 0.025, 0.0125, 0.00625],
        min_length=2,
        max_length=64,
        description="gate scales λ (at least 2, for a slope)",
    )
    tree_ns: list[TreeN] = Field(
        default=[2, 3, 4, 8, 16], min_length=1, max_length=32, description="n for the product tree"
    )
    ns: list[int] | None = Field(
        None,
        max_length=MAX_N,
        description="inputs n for the width search (tables only); None: none on the CPU, "
        "2..16 on CUDA",
    )
    depths: list[int] = Field(
        default=[1, 2, 3], max_length=MAX_DEPTH, description="hidden layers k (1..4)"
    )
    # ---- the error heat map at fixed n (the claims) --------------------------------------
    heat_n: int = Field(8, ge=2, le=MAX_N, description="n for the error heat map (the claims)")
    heat_neurons: list[Neurons] = Field(
        default=[8, 16, 32, 64, 128, 256, 512],
        min_length=2,
        max_length=32,
        description="total neurons (columns) of the heat map",
    )
    heat_max_deep: int = Field(
        128,
        ge=1,
        le=65_536,
        description="cells with k >= 2 stop at this many neurons (they cost width^2; Thm 5.1 "
        "needs 32 at n = 8)",
    )
    heat_seeds: int = Field(3, ge=3, le=100, description="seeds per cell (the claims' unit)")
    heat_steps: int = Field(2000, ge=1, le=1_000_000, description="Adam steps per heat-map net")
    heat_batch: int = Field(256, ge=2, le=1_000_000, description="fresh points per step")
    heat_lrs: list[Rate] = Field(
        default=[3e-3, 1e-2, 3e-2],
        min_length=1,
        max_length=16,
        description="learning rates scanned per cell (chosen on a validation set)",
    )
    heat_n_test: int = Field(
        4096, ge=16, le=10_000_000, description="validation and test points per seed"
    )
    target_rel_mse: float = Field(
        0.01, gt=0, lt=1, description="relative test MSE E[(f-y)^2]/Var(y) a net must reach"
    )
    # ---- the width search over n (tables only; the paper scale) ---------------------------
    seeds: int = Field(
        2, ge=1, le=100, description="seeds per probe (a probe passes if any seed does)"
    )
    large_n: int = Field(
        7, ge=2, le=MAX_N, description="from this n on, use seeds_large and steps_large"
    )
    seeds_large: int = Field(1, ge=1, le=100, description="seeds per probe for n >= large_n")
    max_neurons: int | None = Field(
        None, ge=2, le=2**24, description="cap on total neurons for k = 1; None: 2^max(ns)"
    )
    max_neurons_deep: int = Field(
        128,
        ge=2,
        le=2**16,
        description="cap on total neurons for k >= 2 (Thm 5.1 needs <= 48 at n <= 12)",
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
        128, ge=4, le=2**24, description="total neurons from which the plateau rule may stop"
    )
    steps: int = Field(300, ge=1, le=1_000_000, description="full-batch Adam steps per probe")
    steps_large: int = Field(
        150, ge=1, le=1_000_000, description="steps per probe for n >= large_n"
    )
    eval_every: int = Field(10, ge=1, le=1_000_000, description="steps between test evaluations")
    lr: float = Field(3e-2, gt=0, le=10)
    n_train: int = Field(512, ge=16, le=10_000_000)
    n_test: int = Field(1024, ge=16, le=10_000_000)

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
        "heat_steps": 60,
        "heat_batch": 64,
        "heat_n_test": 256,
    }
    _tiny_overrides = {"ns": [2, 3], "steps": 20, "heat_steps": 20}
    # The paper's range for one GPU: the width search to n = 16 (tables), the heat map at n = 10
    # up to 2^11 neurons, 5 seeds, 10x the steps (not yet run on a GPU).
    _paper_overrides = {
        "ns": list(range(2, 17)),
        "depths": [1, 2, 3, 4],
        "steps": 3000,
        "steps_large": 3000,
        "seeds": 3,
        "seeds_large": 3,
        "n_train": 8192,
        "n_test": 8192,
        "heat_n": 10,
        "heat_neurons": [16, 32, 64, 128, 256, 512, 1024, 2048],
        "heat_max_deep": 512,
        "heat_seeds": 5,
        "heat_steps": 20_000,
        "heat_batch": 1024,
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
    """The width search's default n range: none on the CPU (its budget goes to the heat map),
    2..16 on CUDA."""
    return list(range(2, 17)) if torch.device(device).type == "cuda" else []


__all__ = ["MAX_DEPTH", "MAX_N", "MultiplicationConfig", "default_ns"]
