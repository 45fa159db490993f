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


# ---------------------------------------------------------------- the paper scale's code path

PAPER_SMALL = {
    "curve-length-depth": {"width": 32, "depth": 4, "seeds": 2, "n_points": 32}
    | {"pca_layers": [0, 2]},
    "curve-length-width": {"widths": [2, 8], "worst_widths": [2, 4], "restarts": 2}
    | {"ascent_steps": 3, "deep_width": 8, "deep_depth": 12, "seeds": 2, "n_points": 32},
    "phase-diagram": {"sigma_w2": [0.5, 3.0], "sigma_b2": [0.05, 0.1], "width": 16}
    | {"depth": 3, "n_points": 16},
    "relu-he-length": {"width": 16, "depth": 4, "nets": 10, "n_points": 32},
    "transitions-vs-length": {"width": 6, "depth": 3, "sigma_w2": [4.0], "seeds": 2},
}


@pytest.mark.parametrize("name", NAMES)
def test_paper_scale_builds_and_runs_at_tiny_sizes(name, tmp_path):
    config_cls = get_experiment(name).Config
    paper, default = config_cls.paper(), config_cls()
    assert paper != default  # the papers' sizes differ from the CPU default
    res = run_experiment(
        name, PAPER_SMALL[name], out_dir=tmp_path / name, scale="paper", device="cpu"
    )
    assert res.meta["scale"] == "paper"
    assert all(c.kind in ("empirical", "construction") for c in res.claims)
    assert all(c.n and c.n >= 2 for c in res.claims if c.kind == "empirical")


def test_figures_are_redrawn_from_the_saved_result(tmp_path):
    from depthlab.runs.figures import replot

    name = "relu-he-length"
    res = run_experiment(
        name, get_experiment(name).Config.tiny_overrides(), out_dir=tmp_path / name, quick=True
    )
    fig = tmp_path / name / res.figures["relu_he_length"]
    fig.unlink()
    again = replot(tmp_path / name)
    assert again[str(tmp_path / name)] == res.figures and fig.stat().st_size > 1000
