import json

import pandas as pd
import pytest
import yaml

from depthlab.atomic import atomic_write_text
from depthlab.config import ConfigError, ExperimentConfig, parse_overrides
from depthlab.core import Claim, Result, verdict_from
from depthlab.runs import begin_run, load_result, read_status, save_result


class Cfg(ExperimentConfig):
    widths: list[int] = [1, 2]
    lr: float = 0.1
    _quick_overrides = {"widths": [1]}


def test_config_defaults_quick_and_overrides():
    assert Cfg.build().widths == [1, 2]
    assert Cfg.build(quick=True).widths == [1]
    assert Cfg.build({"lr": 0.5}, quick=True).lr == 0.5


def test_unknown_key_names_it_and_the_allowed_ones():
    with pytest.raises(ConfigError, match=r"unknown key 'lrr'; allowed keys: lr, widths"):
        Cfg.build({"lrr": 1})


def test_bad_value_names_key_and_value():
    with pytest.raises(ConfigError, match=r"key 'widths.1'.*got 'x'"):
        Cfg.build({"widths": [1, "x"]})


def test_parse_overrides_yaml_values():
    assert parse_overrides(["a=1", "b=[1, 2]", "c=relu", "d=0.5", "e=true"]) == {
        "a": 1,
        "b": [1, 2],
        "c": "relu",
        "d": 0.5,
        "e": True,
    }
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["novalue"])


def test_claim_verdict_is_validated():
    with pytest.raises(ValueError, match="verdict"):
        Claim("x", "s", "src", 1.0, 1.0, "t", "maybe")
    assert verdict_from(None) == "inconclusive" and verdict_from(True) == "holds"


def test_result_round_trips_through_a_run_directory(tmp_path):
    res = Result(
        "exp",
        {"a": 1},
        [Claim("c1", "s", "src", 1.0, 0.98, "±5%", "holds")],
        {"t": pd.DataFrame({"x": [1, 2], "y": [0.5, 0.25]})},
        {},
        {"m": 0.5},
        {"seed": 0},
    )
    begin_run(tmp_path / "r", "exp", {"a": 1})
    assert read_status(tmp_path / "r") == "running"
    with pytest.raises(FileNotFoundError, match="not a finished run"):
        load_result(tmp_path / "r")
    save_result(tmp_path / "r", res)
    back = load_result(tmp_path / "r")
    assert back.claims == res.claims
    pd.testing.assert_frame_equal(back.tables["t"], res.tables["t"])
    assert yaml.safe_load((tmp_path / "r" / "config.yaml").read_text()) == {
        "experiment": "exp",
        "a": 1,
    }
    assert json.loads((tmp_path / "r" / "result.json").read_text())["metrics"] == {"m": 0.5}
    assert "1 hold" in repr(back)


def test_atomic_write_leaves_no_temp_files(tmp_path):
    atomic_write_text(tmp_path / "f.txt", "hello")
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]
