"""The four `init` experiments run end to end at tiny sizes and write claims, tables and figures."""

import math
from pathlib import Path

import pytest

from depthlab.experiments import registry
from depthlab.runs import run_experiment

TINY = {
    "init-mean": {
        "width": 16,
        "max_depth": 8,
        "n_inits": 40,
        "n_inits_gaussian": 200,
        "schemes": ["he_normal", "lecun_normal", "trunc_normal_naive", "torch_trunc_normal"],
    },
    "init-variance": {
        "depth": 4,
        "betas": [0.1, 0.3],
        "families": ["constant", "hourglass"],
        "n_inits": 500,
    },
    "init-residual": {"width": 16, "blocks": [4, 8], "n_inits": 300},
    "init-trainable-depth": {
        "depths": [2, 4],
        "width": 8,
        "seeds": 2,
        "max_epochs": 1,
        "n_train": 128,
    },
    "init-trainability": {
        "depths": [2, 4],
        "narrow_width": 2,
        "seeds": 2,
        "max_epochs": 1,
        "n_train": 300,
        "n_test": 100,
        "dataset": "digits",
    },
}


def test_init_section_is_registered_in_order():
    names = [n for n, e in registry().items() if e.section == "init"]
    assert names == [
        "init-mean",
        "init-variance",
        "init-trainability",
        "init-trainable-depth",
        "init-residual",
    ]


@pytest.mark.parametrize("name", sorted(TINY))
def test_experiment_runs_and_saves_claims_and_figures(name, tmp_path):
    res = run_experiment(name, TINY[name], out_dir=tmp_path / name, quick=True, device="cpu")
    assert res.claims and all(c.verdict in ("holds", "fails", "inconclusive") for c in res.claims)
    assert res.tables and all(len(t) for t in res.tables.values())
    for rel in res.figures.values():
        assert (Path(tmp_path / name) / rel).is_file()
    assert (Path(tmp_path / name) / "status").read_text().strip() == "done"
    if name == "init-mean":
        _check_init_mean_predictions(res)


def _check_init_mean_predictions(res):
    s = res.tables["slopes"].set_index("scheme")["predicted_slope"]
    assert s["he_normal"] == 0.0
    assert s["lecun_normal"] == pytest.approx(math.log(0.5))
    assert s["trunc_normal_naive"] == pytest.approx(math.log(0.77372), abs=1e-4)
    # PyTorch's trunc_normal_ at fan_in 16 (std 0.35) cuts at ±5.7 std: practically untruncated
    assert s["torch_trunc_normal"] == pytest.approx(0.0, abs=1e-5)
    tn = res.tables["torch_trunc_normal"].set_index("fan_in")["variance_kept"]
    assert tn[2] == pytest.approx(0.7737, abs=1e-4) and tn[1000] == pytest.approx(1.0)


@pytest.mark.parametrize(
    "name",
    [
        "init-mean",
        "init-variance",
        "init-residual",
        "init-trainability",
        "init-trainable-depth",
        "resnet-degradation",
    ],
)
def test_paper_scale_config_is_valid_and_larger_than_default(name):
    cls = registry()[name].Config
    paper, default = cls.paper(), cls()
    assert paper != default
    # the paper scale is never smaller in its main size than the default
    for key in ("n_inits", "seeds", "max_epochs", "epochs", "width", "n_train"):
        if key in cls._paper_overrides:
            assert getattr(paper, key) >= getattr(default, key), key
