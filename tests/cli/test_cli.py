import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from depthlab.experiments import registry


def run_cli(*args, env=None, timeout=600):
    return subprocess.run(
        [sys.executable, "-m", "depthlab", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def test_list_shows_experiments():
    out = run_cli("list")
    assert out.returncode == 0
    assert "universal-approximation" in out.stdout


def test_bad_key_is_one_clear_line_and_exit_2(tmp_path):
    out = run_cli(
        "run", "universal-approximation", "--set", "widht=3", "--out", str(tmp_path / "r")
    )
    assert out.returncode == 2
    assert "unknown key 'widht'" in out.stderr and "allowed keys:" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "r").exists()  # validated before anything is written


def test_bad_value_and_unknown_experiment_exit_2(tmp_path):
    out = run_cli(
        "run", "universal-approximation", "--set", "seeds=-1", "--out", str(tmp_path / "r")
    )
    assert out.returncode == 2 and "key 'seeds'" in out.stderr
    out = run_cli("run", "no-such-thing")
    assert out.returncode == 2 and "unknown experiment 'no-such-thing'" in out.stderr
    out = run_cli("reproduce", "--only", "nope", "--out", str(tmp_path / "x"))
    assert out.returncode == 2 and "available:" in out.stderr


def test_cuda_without_gpu_is_a_clear_error(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    out = run_cli(
        "run",
        "universal-approximation",
        "--quick",
        "--device",
        "cuda",
        "--out",
        str(tmp_path / "r"),
    )
    assert out.returncode == 2 and "no CUDA GPU" in out.stderr


def test_env_prints_versions():
    out = run_cli("env")
    assert out.returncode == 0 and "torch" in out.stdout and "threads" in out.stdout


@pytest.mark.slow
def test_reproduce_quick_writes_report_and_done_runs(tmp_path):
    out_dir = tmp_path / "rep"
    t0 = time.perf_counter()
    out = run_cli(
        "reproduce",
        "--quick",
        "--device",
        "cpu",
        "--out",
        str(out_dir),
        env={"OMP_NUM_THREADS": "1"},
    )
    wall = time.perf_counter() - t0
    assert out.returncode == 0, out.stderr[-3000:]
    assert (out_dir / "index.html").exists()
    for name in registry():
        run_dir = out_dir / name
        assert (run_dir / "status").read_text().strip() == "done", name
        res = json.loads((run_dir / "result.json").read_text())
        assert res["claims"], f"{name} made no claims"
        for fig in res["figures"].values():
            assert (run_dir / fig).stat().st_size > 0
    html = (out_dir / "index.html").read_text()
    assert html.count('class="claim-row"') == sum(
        len(json.loads((out_dir / n / "result.json").read_text())["claims"]) for n in registry()
    )
    print(f"reproduce --quick wall time: {wall:.1f} s")


SLOW_PLUGIN = textwrap.dedent(
    """
    import time
    import pandas as pd
    from depthlab.config import ExperimentConfig
    from depthlab.core import Result
    from depthlab.experiments import register
    from depthlab.atomic import atomic_write_text

    class SlowConfig(ExperimentConfig):
        seconds: float = 60.0

    @register
    class Slow:
        name = "slow-for-tests"
        title = "sleeps"
        section = "other"
        order = 0
        Config = SlowConfig

        def run(self, config, ctx):
            atomic_write_text(ctx.out_dir / "started", "yes")
            time.sleep(config.seconds)
            return Result(self.name, {}, [], {"t": pd.DataFrame({"a": [1]})})
    """
)


def test_sigkill_mid_run_never_looks_done(tmp_path):
    (tmp_path / "slowplugin.py").write_text(SLOW_PLUGIN)
    env = {
        **os.environ,
        "DEPTHLAB_PLUGINS": "slowplugin",
        "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "depthlab", "run", "slow-for-tests", "--out", str(run_dir)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.time() + 60
    while not (run_dir / "started").exists():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.time() < deadline, "the run never started"
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (run_dir / "status").read_text().strip() == "running"
    assert not (run_dir / "result.json").exists()
    assert not list(Path(run_dir).rglob("*.tmp"))
    from depthlab.runs import load_result

    with pytest.raises(FileNotFoundError, match="not a finished run"):
        load_result(run_dir)


def test_error_text_with_brackets_prints_literally(capsys):
    import typer

    from depthlab.cli.app import fail

    with pytest.raises(typer.Exit) as exc:
        fail("install it: pip install 'depthlab[vision]'")
    assert exc.value.exit_code == 2
    assert "depthlab[vision]" in capsys.readouterr().err
