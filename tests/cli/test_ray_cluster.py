"""A real two-node Ray cluster, started the way users start one (issue 15).

``ray start --head --num-cpus 1`` and a second node ``ray start --address HEAD --num-cpus 1``
(both on this machine, in a private ``--temp-dir``), then ``depthlab sweep --backend ray
--address HEAD``; the worker node's raylet is SIGKILLed mid-sweep. The sweep must finish with
every cell done exactly once: one run directory saying done per cell, one table row per cell, and
no cell counted twice. Only the processes of this cluster (those whose command line names its
private temp dir) are stopped at the end; never ``ray stop``, which would stop every Ray on the
machine. Skipped only where Ray is not installed.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("ray", reason="Ray is not installed (the optional extra depthlab[ray])")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "helpers"))
from toyenv import subprocess_env

from depthlab.runs.store import read_status

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc"),
]

RAY = str(Path(sys.executable).with_name("ray"))
N_CELLS = 8
SPEC = f"""\
experiment: toy
set: {{sleep_s: 1.5}}
grid:
  width: {list(range(1, N_CELLS + 1))}
seeds: [0]
resources: {{num_cpus: 1}}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _procs_naming(text: str) -> dict[int, str]:
    """pid -> command line of every process whose command line contains ``text``."""
    found = {}
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            cmd = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmd:
            found[int(p.name)] = cmd
    return found


def _raylets(temp_dir: str) -> set[int]:
    return {
        pid
        for pid, cmd in _procs_naming(temp_dir).items()
        if cmd.split(" ", 1)[0].endswith("raylet")
    }


def _stop_cluster(temp_dir: str) -> None:
    """SIGTERM, then SIGKILL, only the processes of THIS cluster (named by its temp dir)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in _procs_naming(temp_dir):
            if pid != os.getpid():
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
        time.sleep(2 if sig == signal.SIGTERM else 0.5)


@pytest.fixture
def cluster():
    temp_dir = tempfile.mkdtemp(prefix="dlray", dir="/tmp")  # short: Ray's socket paths are capped
    env = {
        **subprocess_env(),
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_AUTH_MODE": "disabled",  # a private local cluster; no token from the user's ~/.ray
    }
    # Ray workers inherit the node's environment: this checkout, the helpers and the toy plugin.
    port = _free_port()
    address = f"127.0.0.1:{port}"
    common = ["--num-cpus", "1", "--node-ip-address", "127.0.0.1", "--temp-dir", temp_dir]
    try:
        head = subprocess.run(
            [RAY, "start", "--head", "--port", str(port), "--include-dashboard=false",
             "--disable-usage-stats", *common],
            env=env, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        assert head.returncode == 0, head.stdout[-2000:] + head.stderr[-2000:]
        before = _raylets(temp_dir)
        worker = subprocess.run(
            [RAY, "start", "--address", address, *common],
            env=env, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        assert worker.returncode == 0, worker.stdout[-2000:] + worker.stderr[-2000:]
        worker_raylets = _raylets(temp_dir) - before
        assert len(before) == 1 and len(worker_raylets) == 1, (before, worker_raylets)
        yield {"address": address, "env": env, "worker_raylet": worker_raylets.pop()}
    finally:
        _stop_cluster(temp_dir)
        left = _procs_naming(temp_dir)
        subprocess.run(["rm", "-rf", temp_dir], check=False)
        assert not left, f"cluster processes left running: {sorted(left)}"


def test_sweep_survives_losing_a_node_and_runs_every_cell_once(cluster, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    out = tmp_path / "out"
    cmd = [
        sys.executable, "-m", "depthlab", "-q", "sweep", str(spec), "--out", str(out),
        "--backend", "ray", "--address", cluster["address"],
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd, env=cluster["env"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 240
        while len(list((out / "table").glob("cell-*.parquet"))) < 2:  # mid-sweep
            assert proc.poll() is None, proc.communicate()[0][-3000:]
            assert time.monotonic() < deadline, "the sweep never got going"
            time.sleep(0.2)
        rows_at_kill = len(list((out / "table").glob("cell-*.parquet")))
        os.kill(cluster["worker_raylet"], signal.SIGKILL)  # the worker node dies
        text, _ = proc.communicate(timeout=400)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, text[-3000:]
    assert rows_at_kill < N_CELLS  # the node died with cells still to run
    assert f"{N_CELLS} cells: {N_CELLS} ran, 0 already done, 0 failed" in text, text[-3000:]
    table = pd.read_parquet(out / "table")
    assert len(table) == N_CELLS and table["cell"].is_unique
    assert sorted(table["width"]) == list(range(1, N_CELLS + 1))
    cells = sorted((out / "cells").iterdir())
    assert len(cells) == N_CELLS
    assert all(read_status(d) == "done" and (d / "result.json").exists() for d in cells)
    assert not [p for d in cells for p in d.rglob(".*.tmp")]

    # `--address auto` (Ray reads RAY_ADDRESS, as after `ray start`) on the surviving head node
    spec.write_text(SPEC.replace(str(list(range(1, N_CELLS + 1))), "[1, 2]").replace("1.5", "0"))
    auto = subprocess.run(
        [*cmd[:-1], "auto", "--out", str(tmp_path / "auto")],
        env={**cluster["env"], "RAY_ADDRESS": cluster["address"]},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert auto.returncode == 0, auto.stdout[-2000:] + auto.stderr[-2000:]
    assert "2 cells: 2 ran, 0 already done, 0 failed" in auto.stdout
