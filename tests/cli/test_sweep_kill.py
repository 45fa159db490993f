"""Killing a sweep's driver with SIGKILL loses nothing finished and duplicates nothing on resume."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "helpers"))
from toyenv import subprocess_env, toy_registered

from depthlab.runs.store import read_status
from depthlab.runs.sweep import cell_dir, load_spec, plan, read_table, run_sweep


@pytest.fixture(autouse=True, scope="module")
def _toy_experiment():
    with toy_registered():
        yield


SPEC = """\
experiment: toy
set: {sleep_s: 0.4}
grid:
  width: [1, 2, 3, 4, 5, 6, 7, 8]
seeds: [0]
"""


def _sweep(spec: Path, out: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "depthlab", "-q", "sweep", str(spec), "--out", str(out), "-j", "2"]
    return subprocess.Popen(
        cmd, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def test_killed_sweep_resumes_to_the_uninterrupted_table(tmp_path):
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(SPEC)
    out = tmp_path / "killed"
    proc = _sweep(spec_path, out)
    deadline = time.monotonic() + 90
    while len(list((out / "table").glob("cell-*.parquet"))) < 2:
        assert proc.poll() is None, proc.communicate()[0]
        assert time.monotonic() < deadline, "sweep made no progress"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(0.5)  # workers die with the driver (PR_SET_PDEATHSIG)

    cells = plan(load_spec(spec_path))
    statuses = [read_status(cell_dir(out, c.key)) for c in cells]
    finished = {c.key for c, s in zip(cells, statuses, strict=True) if s == "done"}
    assert 2 <= len(finished) < len(cells), statuses
    before = {p.name: p.stat().st_mtime_ns for p in (out / "table").glob("cell-*.parquet")}

    resumed = _sweep(spec_path, out)
    text, _ = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, text
    assert f"{len(finished)} already done" in text
    # Finished cells were not run again: their rows are untouched.
    for name, mtime in before.items():
        assert (out / "table" / name).stat().st_mtime_ns == mtime

    run_sweep(load_spec(spec_path), tmp_path / "clean", backend="serial")
    got = read_table(out).sort_values("cell").reset_index(drop=True)
    want = read_table(tmp_path / "clean").sort_values("cell").reset_index(drop=True)
    assert got["cell"].is_unique and len(got) == len(cells)
    pd.testing.assert_frame_equal(got.drop(columns="wall_s"), want.drop(columns="wall_s"))
    assert all(read_status(cell_dir(out, c.key)) == "done" for c in cells)
