"""Property tests: malformed specs and configs give one clear error and leave no run marked done."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "helpers"))
from toyenv import toy_registered

from depthlab.config import ConfigError
from depthlab.runs import run_experiment
from depthlab.runs.sweep import SpecError, parse_spec, plan, run_sweep


@pytest.fixture(autouse=True, scope="module")
def _toy_experiment():
    with toy_registered():
        yield


GOOD = {"experiment": "toy", "grid": {"width": [1, 2]}, "seeds": [0]}
SPEC_KEYS = {"experiment", "grid", "cases", "set", "seeds", "quick", "device", "resources", "out"}
CONFIG_KEYS = {"width", "depth", "scale", "sleep_s", "fail", "nan"}

unknown_key = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12)
not_a_list = st.one_of(
    st.integers(),
    st.text(max_size=5),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
bad_width = st.one_of(
    st.integers(max_value=0),
    st.just(math.nan),
    st.floats(allow_nan=False).filter(lambda v: not float(v).is_integer()),
    st.text(alphabet="abc <>", min_size=1, max_size=5),
    st.none(),
    st.lists(st.integers(), max_size=2),
)


@st.composite
def malformed_specs(draw):
    spec = {k: (dict(v) if isinstance(v, dict) else v) for k, v in GOOD.items()}
    kind = draw(
        st.sampled_from(
            [
                "unknown_spec_key",
                "unknown_config_key",
                "empty_grid",
                "grid_not_list",
                "bad_width_grid",
                "bad_width_set",
                "bad_width_case",
                "wrong_experiment_type",
                "bad_seeds",
                "nan_scale",
                "negative_scale",
            ]
        )
    )
    if kind == "unknown_spec_key":
        spec[draw(unknown_key.filter(lambda k: k not in SPEC_KEYS))] = draw(st.integers())
    elif kind == "unknown_config_key":
        spec["grid"][draw(unknown_key.filter(lambda k: k not in CONFIG_KEYS))] = [1]
    elif kind == "empty_grid":
        spec["grid"]["depth"] = []
    elif kind == "grid_not_list":
        spec["grid"]["depth"] = draw(not_a_list)
    elif kind == "bad_width_grid":
        spec["grid"]["width"] = [1, draw(bad_width)]
    elif kind == "bad_width_set":
        spec = {"experiment": "toy", "set": {"width": draw(bad_width)}}
    elif kind == "bad_width_case":
        spec["cases"] = [{"depth": 1}, {"depth": draw(bad_width)}]
    elif kind == "wrong_experiment_type":
        spec["experiment"] = draw(
            st.one_of(st.integers(), st.none(), st.just(""), st.lists(st.text(), max_size=1))
        )
    elif kind == "bad_seeds":
        spec["seeds"] = draw(
            st.one_of(
                st.just([]),
                st.lists(st.integers(max_value=-1), min_size=1, max_size=2),
                st.text(min_size=1, max_size=3),
                st.just(0),
            )
        )
    elif kind == "nan_scale":
        spec["grid"]["scale"] = [1.0, math.nan]
    elif kind == "negative_scale":
        spec["grid"]["scale"] = [draw(st.floats(max_value=0, allow_nan=False))]
    return kind, spec


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=malformed_specs())
def test_malformed_spec_fails_cleanly_before_writing(case, tmp_path_factory):
    kind, spec = case
    out = tmp_path_factory.mktemp("sweep") / "out"
    with pytest.raises(SpecError) as err:
        run_sweep(parse_spec(spec), out, backend="serial")
    msg = str(err.value)
    assert "\n" not in msg and len(msg) < 400, msg
    assert "error" in msg
    assert not out.exists(), f"{kind}: a malformed spec wrote {sorted(out.rglob('*'))}"


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    key=st.sampled_from(["width", "depth", "scale"]),
    value=st.one_of(
        st.just(math.nan),
        st.integers(max_value=0),
        st.text(alphabet="xyz<>&", min_size=1, max_size=4),
        st.none(),
    ),
)
def test_malformed_config_names_the_key_and_writes_no_run(key, value, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "toy"
    with pytest.raises(ConfigError) as err:
        run_experiment("toy", {key: value}, out_dir=out)
    assert repr(key) in str(err.value)
    assert not out.exists()


def test_negative_and_nan_widths_of_universal_approximation_are_config_errors(tmp_path):
    for bad in ([4, -1], [4, 0], [4, math.nan]):
        with pytest.raises(ConfigError, match="widths"):
            run_experiment("universal-approximation", {"widths": bad}, out_dir=tmp_path / "ua")
        assert not (tmp_path / "ua").exists()


def test_a_valid_spec_still_plans():
    assert len(plan(parse_spec(GOOD))) == 2
