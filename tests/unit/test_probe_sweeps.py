import pandas as pd
import pytest

from depthlab.experiments import probes, registry
from depthlab.runs.sweep import SpecError, parse_spec, plan, read_table, run_sweep


def test_probe_runs_are_registered_but_not_in_reproduce():
    assert {"probe.signal-moments", "probe.regions-1d"} <= set(probes())
    assert not any(name.startswith("probe.") for name in registry())


def test_a_sweep_over_a_probe_collects_its_tables(tmp_path):
    spec = parse_spec(
        {
            "probe": "signal-moments",
            "set": {"n_inits": 400, "jacobian": False},
            "grid": {
                "widths": [[10, 10, 10, 10], [10, 40, 40, 40]],
                "scheme": ["he_normal", "lecun_normal"],
            },
            "seeds": 1,
        }
    )
    assert spec.experiment == "probe.signal-moments"
    summary = run_sweep(spec, tmp_path, backend="serial")
    assert summary.done == 4 and summary.failed == 0
    table = pd.read_parquet(tmp_path / "table")
    # E[M_d]/E[M_0]: He keeps it (1), LeCun halves it per layer (1/8 after 3 layers).
    he = table[table["scheme"] == "he_normal"]["metric.mean_ratio"]
    lecun = table[table["scheme"] == "lecun_normal"]["metric.mean_ratio"]
    assert he.between(0.8, 1.25).all()
    assert lecun.between(0.125 * 0.8, 0.125 * 1.25).all()
    moments = read_table(tmp_path, "moments")
    assert len(moments) == 4 * 4 and {"scheme", "widths", "layer"} <= set(moments.columns)


def test_probe_spec_errors_are_clear():
    with pytest.raises(SpecError, match=r"unknown experiment 'probe\.nope'"):
        plan(parse_spec({"probe": "nope"}))
    with pytest.raises(SpecError, match="either experiment or probe"):
        parse_spec({"probe": "signal-moments", "experiment": "universal-approximation"})
    with pytest.raises(SpecError, match="unknown scheme 'he'"):
        plan(parse_spec({"probe": "signal-moments", "grid": {"scheme": ["he"]}}))
