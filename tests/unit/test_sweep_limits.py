"""Sweep resource limits and spec checks (issue 15 items 6 and 7).

Cell cap before expansion, seeds and device checked at spec load, unsafe YAML refused, --jobs
capped at the CPU count, workers capped at the cells left, an unreachable Ray address failing
fast, and stale rows of an earlier spec removed from OUT/table.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "helpers"))
from toyenv import toy_registered

from depthlab.cli import main
from depthlab.runs import sweep as sweep_mod
from depthlab.runs.sweep import (
    MAX_CELLS,
    SpecError,
    check_ray_address,
    count_cells,
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


def _spec_file(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "spec.yaml"
    p.write_text(text)
    return p


def test_a_billion_cell_grid_is_refused_before_expansion():
    grid = {f"k{i}": list(range(10)) for i in range(9)}  # 10^9 combinations, nothing built
    with pytest.raises(SpecError, match=r"1000000000 cells .* cap of 100000"):
        parse_spec({"experiment": "toy", "grid": grid})


def test_a_trillion_seeds_is_refused_before_range_is_built():
    with pytest.raises(SpecError, match=r"seeds count 1000000000000 is more than the cell cap"):
        parse_spec({"experiment": "toy", "seeds": 10**12})


def test_cell_cap_is_configurable_and_exact():
    s = parse_spec({"experiment": "toy", "grid": {"width": [1, 2, 3]}, "seeds": 2}, max_cells=6)
    assert count_cells(s) == 6 and len(plan(s, max_cells=6)) == 6
    with pytest.raises(SpecError, match="more than the cap of 5"):
        parse_spec({"experiment": "toy", "grid": {"width": [1, 2, 3]}, "seeds": 2}, max_cells=5)
    assert MAX_CELLS == 100_000
    from depthlab.cli import sweep as cli_sweep

    assert cli_sweep.MAX_CELLS == MAX_CELLS


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"device": "tpu"}, "device must be one of auto, cpu, cuda, mps"),
        ({"device": 3}, "device must be one of"),
        ({"device": "cuda:x"}, "device must be one of"),
        ({"seeds": [10**20]}, "seeds must be in 0..9223372036854775807"),
        ({"seeds": [True]}, "seeds must be integers"),
        ({"seeds": [1.5]}, "seeds must be integers"),
        ({"seeds": True}, "seeds must be a list of integers or a count"),
        ({"quick": "yes"}, "quick must be true or false"),
        ({"quick": 1}, "quick must be true or false"),
    ],
)
def test_seeds_and_device_are_checked_at_spec_load(data, needle):
    with pytest.raises(SpecError, match=needle) as info:
        parse_spec({"experiment": "toy", **data})
    assert "Value error" not in str(info.value) and "\n" not in str(info.value)


def test_valid_devices_and_seeds_still_load():
    for dev in ("auto", "cpu", "cuda", "mps", "cuda:1"):
        assert parse_spec({"experiment": "toy", "device": dev}).device == dev
    assert parse_spec({"experiment": "toy", "seeds": [0, 2**63 - 1]}).seeds == [0, 2**63 - 1]


ALIAS_BOMB = """\
experiment: toy
a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
set: {width: *c}
"""


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (ALIAS_BOMB, "line 2: an anchor (&a)"),
        ("experiment: toy\nset: &s {width: *s}\n", "anchor (&s)"),
        ("experiment: toy\ngrid:\n  width: " + "[" * 5000 + "]" * 5000, "nested deeper than 32"),
        ("experiment: toy\nexperiment: toy\n", "line 2: duplicate key 'experiment'"),
        ("experiment: toy\ngrid:\n  width: [1]\n  width: [2]\n", "line 4: duplicate key 'width'"),
        ("experiment: !!python/name:os.system toy\n", "tag"),
        ("experiment: toy\ngrid:\n\twidth: [1]\n", "tab in the indentation"),
    ],
)
def test_unsafe_spec_yaml_is_refused_with_its_line(tmp_path, text, needle):
    with pytest.raises(SpecError) as info:
        load_spec(_spec_file(tmp_path, text))
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_non_utf8_spec_is_refused(tmp_path):
    p = tmp_path / "spec.yaml"
    p.write_bytes(b"experiment: toy\nout: \xe9t\xe9\n")
    with pytest.raises(SpecError, match="line 2: byte 0xe9 is not UTF-8"):
        load_spec(p)


def test_jobs_above_cpu_count_needs_force(tmp_path, capsys):
    spec = _spec_file(tmp_path, "experiment: toy\n")
    n = (os.cpu_count() or 1) + 1
    assert main(["sweep", str(spec), "--out", str(tmp_path / "o"), "-j", str(n)]) == 2
    err = capsys.readouterr().err
    assert f"--jobs {n} is more than the" in err and "--force-jobs" in err
    assert main(["sweep", str(spec), "--out", str(tmp_path / "o"), "-j", "100000"]) == 2
    assert not (tmp_path / "o").exists()
    capsys.readouterr()
    args = ["sweep", str(spec), "--out", str(tmp_path / "o"), "-j", str(n), "--force-jobs"]
    assert main([*args, "--dry-run"]) == 0
    # on Ray, --jobs is the number of tasks in flight on the cluster: not capped by this machine
    ray_args = ["sweep", str(spec), "--out", str(tmp_path / "o"), "-j", str(n), "--backend", "ray"]
    assert main([*ray_args, "--dry-run"]) == 0


def test_workers_are_capped_at_the_cells_left(tmp_path, monkeypatch):
    seen = {}
    real = sweep_mod.make_executor

    def spy(backend, **kw):
        seen.update(kw)
        return real("serial")

    monkeypatch.setattr(sweep_mod, "make_executor", spy)
    s = parse_spec({"experiment": "toy", "seeds": [0]})
    summary = run_sweep(s, tmp_path / "o", backend="local", jobs=24)
    assert summary.done == 1 and seen["jobs"] == 1


def test_max_cells_flag(tmp_path, capsys):
    spec = _spec_file(tmp_path, "experiment: toy\ngrid: {width: [1, 2, 3]}\nseeds: 4\n")
    assert main(["sweep", str(spec), "--out", str(tmp_path / "o"), "--max-cells", "11"]) == 2
    err = capsys.readouterr().err
    assert "12 cells (3 width x 4 seeds) is more than the cap of 11" in err
    assert main(["sweep", str(spec), "--out", str(tmp_path / "o"), "--max-cells", "0"]) == 2
    assert not (tmp_path / "o").exists()


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    return port


def test_unreachable_ray_address_fails_fast_with_one_line(tmp_path, capsys):
    addr = f"127.0.0.1:{_closed_port()}"
    with pytest.raises(SpecError, match=f"--address {addr}: no Ray cluster answers there"):
        check_ray_address(addr, timeout=2)
    for bad in ("nonsense", "host:", "host:99999", "ray://:1"):
        with pytest.raises(SpecError, match="is not host:port"):
            check_ray_address(bad)
    check_ray_address("auto")  # left to ray.init
    spec = _spec_file(tmp_path, "experiment: toy\n")
    code = main(
        ["sweep", str(spec), "--out", str(tmp_path / "o"), "--backend", "ray", "--address", addr]
    )
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no Ray cluster answers there" in err[0]
    assert not (tmp_path / "o").exists()


def test_stale_rows_of_an_earlier_spec_are_removed(tmp_path):
    out = tmp_path / "o"
    a = parse_spec({"experiment": "toy", "grid": {"width": [1, 2, 3]}})
    run_sweep(a, out, backend="serial")
    assert sorted(read_table(out)["width"]) == [1, 2, 3]
    b = parse_spec({"experiment": "toy", "grid": {"width": [3, 4]}})
    summary = run_sweep(b, out, backend="serial")
    assert summary.skipped == 1 and summary.done == 1
    table = read_table(out)
    assert sorted(table["width"]) == [3, 4]  # A's rows for widths 1 and 2 are gone
    assert sorted(read_table(out, "norms")["cell"].unique()) == sorted(table["cell"])
    # going back to A reuses the finished cells' run directories
    summary = run_sweep(a, out, backend="serial")
    assert summary.skipped == 3 and sorted(read_table(out)["width"]) == [1, 2, 3]


def test_damaged_manifest_is_one_line(tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / "sweep.json").write_bytes(b"\xff{not json")
    with pytest.raises(SpecError, match=r"sweep\.json is damaged"):
        run_sweep(parse_spec({"experiment": "toy"}), out, backend="serial")


def test_no_ray_cluster_at_auto_is_one_line_and_writes_nothing(tmp_path, monkeypatch, capsys):
    from depthlab.parallel import executors

    def no_cluster(self):
        raise ConnectionError("Could not find any running Ray instance.\nmore text")

    monkeypatch.setattr(executors.RayExecutor, "start", no_cluster)
    with pytest.raises(SpecError, match=r"--address auto: no Ray cluster found \(Could not find"):
        run_sweep(parse_spec({"experiment": "toy"}), tmp_path / "o", backend="ray", address="auto")
    assert not (tmp_path / "o").exists()
    spec = _spec_file(tmp_path, "experiment: toy\n")
    argv = [
        "sweep",
        str(spec),
        "--out",
        str(tmp_path / "o"),
        "--backend",
        "ray",
        "--address",
        "auto",
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no Ray cluster found" in err[0]
    assert not (tmp_path / "o").exists()
