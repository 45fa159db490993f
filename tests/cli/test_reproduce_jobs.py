"""`reproduce --jobs N`: experiments side by side in worker processes, same claims as one at a time."""

import json
import os
import subprocess
import sys

import pytest

from depthlab.runs.reproduce import COST_HINT_S, default_jobs, longest_first

PAIR = ["init-mean", "regions-density", "universal-approximation"]


def _run(*args):
    return subprocess.run(
        [sys.executable, "-m", "depthlab", "reproduce", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def _claims(root):
    out = {}
    for name in PAIR:
        res = json.loads((root / name / "result.json").read_text())
        for c in res["claims"]:
            out[c["id"]] = (c["verdict"], c.get("estimate"), c.get("interval"), c.get("samples"))
    return out


@pytest.mark.slow
def test_jobs_two_gives_the_same_claims_as_one(tmp_path):
    only = [a for n in PAIR for a in ("--only", n)]
    common = ["--scale", "tiny", "--device", "cpu", *only]
    one = _run(*common, "--jobs", "1", "--out", str(tmp_path / "one"))
    two = _run(*common, "--jobs", "2", "--out", str(tmp_path / "two"))
    assert one.returncode == 0, one.stderr[-2000:]
    assert two.returncode == 0, two.stderr[-2000:]
    assert "in 2 processes, longest first" in two.stdout
    a, b = _claims(tmp_path / "one"), _claims(tmp_path / "two")
    assert len(a) >= 6 and a == b
    for name in PAIR:
        assert (tmp_path / "two" / name / "status").read_text().strip() == "done"
    assert (tmp_path / "two" / "index.html").stat().st_size > 0


def test_bad_jobs_is_one_line_and_exit_2(tmp_path):
    out = _run("--jobs", "0", "--only", "init-mean", "--out", str(tmp_path / "x"))
    assert out.returncode == 2 and "--jobs must be >= 1, got 0" in out.stderr
    assert not (tmp_path / "x" / "init-mean").exists()


def test_default_jobs_and_order():
    assert default_jobs("cpu", cpu_count=1) == 1
    assert default_jobs("cpu", cpu_count=2) == 2
    assert default_jobs("cpu", cpu_count=64) == 2
    assert default_jobs("cuda", cpu_count=64) == 1  # one GPU: experiments would share its memory
    assert default_jobs("cuda:3", cpu_count=2) == 1  # no raise without CUDA: the run reports it
    names = ["init-mean", "resnet-degradation", "mimic", "phase-diagram"]
    order = longest_first(names)
    assert order[0] == "resnet-degradation" and order[1] == "mimic"
    assert order[2:] == ["init-mean", "phase-diagram"]  # unknown cost: stable, 30 s each
    assert all(v > 0 for v in COST_HINT_S.values())


DYING_PLUGIN = """
import os, time
import pandas as pd
from depthlab.config import ExperimentConfig
from depthlab.core import Result
from depthlab.experiments import register


class NoConfig(ExperimentConfig):
    pass


@register
class Dies:
    name, title, section, order, Config = "dies-for-tests", "dies", "other", 0, NoConfig

    def run(self, config, ctx):
        time.sleep(0.5)
        os._exit(9)  # as the kernel's out-of-memory killer would end the worker


@register
class Survives:
    name, title, section, order, Config = "survives-for-tests", "ok", "other", 1, NoConfig

    def run(self, config, ctx):
        time.sleep(3)
        return Result(self.name, {}, [], {"t": pd.DataFrame({"a": [1]})})
"""


@pytest.mark.slow
def test_a_killed_worker_fails_its_experiment_only(tmp_path):
    (tmp_path / "dyingplugin.py").write_text(DYING_PLUGIN)
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "DEPTHLAB_PLUGINS": "dyingplugin",
        "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }
    out = subprocess.run(
        [sys.executable, "-m", "depthlab", "reproduce", "--jobs", "2", "--device", "cpu",
         "--only", "dies-for-tests", "--only", "survives-for-tests", "--out", str(tmp_path / "r")],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert out.returncode == 1, out.stderr[-2000:]
    assert "dies-for-tests failed: RuntimeError: worker process died" in out.stderr
    assert "1 experiment(s) failed: dies-for-tests" in out.stderr
    assert (tmp_path / "r" / "survives-for-tests" / "status").read_text().strip() == "done"
