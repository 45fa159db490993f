"""Sweeps: spec validation, planning, resume, failures, lost workers, and the Parquet table."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "helpers"))
from toyenv import toy_registered

from depthlab.parallel.executors import LocalExecutor, SerialExecutor
from depthlab.runs.store import read_status
from depthlab.runs.sweep import (
    SpecError,
    cell_dir,
    load_spec,
    parse_spec,
    plan,
    read_table,
    run_sweep,
)


@pytest.fixture(autouse=True, scope="module")
def _toy_experiment():
    with toy_registered():
        yield


def spec(**kw):
    base = {"experiment": "toy", "grid": {"width": [1, 2, 3]}, "seeds": [0, 1]}
    base.update(kw)
    return parse_spec(base)


def test_grid_times_cases_times_seeds_gives_one_cell_each():
    s = spec(cases=[{"depth": 1}, {"depth": 3}], set={"scale": 2.0})
    cells = plan(s)
    assert len(cells) == 3 * 2 * 2
    assert len({c.key for c in cells}) == 12
    assert all(c.overrides["scale"] == 2.0 for c in cells)
    assert sorted({(c.columns["width"], c.columns["depth"]) for c in cells}) == [
        (w, d) for w in (1, 2, 3) for d in (1, 3)
    ]


def test_cells_resolving_to_the_same_config_are_one_cell():
    # width 4 is the default, so {} and {width: 4} resolve to the same config.
    s = parse_spec({"experiment": "toy", "cases": [{}, {"width": 4}], "seeds": 1})
    assert len(plan(s)) == 1


def test_seed_count_expands_to_range():
    assert spec(seeds=3).seeds == [0, 1, 2]


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"experiment": "toy", "grid": {"width": []}}, "grid key 'width' has no values"),
        ({"experiment": "toy", "gird": {}}, "unknown key 'gird'"),
        ({"experiment": "toy", "resources": {"gpus": 1}}, "unknown key 'resources.gpus'"),
        ({"experiment": "nope"}, "unknown experiment 'nope'"),
        ({"experiment": "toy", "grid": {"colour": [1]}}, "unknown key 'colour'"),
        ({"experiment": "toy", "grid": {"width": [-2]}}, "'width'"),
        ({"experiment": "toy", "grid": {"width": ["wide"]}}, "'width'"),
        ({"experiment": "toy", "grid": {"scale": [float("nan")]}}, "grid.scale[0] is NaN"),
        ({"experiment": "toy", "seeds": []}, "seeds is empty"),
        ({"experiment": "toy", "seeds": [-1]}, "seeds must be >= 0"),
        ({"experiment": "toy", "grid": {"seed": [1]}}, "list run seeds under 'seeds:'"),
        ({"experiment": "toy", "set": {"width": 2}, "grid": {"width": [1]}}, "both set and grid"),
        (["experiment", "toy"], "mapping"),
    ],
)
def test_malformed_spec_names_the_bad_key(data, needle, tmp_path):
    with pytest.raises(SpecError) as err:
        s = parse_spec(data)
        plan(s)
    assert needle in str(err.value)
    assert "\n" not in str(err.value)


def test_load_spec_uses_safe_load(tmp_path):
    p = tmp_path / "evil.yaml"
    p.write_text("experiment: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(SpecError, match="tags are refused"):
        load_spec(p)


def test_sweep_writes_table_and_resume_skips_finished(tmp_path):
    s = spec()
    first = run_sweep(s, tmp_path, backend="serial")
    assert (first.done, first.failed, first.skipped) == (6, 0, 0)
    table = read_table(tmp_path)
    assert len(table) == 6 and table["cell"].is_unique
    # pandas reads the directory as one Parquet dataset.
    direct = pd.read_parquet(tmp_path / "table")
    assert sorted(direct["cell"]) == sorted(table["cell"])
    assert set(table["width"]) == {1, 2, 3} and table["width"].dtype.kind == "i"
    assert (table["metric.width_x_depth"] == table["width"] * 2.0).all()
    norms = read_table(tmp_path, "norms")
    assert len(norms) == 6 * 2 and {"cell", "seed", "width", "layer", "norm"} <= set(norms)

    # Mark one cell unfinished (as a kill would leave it); a re-run redoes only that one.
    victim = table["cell"].iloc[0]
    (cell_dir(tmp_path, victim) / "status").write_text("running\n")
    (tmp_path / "table" / f"cell-{victim}.parquet").unlink()
    again = run_sweep(s, tmp_path, backend="serial")
    assert (again.done, again.skipped) == (1, 5)
    pd.testing.assert_frame_equal(
        read_table(tmp_path).drop(columns="wall_s"), table.drop(columns="wall_s")
    )


def test_lost_table_row_of_a_done_cell_is_rebuilt(tmp_path):
    run_sweep(spec(seeds=1), tmp_path, backend="serial")
    part = next((tmp_path / "table").glob("cell-*.parquet"))
    part.unlink()
    summary = run_sweep(spec(seeds=1), tmp_path, backend="serial")
    assert summary.skipped == 3 and part.exists()


def test_failed_cell_records_traceback_and_others_finish(tmp_path):
    s = parse_spec(
        {"experiment": "toy", "cases": [{"fail": True}, {"fail": False}], "grid": {"width": [1, 2]}}
    )
    summary = run_sweep(s, tmp_path, backend="serial")
    assert (summary.done, summary.failed) == (2, 2)
    assert all("toy failure at width" in m for m in summary.errors.values())
    for key in summary.errors:
        d = cell_dir(tmp_path, key)
        assert read_status(d) == "failed"
        assert "Traceback" in (d / "error.txt").read_text()
    assert len(read_table(tmp_path)) == 2
    # A re-run retries the failed cells (they are not done) and nothing else.
    again = run_sweep(s, tmp_path, backend="serial")
    assert (again.skipped, again.failed) == (2, 2)


def test_nan_metric_fails_the_cell_and_writes_no_row(tmp_path):
    s = parse_spec({"experiment": "toy", "set": {"nan": True}, "seeds": 1})
    summary = run_sweep(s, tmp_path, backend="serial")
    assert summary.failed == 1
    assert "non-finite metrics" in next(iter(summary.errors.values()))
    assert "mean_abs" in next(iter(summary.errors.values()))
    assert read_table(tmp_path).empty


def test_sweep_dir_of_another_experiment_is_refused(tmp_path):
    run_sweep(spec(seeds=1, grid={"width": [1]}), tmp_path, backend="serial")
    (tmp_path / "sweep.json").write_text('{"experiment": "other"}')
    with pytest.raises(SpecError, match="holds a sweep of 'other'"):
        run_sweep(spec(seeds=1), tmp_path, backend="serial")


def _die_once(marker: str, value: int) -> int:
    """Kill this worker process the first time it is called (a stand-in for an OOM kill)."""
    if not os.path.exists(marker):
        Path(marker).write_text("x")
        os.kill(os.getpid(), signal.SIGKILL)
    return value * 10


def test_local_executor_survives_a_killed_worker(tmp_path):
    marker = str(tmp_path / "died")
    ex = LocalExecutor(jobs=2)
    try:
        events = list(ex.run([(str(i), _die_once, (marker, i)) for i in range(4)]))
    finally:
        ex.close()
    results = {e.key: e.value for e in events if e.kind == "result"}
    assert results == {"0": 0, "1": 10, "2": 20, "3": 30}
    assert [e.kind for e in events].count("start") == 4


def test_sweep_on_local_processes_equals_serial(tmp_path):
    s = spec(seeds=1)
    run_sweep(s, tmp_path / "serial", executor=SerialExecutor())
    summary = run_sweep(s, tmp_path / "local", backend="local", jobs=2)
    assert summary.done == 3
    a = read_table(tmp_path / "serial").drop(columns="wall_s")
    b = read_table(tmp_path / "local").drop(columns="wall_s")
    pd.testing.assert_frame_equal(a, b)


def test_cells_setting_different_keys_still_give_one_parquet_schema(tmp_path):
    # Each case sets a different key: the other key's column is a typed null in that cell.
    s = parse_spec({"experiment": "toy", "cases": [{"depth": 3}, {"width": 2}], "seeds": 1})
    run_sweep(s, tmp_path, backend="serial")
    direct = pd.read_parquet(tmp_path / "table").sort_values("cell").reset_index(drop=True)
    assert len(direct) == 2
    assert sorted(direct["depth"].dropna().tolist()) == [3]
    assert sorted(direct["width"].dropna().tolist()) == [2]
    assert str(direct["depth"].dtype) == "Int64"
    norms = pd.read_parquet(tmp_path / "tables" / "norms")
    assert len(norms) == 3 + 2  # depth rows: 3 for {depth: 3}, default 2 for {width: 2}
