"""The region experiments run end to end on tiny configs and report honest claims."""

import pytest

from depthlab import run_experiment


@pytest.mark.parametrize(
    ("name", "overrides"),
    [
        (
            "regions-density",
            {"depths": [1, 2], "total_units": [8, 16], "n_segments": 4, "data": "gaussian"},
        ),
        (
            "regions-distance",
            {"depths": [1, 2], "total_units": [8, 16], "n_points": 8, "data": "gaussian"},
        ),
        (
            "regions-2d",
            {
                "total_units": 12,
                "epochs": 1,
                "sweep_units": [6, 12],
                "sweep_depths": [1],
                "grid": 12,
                "data": "gaussian",
            },
        ),
        ("regions-training", {"epochs": 2, "n_segments": 3, "width": 8, "data": "gaussian"}),
        ("sawtooth-depth-separation", {"exact_ks": [1, 2, 3], "fit_ks": [3, 4], "max_width": 64}),
    ],
)
def test_region_experiment_runs(tmp_path, name, overrides):
    res = run_experiment(name, overrides, out_dir=tmp_path / name, quick=True, device="cpu")
    assert res.claims and all(c.verdict in ("holds", "fails", "inconclusive") for c in res.claims)
    assert res.figures and all((tmp_path / name / f).exists() for f in res.figures.values())
    if name == "sawtooth-depth-separation":
        assert res.tables["exact"]["pieces"].tolist() == [2, 4, 8]
        assert res.claims[0].verdict == "holds"
