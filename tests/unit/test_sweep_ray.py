"""The Ray backend on a local instance (ray.init(num_cpus=2)): a small sweep and a sharded job."""

from __future__ import annotations

import os
import sys
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ray = pytest.importorskip("ray", reason="the Ray backend is the optional extra depthlab[ray]")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "helpers"))
from test_shard import surface_rows  # noqa: E402
from toyenv import subprocess_env, toy_registered  # noqa: E402

from depthlab.parallel.shard import run_sharded  # noqa: E402
from depthlab.runs.sweep import parse_spec, read_table, run_sweep  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def _toy_experiment():
    with toy_registered():
        yield


@pytest.fixture(scope="module")
def local_ray():
    # Ray workers inherit the driver's environment: this checkout, the helpers and the toy plugin.
    env = subprocess_env()
    saved = {k: os.environ.get(k) for k in ("PYTHONPATH", "DEPTHLAB_PLUGINS", "OMP_NUM_THREADS")}
    os.environ.update(
        PYTHONPATH=env["PYTHONPATH"] + os.pathsep + str(Path(__file__).parent),
        DEPTHLAB_PLUGINS="toy_experiment",
        OMP_NUM_THREADS="1",
    )
    for attempt in (
        1,
        2,
    ):  # Ray gives its raylet a fixed 30 s to start; a loaded CI box can miss it
        try:
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
            break
        except Exception as exc:
            ray.shutdown()
            if attempt == 2 or "timed out during startup" not in str(exc):
                raise
    yield
    ray.shutdown()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def test_ray_sweep_equals_serial_sweep_and_resumes(local_ray, tmp_path):
    spec = parse_spec(
        {"experiment": "toy", "grid": {"width": [1, 3]}, "seeds": 2, "resources": {"num_cpus": 1}}
    )
    summary = run_sweep(spec, tmp_path / "ray", backend="ray")
    assert (summary.done, summary.failed) == (4, 0)
    run_sweep(spec, tmp_path / "serial", backend="serial")
    pd.testing.assert_frame_equal(
        read_table(tmp_path / "ray").drop(columns="wall_s"),
        read_table(tmp_path / "serial").drop(columns="wall_s"),
    )
    again = run_sweep(spec, tmp_path / "ray", backend="ray")
    assert (again.skipped, again.done) == (4, 0)


def test_ray_sharded_surface_equals_one_process(local_ray):
    alphas, betas = np.linspace(-1, 1, 6), np.linspace(-2, 2, 10)
    fn = partial(surface_rows, alphas, betas)
    got = run_sharded(fn, 10, pieces=3, backend="ray", num_cpus=1)
    np.testing.assert_array_equal(got, fn(0, 10))
