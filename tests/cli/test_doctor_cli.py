"""`depthlab doctor TARGET`: the three TARGET forms, JSON output and one-line errors (exit 2)."""

import json
import sys
import textwrap

import pytest
from typer.testing import CliRunner

from depthlab.cli import app

runner = CliRunner()


def test_zoo_target_with_init_is_healthy_as_json():
    res = runner.invoke(app, ["doctor", "mlp:100-64-64-10", "--init", "he_normal", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["verdict"] == "healthy" and len(out["layers"]) == 3
    assert out["beta"] == pytest.approx(2 / 64)


def test_pytorch_default_init_is_flagged_and_strict_exits_one():
    res = runner.invoke(app, ["doctor", "mlp:100-64-64-10", "--strict"])
    assert res.exit_code == 1
    assert "unhealthy" in res.stdout and "he_normal" in res.stdout


def test_module_factory_target(tmp_path, monkeypatch):
    (tmp_path / "mynets.py").write_text(
        textwrap.dedent(
            """
            import torch
            from depthlab.init import initialize
            from depthlab.nets import mlp

            def narrow():
                return initialize(mlp([64, 64, 4, 64, 10]), "he_normal", torch.Generator().manual_seed(0))
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    res = runner.invoke(app, ["doctor", "mynets:narrow", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert any("4-wide bottleneck" in f for f in out["findings"])
    sys.modules.pop("mynets", None)


@pytest.mark.parametrize(
    "target, words",
    [
        ("bogus", "unknown TARGET 'bogus'"),
        ("mlp:10-x-3", "bad widths"),
        ("no_such_pkg.mod:f", "cannot import module 'no_such_pkg.mod'"),
        ("depthlab.nets:nope", "has no attribute 'nope'"),
        ("depthlab.nets:mlp", "callable with no arguments"),
        ("missing.pt", "does not exist"),
    ],
)
def test_bad_target_is_a_one_line_error_with_exit_two(target, words):
    res = runner.invoke(app, ["doctor", target])
    assert res.exit_code == 2
    text = " ".join(res.output.split())
    assert words in text
    assert "Traceback" not in res.output


def test_bad_init_scheme_is_named():
    res = runner.invoke(app, ["doctor", "mlp:10-10-2", "--init", "zeros"])
    assert res.exit_code == 2 and "unknown init scheme 'zeros'" in " ".join(res.output.split())
