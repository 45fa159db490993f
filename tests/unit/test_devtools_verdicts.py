"""The README's verdict table printer reads result.json files and counts verdicts by kind."""

import json

from depthlab._devtools import verdicts


def test_rows_and_counts(tmp_path, capsys):
    (tmp_path / "exp").mkdir()
    claims = [
        {
            "id": "a.one",
            "kind": "empirical",
            "verdict": "holds",
            "estimate": 1.23456,
            "interval": [1.0, 1.5],
            "n": 5,
            "unit": "seeds",
            "region": {"lo": 0.5, "hi": None},
        },
        {"id": "a.two", "kind": "construction", "verdict": "holds", "region": None},
        {
            "id": "a.three",
            "kind": "empirical",
            "verdict": "fails",
            "estimate": -2.0,
            "interval": [-3.0, -1.0],
            "n": 8,
            "unit": "nets",
            "region": {"lo": None, "hi": 0.1},
        },
    ]
    (tmp_path / "exp" / "result.json").write_text(json.dumps({"claims": claims}))
    table, counts = verdicts.rows(tmp_path)
    assert (
        table[0] == "| exp | `a.one` | empirical | 5 seeds | 1.23 | [1, 1.5] | [0.5, ∞] | holds |"
    )
    assert table[1] == "| exp | `a.two` | construction | – | – | – | exact | holds |"
    assert table[2].endswith("| 8 nets | -2 | [-3, -1] | [−∞, 0.1] | fails |")
    assert counts[("empirical", "holds")] == 1 and counts[("empirical", "fails")] == 1
    assert verdicts.main([str(tmp_path)]) == 0
    assert "3 claims: 2 empirical" in capsys.readouterr().out
    assert verdicts.main([str(tmp_path / "missing")]) == 2


def test_a_run_without_result_is_named_not_dropped(tmp_path, capsys):
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "status").write_text("failed\n")
    assert verdicts.main([str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "missing: broken has no result.json (status failed)" in err
