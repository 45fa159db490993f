"""End-to-end runs of the three depth experiments at sizes below --quick (seconds each)."""

import pytest

from depthlab.runs import run_experiment


def _claims(result):
    return {c.id: c for c in result.claims}


def test_multiplication_runs_and_checks_the_constructions(tmp_path):
    r = run_experiment("multiplication", {"steps": 20, "ns": [2, 3]}, out_dir=tmp_path, quick=True)
    claims = _claims(r)
    assert claims["rolnick-tegmark-2018.gates.lambda-squared"].verdict == "holds"
    assert claims["rolnick-tegmark-2018.tree.4-n-minus-1"].verdict == "holds"
    mins = r.tables["minimal_neurons"]
    assert set(mins.columns) >= {"n", "k", "min_neurons", "bound_thm51", "shallow_exact"}
    assert mins.loc[mins.n == 3, "shallow_exact"].iloc[0] == 8
    assert (tmp_path / "multiplication").exists() or any(tmp_path.rglob("result.json"))
    assert any(p.name == "multiplication_heatmap.png" for p in tmp_path.rglob("*.png"))


def test_compositional_runs_with_matched_budgets_and_a_control(tmp_path):
    over = {"steps": 15, "ns": [4], "generic_deep": True}  # the generic deep MLP is opt-in
    r = run_experiment("compositional", over, out_dir=tmp_path, quick=True)
    s = r.tables["summary"]
    assert set(s.target) == {"compositional", "control"}
    assert set(s.arch) == {"shallow", "deep", "tree"}
    for _, grp in s.groupby(["target", "budget"]):
        assert grp.params.max() <= 1.3 * grp.params.min()
    assert {c.id for c in r.claims} >= {
        "poggio-2017.tree-beats-shallow",
        "poggio-2017.control-advantage-shrinks",
    }


def test_mimic_table_lines_up_params_like_ba_caruana(tmp_path):
    over = {"dataset": "digits", "teacher_epochs": 2, "student_epochs": 2, "extra_inputs": 64}
    r = run_experiment("mimic", over, out_dir=tmp_path, quick=True)
    t = r.tables["table"]
    assert list(t.columns[:4]) == ["model", "trained_on", "params", "test_acc_mean"]
    bottleneck = t[t.model.str.contains("bottleneck")]
    snn = t[t.model.str.startswith("SNN") & ~t.model.str.contains("bottleneck")]
    assert snn.params.nunique() == 1  # the mimic rows use the very same shallow net
    dnn = t[t.model.str.startswith("DNN")].params.item()
    assert abs(dnn - snn.params.iloc[0]) <= 0.05 * snn.params.iloc[0]
    # W = UV through k = 16 linear units: 64*16 + (16*64 + 64) + (64*10 + 10) parameters
    assert bottleneck.params.item() == 64 * 16 + 16 * 64 + 64 + 64 * 10 + 10
    assert len(t) == 9 and (t.test_acc_std >= 0).all()
    assert {c.id for c in r.claims} == {
        "ba-caruana-2014.mimic-beats-labels",
        "ba-caruana-2014.mimic-matches-deep-same-params",
        "ba-caruana-2014.ensemble-teacher-helps",
    }


def test_compositional_rejects_n_that_is_not_a_power_of_two(tmp_path):
    from depthlab.config import ConfigError

    with pytest.raises(ConfigError, match="power of two"):
        run_experiment("compositional", {"ns": [6]}, out_dir=tmp_path, quick=True)
