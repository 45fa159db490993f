"""A tiny experiment for sweep, report and reliability tests (registered by importing this module).

Load it in another process with ``DEPTHLAB_PLUGINS=toy_experiment`` and this folder on ``PYTHONPATH``.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
from pydantic import Field

from depthlab.config import ExperimentConfig
from depthlab.context import RunContext
from depthlab.core import Claim, Result, verdict_from
from depthlab.experiments.base import register


class ToyConfig(ExperimentConfig):
    width: int = Field(4, ge=1, description="a width")
    depth: int = Field(2, ge=1, description="a depth")
    scale: float = Field(1.0, gt=0, allow_inf_nan=False, description="a positive scale")
    sleep_s: float = Field(0.0, ge=0, description="seconds to sleep (for kill tests)")
    fail: bool = Field(False, description="raise inside run")
    nan: bool = Field(False, description="produce a NaN metric")

    _quick_overrides = {"depth": 1}


@register
class ToyExperiment:
    name = "toy"
    title = "A toy experiment for tests"
    section = "other"
    order = 999
    Config = ToyConfig

    def run(self, config: ToyConfig, ctx: RunContext) -> Result:
        if config.sleep_s:
            time.sleep(config.sleep_s)
        if config.fail:
            raise RuntimeError(f"toy failure at width {config.width}")
        rng = np.random.default_rng(ctx.seed)
        x = rng.normal(size=(config.depth, config.width)) * config.scale
        value = float(np.abs(x).mean())
        table = pd.DataFrame({"layer": np.arange(config.depth), "norm": np.linalg.norm(x, axis=1)})
        claim = Claim(
            id="toy.positive",
            statement="The mean absolute value is positive.",
            source="arithmetic",
            predicted="> 0",
            measured=round(value, 6),
            tolerance="strictly positive",
            verdict=verdict_from(value > 0),
        )
        metrics = {
            "mean_abs": math.nan if config.nan else value,
            "width_x_depth": float(config.width * config.depth),
        }
        return Result(self.name, config.model_dump(), [claim], {"norms": table}, {}, metrics)
