"""Small fake run directories for report tests: done (static + plotly figures), failed, interrupted.

Strings carry HTML on purpose, so tests can check the report escapes them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from depthlab.core import Change, Claim, Region, Result
from depthlab.runs.store import begin_run, environment_meta, save_failure, save_result

EVIL = "<script>alert('x')</script>"


def _figures(run_dir: Path) -> dict[str, str]:
    import plotly.graph_objects as go

    from depthlab.plots.common import new_figure, save_figure, save_plotly

    fig, axes = new_figure()
    x = np.linspace(0, 1, 50)
    axes[0, 0].plot(x, np.sin(6 * x))
    static = save_figure(fig, run_dir, "curve")
    a, b = np.meshgrid(np.linspace(-1, 1, 15), np.linspace(-1, 1, 15))
    fig, axes = new_figure()
    axes[0, 0].contourf(a, b, a**2 + b**2)
    surface_png = save_figure(fig, run_dir, "surface")
    surf = go.Figure(go.Surface(x=a, y=b, z=a**2 + b**2, name=EVIL))
    surf.update_layout(title=f"loss surface {EVIL}", height=400)
    interactive = save_plotly(surf, run_dir, "surface_interactive")
    return {"curve": static, "surface": surface_png, "surface_interactive": interactive}


def empirical_claims(name: str) -> list[Claim]:
    """Three empirical claims (holds with a tolerance change, fails, inconclusive without an
    interval) and one construction."""
    return [
        Claim(
            id=f"{name}.slope",
            statement=f"The error falls like width^-2 {EVIL}",
            source="Barron 1993",
            predicted=-2.0,
            measured=-1.97,
            tolerance="slope within 0.25 of -2 (excludes width^-1.5)",
            verdict="holds",
            kind="empirical",
            statistic="log-log slope of error on width",
            estimate=-1.97,
            interval=(-2.1, -1.85),
            method="bootstrap",
            n=5,
            unit="seeds",
            samples=(-2.0, -1.9, -1.95, -2.05, -1.95),
            region=Region.around(-2.0, 0.25),
            history=(Change("2026-11-30", "tolerance", 0.5, 0.25, f"too loose {EVIL}"),),
        ),
        Claim(
            id=f"{name}.ratio",
            statement="Depth multiplies the length by sqrt(chi1) per layer.",
            source="Poole et al. 2016",
            predicted=1.539,
            measured=1.2,
            tolerance="ratio >= 1.4",
            verdict="fails",
            kind="empirical",
            estimate=1.2,
            interval=(1.1, 1.3),
            n=3,
            unit="nets",
            region=Region.at_least(1.4),
        ),
        Claim(
            id=f"{name}.single",
            statement="One seed cannot decide whether x = -0.000.",
            source="issue 13",
            predicted=0.0,
            measured=-0.0,
            tolerance="|x| <= 0.1",
            verdict="inconclusive",
            kind="empirical",
            estimate=-0.0,
            n=1,
            unit="seeds",
            region=Region.around(0.0, 0.1),
        ),
        Claim(
            id=f"{name}.pieces",
            statement="The sawtooth has exactly 2^k pieces.",
            source="Telgarsky 2016",
            predicted=1024,
            measured=1024,
            tolerance="exact",
            verdict="holds",
            kind="construction",
        ),
    ]


def make_done(root: Path, name: str = "fake-landscape", section: str = "landscape") -> Path:
    run_dir = begin_run(root / name, name, {"width": 8, "label": EVIL})
    result = Result(
        experiment=name,
        config={"width": 8, "label": EVIL},
        claims=[
            Claim(
                id=f"{name}.one",
                statement=f"Depth helps {EVIL}",
                source="lecture slide 26",
                predicted=1.0,
                measured=0.97,
                tolerance="within 0.1",
                verdict="holds",
            ),
            Claim(
                id=f"{name}.two",
                statement="Skips smooth the surface.",
                source="Li et al. 2018",
                predicted="smoother",
                measured="rougher",
                tolerance="qualitative",
                verdict="fails",
                note=f"at our scale {EVIL}",
            ),
            *empirical_claims(name),
        ],
        tables={"grid": pd.DataFrame({"x": np.arange(20), "label": [EVIL] * 20})},
        figures=_figures(run_dir),
        metrics={"sharpness": 1.25, EVIL: 2.0},
        meta=environment_meta("cpu", "float32")
        | {
            "seed": 3,
            "quick": True,
            "scale": "quick",
            "wall_s": 1.5,
            "title": f"Fake {EVIL}",
            "section": section,
            "section_title": f"Loss landscapes {EVIL}",
            "section_rank": 8,
            "captions": {"curve": f"A sine curve {EVIL}, drawn for the test."},
        },
    )
    save_result(run_dir, result)
    return run_dir


def make_failed(root: Path, name: str = "fake-broken") -> Path:
    run_dir = begin_run(root / name, name, {"depth": 3})
    try:
        raise RuntimeError(f"NaN in layer 2 {EVIL}")
    except RuntimeError as exc:
        save_failure(
            run_dir,
            exc,
            {"seed": 0, "wall_s": 0.25, "section": "init", "section_rank": 3, "scale": "default"},
        )
    return run_dir


def make_interrupted(root: Path, name: str = "fake-killed") -> Path:
    return begin_run(root / name, name, {"depth": 1})


def make_all(root: Path) -> dict[str, Path]:
    return {
        "done": make_done(root),
        "failed": make_failed(root),
        "interrupted": make_interrupted(root),
    }
