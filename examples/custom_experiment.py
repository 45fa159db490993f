"""Write your own experiment, run it, sweep it over a grid, and render the HTML report.

The experiment below measures how the second moment of a ReLU MLP's activations changes with
depth under an init scheme (He et al. 2015 predict it stays flat for He init). It is registered with
``@register``; put it in a module on your PYTHONPATH and name it in ``DEPTHLAB_PLUGINS`` to use it
from the command line too::

    DEPTHLAB_PLUGINS=my_experiments depthlab run moment-through-depth --set depth=20
    DEPTHLAB_PLUGINS=my_experiments depthlab sweep my_sweep.yaml --jobs 2

Run: python examples/custom_experiment.py [OUT_DIR]   (a few seconds on a laptop CPU)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pandas as pd
import torch
from pydantic import Field

import depthlab
from depthlab import Claim, ExperimentConfig, Result, RunContext, register
from depthlab.core import verdict_from
from depthlab.init import initialize
from depthlab.report import build_report
from depthlab.runs.sweep import parse_spec, read_table, run_sweep


class MomentConfig(ExperimentConfig):
    depth: int = Field(12, ge=1, description="hidden layers")
    width: int = Field(256, ge=1, description="units per hidden layer")
    scheme: str = Field("he_normal", description="one of depthlab.init.SCHEMES")
    samples: int = Field(512, ge=2, description="inputs drawn from N(0, I)")

    _quick_overrides = {"width": 64, "samples": 128}


@register
class MomentThroughDepth:
    name = "moment-through-depth"
    title = "The activation second moment through depth of my MLP"
    section = "init"
    order = 900
    Config = MomentConfig

    def run(self, config: MomentConfig, ctx: RunContext) -> Result:
        layers: list[torch.nn.Module] = []
        for i in range(config.depth):
            layers += [torch.nn.Linear(config.width if i else 32, config.width), torch.nn.ReLU()]
        model = torch.nn.Sequential(*layers).to(ctx.dtype)
        initialize(model, config.scheme, generator=ctx.generator(0))
        x = torch.randn(config.samples, 32, generator=ctx.generator(1), dtype=ctx.dtype)
        rows, h = [], x
        with torch.no_grad():
            for i, layer in enumerate(model):
                h = layer(h)
                if isinstance(layer, torch.nn.ReLU):
                    rows.append({"layer": i // 2 + 1, "second_moment": float(h.pow(2).mean())})
        table = pd.DataFrame(rows)
        ratio = table["second_moment"].iloc[-1] / table["second_moment"].iloc[0]
        claim = Claim(
            id="moment.flat-under-he",
            statement=f"Under {config.scheme} the second moment neither explodes nor vanishes with depth.",
            source="He et al. 2015, eq. 10",
            predicted=1.0,
            measured=round(float(ratio), 3),
            tolerance="last/first layer ratio within [0.5, 2]",
            verdict=verdict_from(0.5 <= ratio <= 2.0),
        )
        from depthlab.plots.common import new_figure, save_figure

        fig, axes = new_figure()
        axes[0, 0].semilogy(table["layer"], table["second_moment"], marker="o")
        axes[0, 0].set(xlabel="layer", ylabel="E[h^2]", title=config.scheme)
        figures = {"moments": save_figure(fig, ctx.out_dir, "moments")}
        return Result(
            self.name,
            config.model_dump(),
            [claim],
            {"moments": table},
            figures,
            {"last_over_first": float(ratio)},
        )


def main(out: Path) -> None:
    # One run, with the same machinery as `depthlab run`.
    result = depthlab.run_experiment("moment-through-depth", {"depth": 8}, out_dir=out / "one")
    print(result)

    # A sweep over scheme x depth (serial here; backend="local", jobs=N or backend="ray" scale out).
    spec = parse_spec(
        {
            "experiment": "moment-through-depth",
            "quick": True,
            "grid": {"scheme": ["he_normal", "lecun_normal"], "depth": [4, 16]},
        }
    )
    print(run_sweep(spec, out / "sweep", backend="serial"))
    table = read_table(out / "sweep")
    print(table[["scheme", "depth", "metric.last_over_first", "verdict.moment.flat-under-he"]])

    # The report: claims first, figures embedded, one file that opens offline.
    print("report:", build_report(out))


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp))
