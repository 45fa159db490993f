"""Issue 15 items 4, 8, 9 and issue 17 item 6: every bad CLI input is one line on stderr, exit 2,
no traceback and nothing written; list/env/doctor small fixes; the torch floor."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "helpers"))
from toyenv import toy_registered

from depthlab.cli import main


@pytest.fixture(autouse=True, scope="module")
def _toy_experiment():
    with toy_registered():
        yield


def cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, *needles):
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and "Traceback" not in err
    for n in needles:
        assert n in lines[0], lines[0]


@pytest.mark.parametrize(
    ("out", "needle"),
    [
        ("", "--out is empty"),
        ("/dev/null", "/dev/null exists and is not a directory"),
        ("FILE", "exists and is a file"),
        ("FILE/sub", "is a file, so no directory"),
        ("x" * 300, "300 bytes"),
    ],
)
def test_run_out_bad_is_one_line_exit_2_and_nothing_written(
    capsys, tmp_path, monkeypatch, out, needle
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "FILE").write_text("keep me")
    code, _, err = cli(capsys, "run", "toy", "--out", out)
    assert_one_line_error(code, err, needle)
    assert sorted(os.listdir(tmp_path)) == ["FILE"]
    assert (tmp_path / "FILE").read_text() == "keep me"


def test_report_out_bad_is_one_line_exit_2(capsys, tmp_path):
    code, _, _ = cli(capsys, "run", "toy", "--out", str(tmp_path / "runs" / "toy"))
    assert code == 0
    for out, needle in [
        (str(tmp_path), "is a directory"),
        ("/dev/null", "not a regular file"),
        ("", "--out is empty"),
        (str(tmp_path / ("y" * 300)), "300 bytes"),
    ]:
        code, _, err = cli(capsys, "report", str(tmp_path / "runs"), "--out", out)
        assert_one_line_error(code, err, needle)
    assert not (tmp_path / "index.html").exists()


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"width: [1, 2\n", "not valid YAML"),
        (b"width:\n\t- 1\n", "tab in the indentation"),
        (b"width: !!python/object/apply:os.system [id]\n", "tag"),
        (b"width: \xff\n", "not UTF-8"),
        (b"width: 2\nwidth: 3\n", "duplicate key 'width'"),
        (b"width: &w 2\ndepth: *w\n", "anchor"),
        (b"- 1\n", "holds a mapping"),
        (b"widht: 2\n", "unknown key 'widht'"),
    ],
)
def test_config_file_bad_is_one_line_exit_2(capsys, tmp_path, body, needle):
    cfg = tmp_path / "c.yaml"
    cfg.write_bytes(body)
    code, _, err = cli(capsys, "run", "toy", "--config", str(cfg), "--out", str(tmp_path / "r"))
    assert_one_line_error(code, err, needle)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("pair", "needle"),
    [
        ("width=true", "'width' takes numbers"),
        ("width=[true]", "'width'"),
        ("width=*a", "alias"),
        ("width=!!python/name:os.system", "tag"),
        ("width", "expects key=value"),
    ],
)
def test_set_bad_is_one_line_exit_2_without_noise(capsys, tmp_path, pair, needle):
    code, _, err = cli(capsys, "run", "toy", "--set", pair, "--out", str(tmp_path / "r"))
    assert_one_line_error(code, err, needle)
    assert "Value error," not in err and "<config>" not in err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["run", "toy", "--seed", "-1"], "--seed"),
        (["run", "toy", "--seed", str(2**64)], "--seed"),
        (["run", "toy", "--seed", "abc"], "--seed"),
        (["run", "toy", "--bogus"], "No such option: --bogus"),
        (["frobnicate"], "No such command"),
        (["doctor", "mlp:-1-5"], "bad widths '-1-5'"),
        (["doctor", "mlp:3--4"], "bad widths"),
        (["doctor", "mlp:8"], "bad widths"),
        (["doctor", "mlp:8-4", "--seed", "-3"], "--seed"),
        (["run", "no-such-experiment"], "unknown experiment"),
        (["sweep", "/no/such/spec.yaml"], "cannot read spec file"),
    ],
)
def test_usage_errors_are_one_line_exit_2(capsys, tmp_path, monkeypatch, argv, needle):
    monkeypatch.chdir(tmp_path)
    code, _, err = cli(capsys, *argv)
    assert_one_line_error(code, err, needle)
    assert os.listdir(tmp_path) == []


def test_errors_never_wrap(capsys, tmp_path):
    # a long message (the unknown-key list) stays one line whatever the terminal width
    long = "k" * 150
    code, _, err = cli(capsys, "run", "toy", "--set", f"{long}=1", "--out", str(tmp_path / "r"))
    assert_one_line_error(code, err, long, "allowed keys:")
    assert len(err.strip()) > 200


def test_list_is_plain_names_when_piped_and_with_names(capsys):
    from depthlab.experiments import probes, registry

    code, out, _ = cli(capsys, "list")  # capsys: stdout is not a terminal
    assert code == 0
    assert out.splitlines() == [*registry(), *probes()]
    assert "sawtooth-depth-separation" in out.splitlines()
    code, out2, _ = cli(capsys, "list", "--names")
    assert code == 0 and out2 == out


def test_env_prints_the_default_dtype(capsys):
    import torch

    code, out, _ = cli(capsys, "env")
    assert code == 0
    line = next(ln for ln in out.splitlines() if ln.strip().startswith("dtype:"))
    assert line.split(":", 1)[1].strip() == str(torch.get_default_dtype()).replace("torch.", "")
    assert "None" not in line


def test_good_run_still_works_in_process(capsys, tmp_path):
    code, _, err = cli(capsys, "run", "toy", "--set", "width=3", "--out", str(tmp_path / "r"))
    assert code == 0, err
    assert (tmp_path / "r" / "status").read_text().strip() == "done"


def test_torch_floor_is_2_6():
    text = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert '"torch>=2.6,<3"' in text  # weights_only bypass below 2.6 (CVE-2025-32434)
    pins = (Path(__file__).resolve().parents[2] / "constraints.txt").read_text()
    assert "torch==2.13.0" in pins


@pytest.fixture
def read_only_mount(tmp_path):
    """A real read-only file system (a 1 MB tmpfs mounted ro); skipped where mount is not allowed."""
    import shutil
    import subprocess

    ro = tmp_path / "ro"
    ro.mkdir()
    if not shutil.which("mount") or os.geteuid() != 0:
        pytest.skip("mounting a read-only tmpfs needs root")
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(ro)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip(f"mount is not allowed here: {made.stderr.decode(errors='replace')[:200]}")
    try:
        yield ro
    finally:
        subprocess.run(["umount", str(ro)], check=False)


def test_read_only_mount_is_one_line_exit_2(capsys, read_only_mount):
    for argv in (
        ["run", "toy", "--out", str(read_only_mount / "run")],
        ["run", "toy", "--out", str(read_only_mount)],
        ["reproduce", "--only", "toy", "--out", str(read_only_mount / "rep")],
    ):
        code, _, err = cli(capsys, *argv)
        assert_one_line_error(code, err, "not writable (read-only or no permission)")
    assert list(read_only_mount.iterdir()) == []
