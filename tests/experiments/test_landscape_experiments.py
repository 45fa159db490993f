"""The landscape experiments run end to end at tiny sizes and fail clearly without torchvision."""

from __future__ import annotations

import sys

import pytest
import torch
from typer.testing import CliRunner

from depthlab.cli import app
from depthlab.runs import run_experiment


def test_landscape_skip_tiny_run_writes_tables_claims_and_figures(tmp_path):
    tiny = {
        "depths": [4, 6],
        "seeds": 2,
        "channels": 4,
        "n_train": 128,
        "n_eval": 32,
        "n_curvature": 32,
        "epochs": 1,
        "grid_points": 9,
        "lanczos_iters": 3,
    }
    torch.manual_seed(123)
    state = torch.get_rng_state()
    res = run_experiment("landscape-skip", tiny, out_dir=tmp_path / "skip")
    assert torch.equal(torch.get_rng_state(), state)  # the caller's global RNG is left alone
    assert set(res.tables) == {"nets", "pairs", "surfaces"}
    assert len(res.tables["nets"]) == 2 * 2 * 2 and len(res.tables["pairs"]) == 8
    assert len(res.tables["surfaces"]) == 4 * 81  # seed 0, first pair, every (depth, skip)
    assert [c.id for c in res.claims] == [
        "li-2018.noskip-deep-less-convex",
        "li-2018.skip-alike-across-depth",
        "li-2018.noskip-accuracy-drops",
    ]
    assert all(c.kind == "empirical" for c in res.claims)
    assert res.claims[2].n == 2 and res.claims[2].interval  # test accuracy: every seed
    # 1-epoch nets sit near ln 10: a surface with no point below it has no basin score (NaN),
    # and the seeds without one drop out of the basin claims (no interval below two seeds)
    for c in res.claims[:2]:
        assert c.n <= 2 and (c.interval is None) == (c.n < 2)
    assert "landscape_skip_contours" in res.figures
    for rel in res.figures.values():
        assert (tmp_path / "skip" / rel).exists()
    assert (tmp_path / "skip" / "surfaces" / "d6-noskip.pt").exists()


def test_interpolation_tiny_run(tmp_path):
    tiny = {
        "channels": 4,
        "n_train": 128,
        "seeds": 2,
        "max_epochs_small": 1,
        "max_epochs_large": 2,
        "points": 5,
        "sharpness_dirs": 2,
        "n_test": 200,
        "n_curvature": 64,
        "lanczos_iters": 3,
    }
    torch.manual_seed(123)
    state = torch.get_rng_state()
    res = run_experiment("landscape-1d-interpolation", tiny, out_dir=tmp_path / "interp")
    assert torch.equal(torch.get_rng_state(), state)  # the caller's global RNG is left alone
    paths = res.tables["paths"]
    assert set(paths["path"]) == {"init → SB", "SB → LB"}
    assert set(paths["split"]) == {"train", "test"}
    runs = res.tables["runs"]
    assert len(runs) == 4 and set(runs["regime"]) == {"SB", "LB"}
    assert (runs["lambda_max"] > 0).all()
    assert runs["sharpness"].notna().all()
    assert set(paths[paths.split == "test"].groupby("path").size()) == {5}
    assert len(res.claims) == 4 and all(c.kind == "empirical" and c.n == 2 for c in res.claims)
    assert len(res.figures) == 2


def test_cifar10_without_torchvision_is_a_one_line_config_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)  # import fails even if installed
    monkeypatch.setenv("DEPTHLAB_DATA", str(tmp_path / "no-cifar"))  # not a copy the user has
    out = CliRunner().invoke(
        app, ["run", "landscape-skip", "--set", "dataset=cifar10", "--out", str(tmp_path / "c")]
    )
    assert out.exit_code == 2
    assert "key 'dataset'" in out.output and "torchvision" in out.output


def test_bad_depth_for_the_dataset_is_a_config_error(tmp_path):
    from depthlab.config import ConfigError

    with pytest.raises(ConfigError, match="6n\\+2"):
        run_experiment(
            "landscape-skip", {"dataset": "cifar10", "depths": [20, 30]}, out_dir=tmp_path / "d"
        )
    with pytest.raises(ConfigError, match="depths"):
        run_experiment("landscape-skip", {"depths": [2]}, out_dir=tmp_path / "e")
    with pytest.raises(ConfigError, match="two distinct"):
        run_experiment("landscape-skip", {"depths": [8, 8]}, out_dir=tmp_path / "f")


def test_missing_cifar_names_the_skipped_claims(tmp_path, monkeypatch):
    from depthlab.config import ConfigError
    from depthlab.experiments.landscape_skip import LandscapeSkipConfig

    monkeypatch.setitem(sys.modules, "torchvision", None)
    monkeypatch.setenv("DEPTHLAB_DATA", str(tmp_path / "no-cifar"))
    paper = LandscapeSkipConfig.paper()
    assert paper.dataset == "cifar10" and paper.grid_points == 51 and paper.seeds >= 3
    with pytest.raises(ConfigError) as err:
        run_experiment(
            "landscape-skip", dict(LandscapeSkipConfig._paper_overrides), out_dir=tmp_path
        )
    msg = str(err.value)
    assert "skipped claims li-2018.noskip-deep-less-convex" in msg and "\n" not in msg
