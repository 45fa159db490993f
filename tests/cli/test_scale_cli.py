"""`--scale tiny|quick|default|paper`, `--dry-run`, `--threads`, and `reproduce --scale paper`.

The paper scale is meant for a GPU; here its code path runs on the CPU with each experiment's
paper sizes monkeypatched to its tiny ones (the numbers are not the point, the path is).
"""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from depthlab.cli import main
from depthlab.config import SCALES, scale_configs, scale_differences
from depthlab.experiments import get_experiment, registry
from depthlab.runs.reproduce import cifar_missing, paper_sizes_markdown, skip_reason
from depthlab.runs.runner import THREADS_ENV, apply_threads, default_threads


@pytest.fixture(autouse=True)
def _keep_threads(monkeypatch):
    """Tests set torch's threads and $DEPTHLAB_THREADS; put both back afterwards."""
    before = torch.get_num_threads()
    monkeypatch.setenv(THREADS_ENV, "1")  # so monkeypatch restores the variable's prior state,
    monkeypatch.delenv(THREADS_ENV)  # which the CLI's --threads writes to os.environ directly
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("name", sorted(registry()))
def test_every_experiment_validates_at_every_scale(name):
    cls = get_experiment(name).Config
    per = scale_configs(cls)
    assert list(per) == list(SCALES)
    assert cls.paper().model_dump(mode="json") == per["paper"]
    # every scale's overrides name real fields (build would have raised on a bad value)
    assert set(cls._paper_overrides) <= set(cls.model_fields)


def test_scale_differences_lists_changed_fields_only():
    diff = scale_differences(get_experiment("init-mean").Config)
    assert diff["width"] == {"tiny": 16, "quick": 32, "default": 64, "paper": 256}
    assert "schemes" not in diff  # the same at every scale


def test_paper_sizes_table_is_generated_from_the_configs():
    table = paper_sizes_markdown(["init-mean"])
    assert table.splitlines()[2] == (
        "| `init-mean` | width: 64 → 256; max_depth: 50 → 100; n_inits: 400 → 4000; "
        "n_inits_gaussian: 4000 → 100000 |"
    )


