"""The curvature experiments are registered and run end to end at tiny sizes."""

import pytest

from depthlab.experiments import registry
from depthlab.runs import run_experiment

NAMES = [
    "curve-length-depth",
    "curve-length-width",
    "phase-diagram",
    "relu-he-length",
    "transitions-vs-length",
]

TINY = {
    "curve-length-depth": {"width": 64, "depth": 4, "n_points": 32, "pca_layers": [0, 2]},
    "curve-length-width": {"widths": [2, 8, 32], "deep_width": 8, "seeds": 1, "n_points": 32},
    "phase-diagram": {"sigma_w2": [0.5, 3.0], "sigma_b2": [0.05], "width": 32, "depth": 3},
    "relu-he-length": {"width": 16, "depth": 4, "nets": 20, "n_points": 32},
    "transitions-vs-length": {"width": 6, "depth": 3, "sigma_w2": [4.0], "seeds": 1},
}


def test_all_five_are_registered_in_the_curvature_section():
    reg = registry()
    for name in NAMES:
        assert reg[name].section == "curvature"


@pytest.mark.parametrize("name", NAMES)
def test_runs_and_writes_claims_tables_figures(name, tmp_path):
    res = run_experiment(name, TINY[name], out_dir=tmp_path / name, quick=True)
    assert res.claims and all(c.verdict in ("holds", "fails", "inconclusive") for c in res.claims)
    assert res.tables and all(len(t) for t in res.tables.values())
    for rel in res.figures.values():
        assert (tmp_path / name / rel).stat().st_size > 1000
