"""The curvature experiments are registered and run end to end at tiny sizes."""

import pytest

from depthlab.experiments import get_experiment, registry
from depthlab.runs import run_experiment

NAMES = [
    "curve-length-depth",
    "curve-length-width",
    "phase-diagram",
    "relu-he-length",
    "transitions-vs-length",
]


def test_all_five_are_registered_in_the_curvature_section():
    reg = registry()
    for name in NAMES:
        assert reg[name].section == "curvature"


@pytest.mark.parametrize("name", NAMES)
def test_runs_and_writes_claims_tables_figures(name, tmp_path):
    tiny = get_experiment(name).Config.tiny_overrides()
    res = run_experiment(name, tiny, out_dir=tmp_path / name, quick=True)
    assert res.claims and all(c.verdict in ("holds", "fails", "inconclusive") for c in res.claims)
    assert all(c.kind in ("empirical", "construction") for c in res.claims)
    assert res.tables and all(len(t) for t in res.tables.values())
    for rel in res.figures.values():
        assert (tmp_path / name / rel).stat().st_size > 1000