def test_bad_scale_is_one_line_naming_the_allowed_ones(tmp_path, capsys):
    assert main(["run", "init-mean", "--scale", "huge", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "--scale must be one of tiny, quick, default, paper, got 'huge'" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("cmd", ["run", "reproduce"])
def test_quick_contradicting_scale_is_an_error(tmp_path, capsys, cmd):
    args = [cmd, "init-mean"] if cmd == "run" else [cmd, "--only", "init-mean"]
    assert main([*args, "--quick", "--scale", "paper", "--out", str(tmp_path / "r")]) == 2
    assert "contradicts --scale paper" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_quick_is_an_alias_of_scale_quick(tmp_path):
    tiny = ["width=16", "max_depth=8", "n_inits=40", "n_inits_gaussian=200"]
    sets = [x for kv in tiny for x in ("--set", kv)]
    out = tmp_path / "r"
    assert main(["-q", "run", "init-mean", "--quick", *sets, "--out", str(out)]) == 0
    meta = json.loads((out / "result.json").read_text())["meta"]
    assert (meta["scale"], meta["quick"]) == ("quick", True)
    assert main(["run", "init-mean", "--quick", "--scale", "quick", "--dry-run"]) == 0


def test_dry_run_prints_the_paper_config_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["run", "init-mean", "--scale", "paper", "--dry-run", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "# init-mean at --scale paper" in text
    assert "width: 256" in text and "n_inits_gaussian: 100000" in text
    assert "paper *" in text  # the sizes-per-scale table marks the chosen scale
    assert not out.exists()


def test_dry_run_bad_key_is_a_config_error(capsys):
    assert main(["run", "init-mean", "--dry-run", "--set", "widht=3"]) == 2
    assert "unknown key 'widht'" in capsys.readouterr().err


def _paper_is_tiny(monkeypatch, name, **extra):
    cls = get_experiment(name).Config
    monkeypatch.setattr(cls, "_paper_overrides", {**cls.tiny_overrides(), **extra})


def test_reproduce_scale_paper_runs_paper_configs_and_skips_missing_cifar(
    tmp_path, monkeypatch, capsys
):
    """The `reproduce --scale paper` path with paper = tiny sizes: two experiments run at scale
    paper; landscape-skip on CIFAR-10 with no CIFAR-10 on disk is skipped, and says so."""
    monkeypatch.setenv("DEPTHLAB_DATA", str(tmp_path / "no-cifar-here"))
    _paper_is_tiny(monkeypatch, "init-mean")
    _paper_is_tiny(monkeypatch, "universal-approximation")
    _paper_is_tiny(monkeypatch, "landscape-skip", dataset="cifar10")
    out = tmp_path / "rep"
    only = ["init-mean", "universal-approximation", "landscape-skip"]
    args = ["-q", "reproduce", "--scale", "paper", "--threads", "1", "--out", str(out)]
    rc = main([*args, *(x for n in only for x in ("--only", n))])
    err = capsys.readouterr().err
    assert rc == 0, err
    for name in ("init-mean", "universal-approximation"):
        data = json.loads((out / name / "result.json").read_text())
        assert data["meta"]["scale"] == "paper" and data["meta"]["quick"] is False
        assert data["meta"]["threads"] == 1 and data["meta"]["threads_source"] == "threads"
        tiny = get_experiment(name).Config.tiny().model_dump(mode="json")
        config = yaml.safe_load((out / name / "config.yaml").read_text())
        assert config == {"experiment": name, **tiny}  # the patched paper config, not default
        assert data["claims"]
    skipped = out / "landscape-skip"
    assert (skipped / "status").read_text().strip() == "failed"
    assert not (skipped / "result.json").exists()  # never a silent substitute
    failure = json.loads((skipped / "failure.json").read_text())
    assert failure["error"].startswith("DataMissing: landscape-skip skipped at --scale paper")
    assert "CIFAR-10 is not on disk" in failure["error"]
    assert failure["meta"]["skipped"] in failure["error"]
    assert failure["meta"]["scale"] == "paper"
    assert "skipped: landscape-skip skipped at --scale paper" in " ".join(err.split())
    html = (out / "index.html").read_text()
    assert "landscape-skip skipped at --scale paper" in html


def test_cifar_on_disk_is_not_skipped(tmp_path, monkeypatch):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for f in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (folder / f).write_bytes(b"")
    monkeypatch.setenv("DEPTHLAB_DATA", str(tmp_path))
    _paper_is_tiny(monkeypatch, "landscape-skip", dataset="cifar10")
    assert cifar_missing(get_experiment("landscape-skip").Config.paper()) is None
    assert skip_reason("landscape-skip", {}, "paper") is None
    monkeypatch.setenv("DEPTHLAB_DATA", str(tmp_path / "elsewhere"))
    assert "landscape-skip skipped at --scale paper" in skip_reason("landscape-skip", {}, "paper")
    assert skip_reason("init-mean", {}, "paper") is None  # reads no CIFAR-10


def test_default_threads_is_one_on_small_machines_only():
    assert default_threads(1) == 1 and default_threads(2) == 1
    assert default_threads(3) is None and default_threads(64) is None


def test_threads_from_env_and_bad_values(monkeypatch):
    monkeypatch.setenv(THREADS_ENV, "1")
    assert apply_threads(None) == "env" and torch.get_num_threads() == 1
    monkeypatch.setenv(THREADS_ENV, "two")
    with pytest.raises(ValueError, match="DEPTHLAB_THREADS must be a whole number"):
        apply_threads(None)
    monkeypatch.delenv(THREADS_ENV)
    assert apply_threads(None) == "torch"
    with pytest.raises(ValueError, match="--threads must be a whole number >= 1"):
        apply_threads(0)


def test_bad_threads_flag_is_one_line(tmp_path, capsys):
    assert main(["run", "init-mean", "--threads", "0", "--out", str(tmp_path / "r")]) == 2
    assert "--threads must be >= 1, got 0" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_readme_paper_sizes_table_is_current():
    from pathlib import Path

    from depthlab.runs.reproduce import with_paper_table

    readme = Path(__file__).resolve().parents[2] / "README.md"
    if not readme.is_file():
        pytest.skip("no README.md next to the tests (an installed copy)")
    text = readme.read_text(encoding="utf-8")
    assert with_paper_table(text) == text, (
        "README's paper-sizes table is stale: python -m depthlab.runs.reproduce --write README.md"
    )
    with pytest.raises(ValueError, match="markers are missing"):
        with_paper_table("no markers")


def test_sweep_threads_reach_the_workers(tmp_path):
    """`sweep --threads 1` on the local backend: the forked worker's run records 1 thread, set
    from $DEPTHLAB_THREADS (the executor's own share would be cpu_count // jobs)."""
    spec = tmp_path / "s.yaml"
    spec.write_text(
        "experiment: init-mean\nquick: true\n"
        "set: {max_depth: 8, n_inits: 40, n_inits_gaussian: 200}\n"
        "grid:\n  width: [16]\n"
    )
    out = tmp_path / "sw"
    args = ["-q", "sweep", str(spec), "--out", str(out), "--backend", "local", "--threads", "1"]
    assert main(args) == 0
    (result,) = list((out / "cells").glob("*/result.json"))
    meta = json.loads(result.read_text())["meta"]
    assert meta["threads"] == 1 and meta["threads_source"] == "env"
