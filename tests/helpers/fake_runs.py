"""Small fake run directories for report tests: done (static + plotly figures), failed, interrupted.

Strings carry HTML on purpose, so tests can check the report escapes them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from depthlab.core import Claim, Result
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
    surf = go.Figure(go.Surface(x=a, y=b, z=a**2 + b**2, name=EVIL))
    surf.update_layout(title=f"loss surface {EVIL}", height=400)
    interactive = save_plotly(surf, run_dir, "surface")
    return {"curve": static, "surface": interactive}


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
        ],
        tables={"grid": pd.DataFrame({"x": np.arange(20), "label": [EVIL] * 20})},
        figures=_figures(run_dir),
        metrics={"sharpness": 1.25, EVIL: 2.0},
        meta=environment_meta("cpu", "float32")
        | {"seed": 3, "quick": True, "wall_s": 1.5, "title": f"Fake {EVIL}", "section": section},
    )
    save_result(run_dir, result)
    return run_dir


def make_failed(root: Path, name: str = "fake-broken") -> Path:
    run_dir = begin_run(root / name, name, {"depth": 3})
    try:
        raise RuntimeError(f"NaN in layer 2 {EVIL}")
    except RuntimeError as exc:
        save_failure(run_dir, exc, {"seed": 0, "wall_s": 0.25, "section": "init"})
    return run_dir


def make_interrupted(root: Path, name: str = "fake-killed") -> Path:
    return begin_run(root / name, name, {"depth": 1})


def make_all(root: Path) -> dict[str, Path]:
    return {
        "done": make_done(root),
        "failed": make_failed(root),
        "interrupted": make_interrupted(root),
    }
