"""The import graph of ``src/depthlab``: imports that run up the layers, and cycles.

Run ``python -m depthlab._devtools.imports [SRC_DIR]``. It reads every ``.py`` file under the
package with :mod:`ast` (nothing is imported or executed), collects every ``import`` and
``from ... import`` of a depthlab module, at module level and inside functions alike (a lazy
import is still a dependency; only ``if TYPE_CHECKING:`` blocks are skipped), and prints

* **upward imports**: a module importing one in a higher layer of :data:`LAYERS`;
* **cycles between modules** (strongly connected components of the module graph); and
* **cycles between packages** (the same, with every module folded into its top-level unit,
  ``depthlab.probes.regions._two_d`` -> ``probes``).

It exits 1 when it finds any that :data:`KNOWN_EXCEPTIONS` does not list, else 0. An exception
that no longer occurs is reported as stale (remove it), without failing.

The layers, bottom to top (DESIGN.md Layout; the table in CONTRIBUTING.md): a module may import
its own layer and any below.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

ROOT = "depthlab"

# (layer name, top-level units in it), bottom first. A unit is the first name under depthlab:
# a module (depthlab/atomic.py -> "atomic") or a package (depthlab/probes/ -> "probes").
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "bottom",
        (
            "_devtools",
            "_display",  # the notebook display mixin of results (pandas + html only)
            "_guard",  # the probe guard (torch + numerics only); engines and probes use it
            "_version",
            "atomic",
            "checkpoint",
            "config",
            "context",
            "core",
            "evidence",
            "numerics",
            "parallel",
            "progress",
            "testing",
            "validate",  # safe YAML and path checks (config uses it)
        ),
    ),
    ("models", ("data", "init", "nets", "walk")),
    ("theory", ("theory",)),  # closed forms only, no training
    # engines: exact piecewise-linear tracing, training loops, fitted approximants
    ("engines", ("approx", "batched", "mimic", "pl", "train", "train_batched", "widthsearch")),
    # probes/ and their public faces depthlab/regions.py, signal.py, landscape.py, trajectory.py
    ("probes", ("landscape", "probes", "regions", "signal", "trajectory")),
    # Figures from tables and results; experiments draw theirs with it, so it sits below them.
    ("plots", ("plots",)),
    ("experiments", ("experiments",)),
    ("runs", ("runs",)),
    ("report", ("report",)),
    ("public API", ("",)),  # depthlab/__init__.py: re-exports only
    ("cli", ("__main__", "cli")),
)

# Imports that break the rules today, each with the reason and when it goes: (importer, imported)
# as dotted module names, exactly as this checker prints them.
KNOWN_EXCEPTIONS: dict[tuple[str, str], str] = {
    # Result._repr_html_ renders itself in Jupyter with the report's HTML view; the import is lazy
    # (inside the method), so the core stays importable without jinja2. The one upward import the
    # design allows.
    ("depthlab.core", "depthlab.report.notebook"): "lazy _repr_html_ (allowed)",
}


def layer_index() -> dict[str, int]:
    """Unit name -> its layer's rank (0 = bottom)."""
    return {unit: rank for rank, (_, units) in enumerate(LAYERS) for unit in units}


