"""Every ```python and ```bash block of README.md runs here, so the README cannot drift (issue 17).

How each block runs: all blocks run in ONE subprocess (this file run as a script; one torch import
instead of one per block), in one temporary directory, in README order, so a later block may read
what an earlier one wrote (e.g. the sweep table); each block's outcome is one test here.

* ``python`` blocks: each ``exec``-ed in a fresh namespace, after the size substitutions in ``SHRINK`` (every
  substitution must still match the README text, so an edited snippet fails here until this table
  follows it). ``DEPTHLAB_SNIPPET_SMALL=1`` is set for snippets that want to read it.
* ``bash`` blocks: line by line. ``depthlab ...`` (or ``.venv/bin/depthlab ...``) goes through the
  real Typer app (``typer.testing.CliRunner``). For ``run``/``reproduce`` the README's own config
  (its ``--set`` values and ``--quick``) is validated exactly as written. The quick start's
  experiment (``EXECUTE``) is then executed at its tiny scale, once (later lines reuse that run
  directory); every other experiment is validated only, because tests/contract/test_registry_shard*
  already runs each registered experiment at its tiny scale through the same runner.
  ``depthlab sweep`` runs for real on the YAML spec written earlier in the README (shrunk).
  ``python -c`` runs; ``python examples/...`` must exist (tests/test_examples.py runs them);
  ``make TARGET`` must be a Makefile target, and ``make quick`` runs its recipe (tiny).
* Blocks preceded by ``<!-- no-test: REASON -->`` are skipped, and only for the reasons in
  ``NO_TEST`` (the opening install commands, GPU-only and Ray-cluster blocks).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

try:
    import pytest
except ImportError:  # the runner mode needs no pytest
    pytest = None

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

# The only blocks allowed to skip, keyed by the start of their first line, with the reason.
NO_TEST = {
    "make demo": "install: the two opening commands build .venv and run the full suite/demo",
    "bash benchmarks/gpu_checks.sh": "GPU-only: parity tests and benchmarks on CUDA",
    "PYTHONPATH=src python benchmarks/bench_landscape.py --no-cpu": "GPU-only: CUDA variants",
    "depthlab sweep ua-sweep.yaml --backend ray": "Ray: needs Ray installed (and a cluster)",
    "# one GPU per piece on a Ray cluster": "Ray + GPU: backend='ray' with num_gpus=1 per piece",
}
ALLOWED_REASONS = ("install", "gpu", "ray")

# (README text, smaller text) per snippet: sizes only, never the API. Each must match the README.
SHRINK = [
    ('out_dir="runs/ua", quick=True', 'out_dir="runs/ua", scale="tiny"'),
    ("TrainConfig(epochs=20, lr=1e-3)", "TrainConfig(epochs=1, lr=1e-3)"),
    ("n_inits=40_000", "n_inits=2_000"),
    ("mlp_family([64] * 21), 2000,", "mlp_family([64] * 21), 200,"),
    ("etas=[0.3] * 10), 4000)", "etas=[0.3] * 10), 400)"),
    (
        "torch.randn(10_000, 40), torch.randn(10_000, 40)",
        "torch.randn(50, 40), torch.randn(50, 40)",
    ),
    ("regions.count_2d(nets.mlp([2, 60, 60, 1]))", "regions.count_2d(nets.mlp([2, 8, 8, 1]))"),
    ("imgs = torch.randn(3, 1, 8, 8)", "imgs = torch.randn(3, 1, 8, 8) * 0.05"),
    ("TrainConfig(epochs=10, lr=3e-3)", "TrainConfig(epochs=1, lr=3e-3)"),
    ("landscape.Grid.plane(-1, 1, 21)", "landscape.Grid.plane(-1, 1, 3)"),
    ("TrainConfig(epochs=30, lr=3e-3)", "TrainConfig(epochs=1, lr=3e-3)"),
    ("TrainConfig(epochs=40, lr=0.1)", "TrainConfig(epochs=1, lr=0.1)"),
    ('loss="kd", temperature=4.0)', 'loss="kd", temperature=4.0, config=TrainConfig(epochs=1))'),
    ("extra_inputs=x_unlabeled)", "extra_inputs=x_unlabeled, config=TrainConfig(epochs=1))"),
    # the sweep specs (YAML blocks written to their files before the sweep lines run)
    ("  n_train: [256, 512]", "  n_train: [256]"),
    ("  finetune_steps: [50, 100]", "  finetune_steps: [50]"),
    (
        "seeds: 3                          # or a list",
        "seeds: 1                          # or a list",
    ),
    ("set: {n_inits: 2000, jacobian: false}", "set: {n_inits: 200, jacobian: false}"),
    (
        "  scheme: [he_normal, lecun_normal, trunc_normal_naive]\nseeds: 3",
        "  scheme: [he_normal]\nseeds: 1",
    ),
    ("--jobs 4", "--jobs 1"),
    ("--jobs 2", "--jobs 1"),
]


@dataclass
class Block:
    lang: str
    line: int  # 1-based line of the opening fence
    text: str
    skip: str | None  # the no-test reason, if marked

    @property
    def id(self) -> str:
        return f"L{self.line}-{self.lang}"


def blocks(text: str) -> list[Block]:
    out, lines = [], text.splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^(\s*)```(\w+)\s*$", lines[i])
        if not m:
            i += 1
            continue
        indent, lang, start = len(m.group(1)), m.group(2), i
        body = []
        i += 1
        while i < len(lines) and not re.match(r"^\s*```\s*$", lines[i]):
            body.append(lines[i][indent:])
            i += 1
        prev = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        mark = re.match(r"^\s*<!--\s*no-test:\s*(\w+)", prev)
        out.append(Block(lang, start + 1, "\n".join(body) + "\n", mark.group(1) if mark else None))
        i += 1
    return out


def shrink(text: str) -> str:
    for old, new in SHRINK:
        text = text.replace(old, new)
    return text


ALL = blocks(README.read_text(encoding="utf-8"))
RUNNABLE = [b for b in ALL if b.lang in ("python", "bash")]


def test_readme_has_blocks_and_every_shrink_matches():
    assert len([b for b in RUNNABLE if b.lang == "python"]) >= 10
    assert len([b for b in RUNNABLE if b.lang == "bash"]) >= 10
    text = README.read_text(encoding="utf-8")
    missing = [old for old, _ in SHRINK if old not in text]
    assert not missing, f"SHRINK entries no longer in README.md: {missing}"


def test_no_test_markers_are_only_the_allowed_ones():
    skipped = [b for b in ALL if b.skip]
    for b in skipped:
        assert b.skip in ALLOWED_REASONS, f"{b.id}: no-test reason {b.skip!r} is not allowed"
        assert any(b.text.startswith(k) for k in NO_TEST), f"{b.id} is skipped but not listed"
    assert len(skipped) == len(NO_TEST)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), env.get("PYTHONPATH")) if p)
    env.setdefault("OMP_NUM_THREADS", "1")
    env["MPLBACKEND"] = "Agg"
    env["DEPTHLAB_SNIPPET_SMALL"] = "1"
    env["COLUMNS"] = "200"
    return env


# ---------------------------------------------------------------- the runner (a subprocess)

EXECUTE = {"universal-approximation"}  # the quick start's experiment; the rest are validated only


class _Cli:
    """``depthlab ...`` lines through the real Typer app, run_experiment patched as described."""

    def __init__(self) -> None:
        import torch

        import depthlab.runs as runs

        self.runs, self.real, self.done = runs, runs.run_experiment, {}
        self.cuda = torch.cuda.is_available()
        data = Path(os.path.expanduser(os.environ.get("DEPTHLAB_DATA", "~/data")))
        self.cifar = (data / "cifar-10-batches-py").is_dir()
        self.limited = False

    def checked(self, name, overrides=None, *, out_dir, quick=False, scale=None, **kw):
        import shutil

        from depthlab.config import resolve_scale
        from depthlab.core import Result
        from depthlab.experiments import get_experiment
        from depthlab.runs import load_result

        exp = get_experiment(name)
        cfg = exp.Config.build(overrides, scale=resolve_scale(scale, quick=quick))  # as written
        if self.limited or name not in EXECUTE:
            print(f"validated only: {name} {overrides}")
            return Result(name, config=cfg.model_dump(mode="json"))
        if name in self.done:
            if os.path.abspath(out_dir) == self.done[name]:
                return load_result(out_dir)
            shutil.rmtree(out_dir, ignore_errors=True)
            shutil.copytree(self.done[name], out_dir)
            return load_result(out_dir)
        kw.pop("device", None)
        tiny = exp.Config.tiny_overrides()
        res = self.real(name, tiny, out_dir=out_dir, scale="tiny", device="cpu", **kw)
        self.done[name] = os.path.abspath(out_dir)
        return res

    def __call__(self, line: str) -> None:
        from typer.testing import CliRunner

        from depthlab.cli import app

        argv = shlex.split(line)[1:]
        cuda = "--device" in argv and argv[argv.index("--device") + 1] == "cuda"
        self.limited = (cuda and not self.cuda) or (
            any("dataset=cifar10" in a for a in argv) and not self.cifar
        )
        print(f"$ depthlab {' '.join(argv)}", flush=True)
        self.runs.run_experiment = self.checked
        try:
            r = CliRunner().invoke(app, argv)
        finally:
            self.runs.run_experiment = self.real
        print(r.output[-3000:], flush=True)
        if r.exception is not None and not isinstance(r.exception, SystemExit):
            raise r.exception
        if r.exit_code != 0:
            raise AssertionError(f"exit {r.exit_code}: depthlab {' '.join(argv)}")


def _commands(text: str) -> list[str]:
    """Shell lines without comments (whole-line comments and trailing ``  # ...``)."""
    out = []
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            out.append(re.sub(r"\s+#.*$", "", line))
    return out


def _run_bash(text: str, cli: _Cli) -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    env = dict(os.environ)
    for line in _commands(text):
        line = line.replace("~/data", str(Path.cwd() / "data"))
        for part in line.split(" && "):
            words = shlex.split(part)
            if words[0] in ("depthlab", ".venv/bin/depthlab"):
                cli(part)
                continue
            if words[0] == "make":
                assert re.search(rf"^{words[1]}:", makefile, re.M), f"no make target {words[1]}"
                if words[1] == "quick":  # its recipe, through the same CLI (validated)
                    recipe = re.search(r"^quick:.*\n\t(.*)$", makefile, re.M).group(1)
                    cli(recipe.replace("$(VENV)/bin/", ""))
                continue  # demo/test/lint: the suite itself and CI run them
            if words[0] == "python" and words[1].startswith("examples/"):
                assert (ROOT / words[1]).is_file()  # run by tests/test_examples.py
                continue
            while "=" in words[0]:  # PYTHONPATH=src, OMP_NUM_THREADS=1
                words = words[1:]
            if words[0] == "python" and words[1].startswith("benchmarks/"):
                # as written, optional [--flag] taken, optional [--flag VALUE] dropped
                args = [w for w in words[2:] if not w.startswith("[") and not w.endswith("]")]
                args += [w[1:-1] for w in words[2:] if w.startswith("[--") and w.endswith("]")]
                if not args and "bench_train_batched" in words[1]:
                    args = ["--models", "2", "--epochs", "1"]  # its defaults take minutes
                argv = [sys.executable, str(ROOT / words[1]), *args]
            elif words[0] == "python" and words[1] == "-c":
                argv = [sys.executable, *words[1:]]
            elif words[0] in ("mkdir", "tar", "export"):
                continue  # the CIFAR-10 archive: not in CI; its depthlab lines are validated
            else:
                raise AssertionError(f"no rule for the shell line {part!r}")
            p = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
            print(p.stdout[-2000:], p.stderr[-2000:])
            assert p.returncode == 0, f"{part}: exit {p.returncode}"


def _runner(spec_path: str, out_path: str) -> None:
    specs = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    cli, results = _Cli(), {}
    import contextlib
    import io

    for spec in specs:
        buf, t0 = io.StringIO(), time.perf_counter()
        try:
            with contextlib.redirect_stdout(buf):
                if spec["lang"] == "python":
                    exec(compile(spec["text"], spec["id"], "exec"), {"__name__": "__readme__"})
                else:
                    _run_bash(spec["text"], cli)
            ok, tb = True, ""
        except BaseException:
            ok, tb = False, traceback.format_exc()
        left = (
            sorted(str(q) for q in Path("runs").rglob("*.partial")) if Path("runs").is_dir() else []
        )
        if ok and left:  # a checkpoint=...partial is removed once the work is complete
            ok, tb = False, f"left behind: {left}"
        results[spec["id"]] = {
            "ok": ok,
            "out": buf.getvalue()[-4000:] + tb[-4000:],
            "seconds": round(time.perf_counter() - t0, 1),
        }
        Path(out_path).write_text(json.dumps(results), encoding="utf-8")


# ---------------------------------------------------------------- the tests

if pytest is not None:

    @pytest.fixture(scope="module")
    def outcomes(tmp_path_factory) -> dict:
        work = tmp_path_factory.mktemp("readme")
        for b in ALL:  # YAML specs named in a leading comment (`# ua-sweep.yaml`)
            m = re.match(r"#\s*([\w.-]+\.yaml)", b.text) if b.lang == "yaml" else None
            if m:
                (work / m.group(1)).write_text(shrink(b.text), encoding="utf-8")
        specs = [asdict(b) | {"id": b.id, "text": shrink(b.text)} for b in RUNNABLE if not b.skip]
        (work / "specs.json").write_text(json.dumps(specs), encoding="utf-8")
        p = subprocess.run(
            [sys.executable, __file__, "specs.json", "results.json"],
            cwd=work,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=900,
        )
        res = work / "results.json"
        got = json.loads(res.read_text(encoding="utf-8")) if res.exists() else {}
        got["_runner"] = {"rc": p.returncode, "out": p.stdout[-3000:] + p.stderr[-3000:]}
        print({k: v.get("seconds") for k, v in got.items()})
        return got

    @pytest.mark.parametrize("block", RUNNABLE, ids=[b.id for b in RUNNABLE])
    def test_readme_block_runs(block: Block, outcomes: dict):
        if block.skip:
            pytest.skip(f"no-test: {block.skip}")
        assert block.id in outcomes, f"{block.id} never ran: {outcomes['_runner']}"
        got = outcomes[block.id]
        assert got["ok"], f"{block.id} ({got['seconds']} s):\n{got['out']}"


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    _runner(sys.argv[1], sys.argv[2])
