"""The house's structure: imports point down the layers, no cycles, files hold one idea, one public face.

The import graph is checked by the same code anyone runs with
``python -m depthlab._devtools.imports``; the checker itself is tested on small made-up trees
that must fail.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import depthlab
from depthlab._devtools import imports as graph

SRC = Path(depthlab.__file__).resolve().parents[1]
PACKAGE = SRC / "depthlab"

MAX_LINES = 700
MAX_EXPERIMENT_LINES = 500

# Files allowed over the limits, each with the reason and when it goes (empty since the issue-12
# splits landed: curvature, multiplication, regions_hanin_rolnick and mimic experiments; the
# regions, landscape and signal probes; pl). Add an entry only with a "remove when split" note.
BIG_FILES: dict[str, str] = {}
BIG_EXPERIMENTS: dict[str, str] = {}


# ----------------------------------------------------------------------------------------------
# the import graph of the real package


def test_imports_point_down_and_form_no_cycle():
    report = graph.check(SRC)
    assert report.ok, "\n".join(report.lines())


def test_the_one_upward_import_is_the_lazy_repr_html():
    report = graph.check(SRC)
    assert [e.key for e in report.excused] == [("depthlab.core", "depthlab.report.notebook")]
    assert all(e.lazy for e in report.excused)


def test_every_unit_of_the_package_has_a_layer():
    units = {graph.unit_of(m) for m in graph.module_names(SRC)}
    assert units <= set(graph.layer_index()), units - set(graph.layer_index())


def test_the_checker_command_anyone_runs_exits_zero():
    out = subprocess.run(
        [sys.executable, "-m", "depthlab._devtools.imports"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip().splitlines()[-1].startswith("ok: ")


# ----------------------------------------------------------------------------------------------
# the checker on made-up trees: each must fail (or pass) for the stated reason


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = tmp_path / "depthlab" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    for folder in [tmp_path / "depthlab", *(tmp_path / "depthlab").rglob("*")]:
        if folder.is_dir() and not (folder / "__init__.py").exists():
            (folder / "__init__.py").write_text("", encoding="utf-8")
    return tmp_path


def test_checker_flags_an_upward_import_even_a_lazy_one(tmp_path):
    src = _tree(
        tmp_path,
        {
            "atomic.py": "def f():\n    from depthlab.runs import store\n",
            "runs/store.py": "from depthlab import atomic\n",
        },
    )
    report = graph.check(src, exceptions={})
    assert not report.ok
    assert [(e.importer, e.imported, e.lazy) for e in report.upward] == [
        ("depthlab.atomic", "depthlab.runs.store", True)
    ]
    assert report.module_cycles == [["depthlab.atomic", "depthlab.runs.store"]]
    assert report.package_cycles == [["atomic", "runs"]]


def test_checker_flags_a_cycle_inside_one_layer(tmp_path):
    src = _tree(
        tmp_path,
        {
            "data/cifar.py": "def root():\n    from depthlab.data.real import cache_dir\n",
            "data/real.py": "from .cifar import root\n",  # relative imports resolve too
        },
    )
    report = graph.check(src, exceptions={})
    assert report.upward == []
    assert report.module_cycles == [["depthlab.data.cifar", "depthlab.data.real"]]
    assert report.package_cycles == []  # one package: a module cycle, not a package one


def test_checker_flags_a_cycle_between_packages_of_one_layer(tmp_path):
    src = _tree(
        tmp_path,
        {
            "nets/a.py": "from depthlab.init import b\n",
            "init.py": "import depthlab.data.c\n",
            "data/c.py": "from depthlab.nets import a\n",
        },
    )
    report = graph.check(src, exceptions={})
    assert report.package_cycles == [["data", "init", "nets"]]


def test_checker_skips_type_checking_and_counts_submodules_of_from_imports(tmp_path):
    src = _tree(
        tmp_path,
        {
            "core.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n"
                "    from depthlab.runs import runner\n"
                "from depthlab import atomic\n"
            ),
            "atomic.py": "",
            "runs/runner.py": "",
        },
    )
    edges = {e.key for e in graph.collect(src)}
    assert edges == {("depthlab.core", "depthlab.atomic")}
    assert graph.check(src, exceptions={}).ok


def test_known_exceptions_excuse_their_edge_and_stale_ones_are_named(tmp_path):
    src = _tree(
        tmp_path,
        {"core.py": "def html():\n    from depthlab.report import nb\n", "report/nb.py": ""},
    )
    known = {
        ("depthlab.core", "depthlab.report.nb"): "lazy",
        ("depthlab.core", "depthlab.gone"): "was fixed",
    }
    report = graph.check(src, exceptions=known)
    assert report.ok
    assert [e.key for e in report.excused] == [("depthlab.core", "depthlab.report.nb")]
    assert report.stale == [("depthlab.core", "depthlab.gone")]
    assert not graph.check(src, exceptions={}).ok


def test_checker_refuses_a_unit_in_no_layer(tmp_path):
    src = _tree(tmp_path, {"newthing.py": "from depthlab import core\n", "core.py": ""})
    with pytest.raises(ValueError, match="newthing"):
        graph.check(src, exceptions={})


def test_checker_main_exits_one_on_a_bad_tree(tmp_path, capsys):
    src = _tree(tmp_path, {"core.py": "import depthlab.cli.app\n", "cli/app.py": ""})
    assert graph.main([str(src)]) == 1
    out = capsys.readouterr().out
    assert "upward: depthlab.core -> depthlab.cli.app (depthlab/core.py:1)" in out
    assert out.strip().splitlines()[-1].startswith("FAIL: ")


# ----------------------------------------------------------------------------------------------
# files that hold one idea


def _lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def test_no_source_file_over_700_lines_beyond_the_allow_list():
    big = {
        str(p.relative_to(PACKAGE)): _lines(p)
        for p in PACKAGE.rglob("*.py")
        if _lines(p) > MAX_LINES
    }
    assert set(big) <= set(BIG_FILES), {k: v for k, v in big.items() if k not in BIG_FILES}


def test_no_experiment_module_over_500_lines_beyond_the_allow_list():
    big = {
        f"experiments/{p.name}": _lines(p)
        for p in (PACKAGE / "experiments").glob("*.py")
        if _lines(p) > MAX_EXPERIMENT_LINES
    }
    assert set(big) <= set(BIG_EXPERIMENTS), {
        k: v for k, v in big.items() if k not in BIG_EXPERIMENTS
    }


def test_the_size_rule_fails_on_a_big_file(tmp_path):
    """The size check is not vacuous: a 701-line module is over the limit."""
    path = tmp_path / "big.py"
    path.write_text("x = 1\n" * (MAX_LINES + 1), encoding="utf-8")
    assert _lines(path) > MAX_LINES


# ----------------------------------------------------------------------------------------------
# one public face


def test_public_init_has_one_all_and_only_reexports():
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    assigns = [
        n
        for n in ast.walk(tree)
        if isinstance(n, (ast.Assign, ast.AugAssign, ast.AnnAssign))
        and any(
            isinstance(t, ast.Name) and t.id == "__all__"
            for t in (n.targets if isinstance(n, ast.Assign) else [n.target])
        )
    ]
    assert len(assigns) == 1 and isinstance(assigns[0], ast.Assign)
    defs = [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    assert set(defs) <= {"__getattr__", "__dir__"}


def test_every_public_name_resolves_and_internals_are_not_public():
    assert len(depthlab.__all__) == len(set(depthlab.__all__))
    for name in depthlab.__all__:
        assert getattr(depthlab, name) is not None
    internals = {"pl", "resolve_device", "get_experiment", "registry", "verdict_from"}
    assert not internals & set(depthlab.__all__)
    assert {"regions", "signal", "landscape", "trajectory", "diagnose"} <= set(depthlab.__all__)
    assert {"ExperimentConfig", "RunContext", "register", "Claim", "Result"} <= set(
        depthlab.__all__
    )


@pytest.mark.parametrize(
    ("name", "module"),
    [
        ("get_experiment", "depthlab.experiments"),
        ("registry", "depthlab.experiments"),
        ("resolve_device", "depthlab.context"),
        ("verdict_from", "depthlab.core"),
    ],
)
def test_old_top_level_names_warn_and_still_resolve(name, module):
    with pytest.warns(DeprecationWarning, match=f"{module}.{name}"):
        got = getattr(depthlab, name)
    assert got is getattr(importlib.import_module(module), name)


def test_unknown_top_level_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_name"):
        depthlab.no_such_name  # noqa: B018


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("depthlab.runs.atomic", "depthlab.atomic"),
        ("depthlab.runs.executors", "depthlab.parallel.executors"),
        ("depthlab.runs.shard", "depthlab.parallel.shard"),
    ],
)
def test_old_runs_paths_are_deprecated_aliases_of_the_bottom_layer(old, new, monkeypatch):
    import depthlab.runs

    monkeypatch.delitem(sys.modules, old, raising=False)
    monkeypatch.delattr(depthlab.runs, old.rsplit(".", 1)[1], raising=False)
    with pytest.warns(DeprecationWarning, match=new.replace(".", r"\.")):
        got = importlib.import_module(old)
    assert got is importlib.import_module(new)


def test_the_library_code_imports_no_deprecated_path():
    """src/ itself uses the new paths: only the aliases' own files name the old modules."""
    old = {"depthlab.runs.atomic", "depthlab.runs.executors", "depthlab.runs.shard"}
    users = sorted(
        f"{e.path}:{e.line}"
        for e in graph.collect(SRC)
        if e.imported in old and e.importer not in old
    )
    assert users == []


def test_the_version_comes_from_package_metadata(monkeypatch):
    from importlib.metadata import PackageNotFoundError, version

    from depthlab import _version
    from depthlab.runs.store import environment_meta

    assert depthlab.__version__ == version("depthlab")
    assert environment_meta()["depthlab"] == depthlab.__version__

    def missing(name):
        raise PackageNotFoundError(name)

    monkeypatch.setattr(_version, "version", missing)
    assert _version._read() == "0+unknown"