def unit_of(module: str) -> str:
    """``depthlab.probes.regions._two_d`` -> ``probes``; the package root -> ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


@dataclass(frozen=True)
class Edge:
    """``importer`` imports ``imported`` at ``path:line``."""

    importer: str
    imported: str
    path: str
    line: int
    lazy: bool

    @property
    def key(self) -> tuple[str, str]:
        return (self.importer, self.imported)


def module_names(src: Path) -> dict[str, Path]:
    """Every module of the package under ``src`` (the folder that holds ``depthlab/``)."""
    out = {}
    for path in sorted((src / ROOT).rglob("*.py")):
        rel = path.relative_to(src).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterable[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import node with whether it sits inside a function; skips ``if TYPE_CHECKING:``."""

    def walk(node: ast.AST, lazy: bool) -> Iterable[tuple[ast.Import | ast.ImportFrom, bool]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                yield child, lazy
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                yield from (item for stmt in child.orelse for item in walk_one(stmt, lazy))
            else:
                inner = lazy or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
                yield from walk(child, inner)

    def walk_one(stmt: ast.AST, lazy: bool) -> Iterable[tuple[ast.Import | ast.ImportFrom, bool]]:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            yield stmt, lazy
        else:
            yield from walk(stmt, lazy)

    yield from walk(tree, False)


def _resolve(
    node: ast.Import | ast.ImportFrom, importer: str, is_package: bool, known: set[str]
) -> list[str]:
    """The depthlab modules an import node loads (a name that is a submodule counts as one)."""
    if isinstance(node, ast.Import):
        targets = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = importer.split(".") if is_package else importer.split(".")[:-1]
            package = package[: len(package) - (node.level - 1)]
            base = ".".join([*package, base] if base else package)
        targets = []
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            targets.append(sub if sub in known else base)
    out = []
    for target in targets:
        if target != ROOT and not target.startswith(ROOT + "."):
            continue
        # ``import depthlab.a.b`` of a module that is not there: keep its deepest known parent
        while target not in known and "." in target:
            target = target.rsplit(".", 1)[0]
        if target in known:
            out.append(target)
    return out


def collect(src: Path) -> list[Edge]:
    """Every import of one depthlab module by another under ``src``."""
    modules = module_names(src)
    known = set(modules)
    edges = []
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        rel = str(path.relative_to(src))
        for node, lazy in _imports(tree):
            for target in _resolve(node, name, is_package, known):
                if target != name:
                    edges.append(Edge(name, target, rel, node.lineno, lazy))
    return edges


def upward(edges: Iterable[Edge]) -> list[Edge]:
    """Edges whose target sits in a higher layer than their source."""
    rank = layer_index()
    missing = sorted({unit_of(m) for e in edges for m in (e.importer, e.imported)} - set(rank))
    if missing:
        raise ValueError(f"units in no layer of LAYERS (add them): {', '.join(missing)}")
    return [e for e in edges if rank[unit_of(e.imported)] > rank[unit_of(e.importer)]]


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan, iterative), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


def _graph(pairs: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for a, b in pairs:
        if a != b:
            graph.setdefault(a, set()).add(b)
            graph.setdefault(b, set())
    return graph


@dataclass
class Report:
    """What :func:`check` found; ``ok`` when nothing beyond the known exceptions."""

    upward: list[Edge]
    module_cycles: list[list[str]]
    package_cycles: list[list[str]]
    excused: list[Edge]
    stale: list[tuple[str, str]]

    @property
    def ok(self) -> bool:
        return not (self.upward or self.module_cycles or self.package_cycles)

    def lines(self) -> list[str]:
        out = []
        for e in self.upward:
            how = "lazy " if e.lazy else ""
            out.append(f"upward: {e.importer} -> {e.imported} ({how}{e.path}:{e.line})")
        for c in self.module_cycles:
            out.append(f"module cycle: {' <-> '.join(c)}")
        for c in self.package_cycles:
            out.append(f"package cycle: {' <-> '.join(c)}")
        for e in self.excused:
            why = KNOWN_EXCEPTIONS[e.key]
            out.append(f"known exception: {e.importer} -> {e.imported} ({e.path}:{e.line}): {why}")
        for a, b in self.stale:
            out.append(f"stale exception (no longer imported; remove it): {a} -> {b}")
        return out


def check(src: Path, exceptions: dict[tuple[str, str], str] | None = None) -> Report:
    """Collect the graph under ``src`` and judge it against ``exceptions`` (default: the known)."""
    exceptions = KNOWN_EXCEPTIONS if exceptions is None else exceptions
    edges = collect(src)
    excused = [e for e in edges if e.key in exceptions]
    kept = [e for e in edges if e.key not in exceptions]
    present = {e.key for e in edges}
    stale = sorted(k for k in exceptions if k not in present)
    mod_graph = _graph(e.key for e in kept)
    pkg_graph = _graph((unit_of(e.importer), unit_of(e.imported)) for e in kept)
    return Report(
        upward=sorted(upward(kept), key=lambda e: (e.importer, e.imported, e.line)),
        module_cycles=cycles(mod_graph),
        package_cycles=[[u or ROOT for u in c] for c in cycles(pkg_graph)],
        excused=sorted(excused, key=lambda e: (e.importer, e.imported, e.line)),
        stale=stale,
    )


def default_src() -> Path:
    """The folder that holds this installed or checked-out ``depthlab`` package."""
    return Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m depthlab._devtools.imports",
        description="Print imports that run up depthlab's layers and import cycles.",
    )
    parser.add_argument("src", nargs="?", type=Path, help="folder holding depthlab/ (default: src)")
    args = parser.parse_args(argv)
    src = args.src or default_src()
    report = check(src)
    for line in report.lines():
        print(line)
    n_edges = len(collect(src))
    verdict = "ok" if report.ok else "FAIL"
    print(
        f"{verdict}: {n_edges} imports between depthlab modules; {len(report.upward)} upward, "
        f"{len(report.module_cycles)} module cycles, {len(report.package_cycles)} package cycles "
        f"beyond {len(report.excused)} known exceptions"
    )
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
