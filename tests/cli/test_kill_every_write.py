"""Faults never look done (issue 15 item 5).

A run is SIGKILLed at EVERY atomic file write it makes (just before the rename, leaving an orphan
temp file, and just after it), on a fresh directory and on a directory holding a finished run of
another config. After every kill: no directory says ``done`` unless its ``result.json`` is there and
matches its ``config.yaml``. The next start removes the orphan temp files and finishes ``done``.
The kill points come from the test hook in depthlab.atomic (``DEPTHLAB_KILL_AT_WRITE=N`` or
``N:after``; ``DEPTHLAB_WRITE_LOG`` lists the writes). SIGTERM ends a run ``failed`` with the reason.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "helpers"))
from toyenv import subprocess_env, toy_registered

from depthlab import atomic
from depthlab.runs.store import load_result, read_status

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork + SIGKILL")


@pytest.fixture(autouse=True, scope="module")
def _toy_experiment():
    with toy_registered():
        yield


def _child(run_dir: str, width: int, env: dict[str, str]) -> None:
    os.environ.update(env)
    atomic._HOOKED = True
    atomic._WRITES[0] = 0
    from depthlab.runs import run_experiment

    run_experiment("toy", {"width": width}, out_dir=run_dir, seed=0)
    os._exit(0)


def _run_forked(run_dir: Path, width: int, **env: str) -> int:
    p = mp.get_context("fork").Process(target=_child, args=(str(run_dir), width, env))
    p.start()
    p.join(60)
    assert p.exitcode is not None, "the forked run hung"
    return p.exitcode


def _assert_never_done_without_result(run_dir: Path) -> None:
    status = read_status(run_dir)
    assert status in (None, "running", "done", "failed"), status
    if status == "done":
        assert (run_dir / "result.json").exists(), f"{run_dir} says done without result.json"
        res = load_result(run_dir)  # readable, and its config is the one config.yaml holds
        on_disk = yaml.safe_load((run_dir / "config.yaml").read_text())
        on_disk.pop("experiment")
        assert res.config == on_disk


def _writes(tmp_path: Path, base: Path | None) -> list[str]:
    log = tmp_path / "writes.log"
    d = tmp_path / "count"
    if base is not None:
        shutil.copytree(base, d)
    assert _run_forked(d, 3, DEPTHLAB_WRITE_LOG=str(log)) == 0
    return log.read_text().splitlines()


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("done") / "run"
    assert _run_forked(d, 5) == 0
    assert read_status(d) == "done" and load_result(d).config["width"] == 5
    return d


@pytest.mark.parametrize("scenario", ["fresh", "rerun-over-done"])
def test_sigkill_at_every_write_never_leaves_done_without_result(tmp_path, finished_run, scenario):
    base = finished_run if scenario == "rerun-over-done" else None
    writes = _writes(tmp_path, base)
    names = [Path(w).name for w in writes]
    assert names[0] == "status" and names[-1] == "status" and "result.json" in names
    assert len(writes) >= 4
    kills = orphans_seen = 0
    for n in range(1, len(writes) + 1):
        for phase in ("before", "after"):
            d = tmp_path / f"k{n}{phase}"
            if base is not None:
                shutil.copytree(base, d)
            code = _run_forked(d, 3, DEPTHLAB_KILL_AT_WRITE=f"{n}:{phase}")
            assert code == -signal.SIGKILL, (n, phase, code)
            kills += 1
            _assert_never_done_without_result(d)
            if read_status(d) == "done":  # only the untouched old run, or the finished new one
                width = load_result(d).config["width"]
                assert width == (5 if (n, phase) == (1, "before") and base else 3), (n, phase)
            orphans_seen += bool(list(d.rglob(".*.tmp")))
            # the next start cleans up and finishes
            assert _run_forked(d, 3) == 0
            assert read_status(d) == "done" and load_result(d).config["width"] == 3
            assert not list(d.rglob(".*.tmp")), list(d.rglob(".*.tmp"))
    assert kills == 2 * len(writes)
    assert orphans_seen >= len(writes) - 1  # a kill before the rename leaves one (cleaned above)


def test_kill_hook_works_through_the_cli(tmp_path):
    d = tmp_path / "r"
    env = {**subprocess_env(), "DEPTHLAB_KILL_AT_WRITE": "1:after"}
    out = subprocess.run(
        [sys.executable, "-m", "depthlab", "run", "toy", "--out", str(d)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == -signal.SIGKILL, out.stderr
    assert read_status(d) == "running" and not (d / "result.json").exists()


def test_sigterm_ends_the_run_failed_with_the_reason(tmp_path):
    d = tmp_path / "r"
    proc = subprocess.Popen(
        [sys.executable, "-m", "depthlab", "run", "toy", "--set", "sleep_s=60", "--out", str(d)],
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while read_status(d) != "running" or not (d / "config.yaml").exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the run never started"
        time.sleep(0.1)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert err.strip().splitlines() == ["error: terminated by SIGTERM"]
    assert read_status(d) == "failed"
    assert "SIGTERM" in (d / "error.txt").read_text()
    assert "SIGTERM" in json.loads((d / "failure.json").read_text())["error"]
    assert not (d / "result.json").exists()


def test_sigterm_on_a_sweep_finishes_the_cell_in_flight_and_starts_no_other(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("experiment: toy\nset: {sleep_s: 2}\ngrid: {width: [1, 2, 3]}\n")
    out = tmp_path / "o"
    cmd = [sys.executable, "-m", "depthlab", "-q", "sweep", str(spec), "--out", str(out), "-j", "1"]
    proc = subprocess.Popen(
        cmd, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    while not list(out.glob("cells/*/config.yaml")):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the sweep never started"
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert err.strip().splitlines() == ["error: terminated by SIGTERM"]
    cells = sorted(out.glob("cells/*"))
    assert len(cells) == 1 and read_status(cells[0]) == "done"  # finished, none started after
    again = subprocess.run(cmd, env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "3 cells: 2 ran, 1 already done, 0 failed" in again.stdout
