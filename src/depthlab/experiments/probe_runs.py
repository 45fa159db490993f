"""Probe runs: depthlab's probes wrapped as configured runs, so sweeps can grid over them.

A sweep spec may name a probe instead of an experiment (``probe: signal-moments``); the cell then
runs ``probe.signal-moments`` with the swept settings, and the probe's tidy ``.to_frame()`` table
lands in the sweep's Parquet dataset like any experiment table. Probe runs measure and make no
claims, so ``depthlab reproduce`` leaves them out; ``depthlab run probe.NAME`` runs one by hand.

Time budget: each default run takes a few seconds on a laptop CPU.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field, PositiveInt, field_validator

from depthlab.config import ExperimentConfig
from depthlab.context import RunContext
from depthlab.core import Result
from depthlab.experiments.base import register
from depthlab.init import SCHEMES
from depthlab.nets.activations import ACTIVATIONS


class SignalMomentsConfig(ExperimentConfig):
    widths: list[PositiveInt] = Field(
        default=[100] * 11, min_length=2, description="n_0, n_1, ..., n_d (input first)"
    )
    n_inits: PositiveInt = 1000
    scheme: str = "he_normal"
    activation: str = "relu"
    jacobian: bool = False

    _quick_overrides = {"n_inits": 200}

    @field_validator("scheme")
    @classmethod
    def _scheme(cls, v: str) -> str:
        if v not in SCHEMES:
            raise ValueError(f"unknown scheme {v!r}; allowed: {', '.join(SCHEMES)}")
        return v

    @field_validator("activation")
    @classmethod
    def _activation(cls, v: str) -> str:
        if v not in ACTIVATIONS:
            raise ValueError(f"unknown activation {v!r}; allowed: {', '.join(ACTIVATIONS)}")
        return v


@register
class SignalMomentsProbe:
    """``depthlab.signal.moments`` over ``n_inits`` initializations of one width profile."""

    name = "probe.signal-moments"
    title = "Probe: moments of M_j = ||x_j||^2 / n_j over initializations"
    section = "init"
    order = 900
    kind = "probe"
    Config = SignalMomentsConfig

    def run(self, config: SignalMomentsConfig, ctx: RunContext) -> Result:
        from depthlab.signal import mlp_family, moments

        m = moments(
            mlp_family(config.widths, activation=config.activation),
            config.n_inits,
            scheme=config.scheme,
            jacobian=config.jacobian,
            seed=ctx.seed,
            device=ctx.device,
        )
        metrics = {
            "mean_ratio": float(m.mean[-1] / m.mean[0]),  # E[M_d] / E[M_0]
            "beta": float(m.beta),
        }
        return Result(self.name, config.model_dump(), [], {"moments": m.to_frame()}, {}, metrics)


class Regions1DConfig(ExperimentConfig):
    widths: list[PositiveInt] = Field(
        default=[40, 64, 64, 64, 10], min_length=3, description="input, hidden..., output"
    )
    activation: Literal["relu", "leaky_relu", "hardtanh", "abs"] = "relu"
    bias_std: float = Field(0.1, ge=0)
    n_segments: PositiveInt = 200
    radius: float = Field(
        1.0, gt=0, description="segment ends are Gaussian with this std per input"
    )

    _quick_overrides = {"n_segments": 50}


@register
class Regions1DProbe:
    """``depthlab.regions.count_1d`` on a batch of random segments through a He-initialized MLP."""

    name = "probe.regions-1d"
    title = "Probe: exact linear regions per unit length along random segments"
    section = "regions"
    order = 900
    kind = "probe"
    Config = Regions1DConfig

    def run(self, config: Regions1DConfig, ctx: RunContext) -> Result:
        from depthlab.init import initialize
        from depthlab.nets import mlp
        from depthlab.regions import count_1d

        net = mlp(config.widths, activation=config.activation).to(ctx.device, torch.float64)
        initialize(net, "he_normal", generator=ctx.generator(1), sigma_b2=config.bias_std**2)
        g = ctx.generator(2)
        shape = (config.n_segments, config.widths[0])
        starts = config.radius * torch.randn(shape, generator=g, dtype=torch.float64)
        ends = config.radius * torch.randn(shape, generator=g, dtype=torch.float64)
        res = count_1d(net, starts.to(ctx.device), ends.to(ctx.device), batch=True)
        frame = res.to_frame()
        n_hidden = sum(config.widths[1:-1])
        metrics = {
            "density_mean": float(frame["density"].mean()),
            "density_per_neuron": float(frame["density"].mean()) / n_hidden,
            "n_hidden": float(n_hidden),
        }
        return Result(self.name, config.model_dump(), [], {"segments": frame}, {}, metrics)
