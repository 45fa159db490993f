"""Every script in examples/ runs to completion (examples added later are picked up too)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """Start every example at once (each in its own process and temp dir), then collect them."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), env.get("PYTHONPATH")) if p)
    env.setdefault("OMP_NUM_THREADS", "1")
    env["MPLBACKEND"] = "Agg"
    procs = {}
    for path in EXAMPLES:
        cwd = tmp_path_factory.mktemp(path.stem)
        procs[path.name] = subprocess.Popen(
            [sys.executable, str(path)],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    results = {}
    for name, proc in procs.items():
        try:
            out, _ = proc.communicate(timeout=240)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        results[name] = (proc.returncode, out)
    return results


def test_there_are_examples():
    assert len(EXAMPLES) >= 3


@pytest.mark.parametrize("name", [p.name for p in EXAMPLES])
def test_example_runs(name, finished):
    code, out = finished[name]
    assert code == 0, f"{name} exited with {code}:\n{out[-3000:]}"
    assert out.strip(), f"{name} printed nothing"
    assert "Traceback" not in out
