"""The region experiments run end to end on tiny configs and report honest claims."""

import pytest

from depthlab import run_experiment
from depthlab.experiments import get_experiment


@pytest.mark.parametrize(
    ("name", "overrides"),
    [
        ("regions-density", None),
        ("regions-distance", None),
        ("regions-2d", None),
        ("regions-training", None),
        ("sawtooth-depth-separation", {"exact_ks": [1, 2, 3], "fit_ks": [3, 4], "max_width": 64}),
    ],
)
def test_region_experiment_runs(tmp_path, name, overrides):
    if overrides is None:  # the experiment's own tiny config
        overrides = get_experiment(name).Config.tiny_overrides()
    res = run_experiment(name, overrides, out_dir=tmp_path / name, quick=True, device="cpu")
    assert res.claims and all(c.verdict in ("holds", "fails", "inconclusive") for c in res.claims)
    assert res.figures and all((tmp_path / name / f).exists() for f in res.figures.values())
    if name == "sawtooth-depth-separation":
        assert res.tables["exact"]["pieces"].tolist() == [2, 4, 8]
        assert res.claims[0].verdict == "holds"
    if name == "regions-2d":
        kinds = {c.id: (c.kind, c.verdict) for c in res.claims}
        assert kinds["montufar-2014.construction-count-exact"] == ("construction", "holds")
        assert kinds["montufar-2014.deep-exceeds-shallow-max"] == ("construction", "holds")
        assert res.tables["montufar"]["n_regions"].tolist() == [11, 44, 176]
    if name != "sawtooth-depth-separation":
        assert all(c.kind is not None for c in res.claims)
