"""The landscape and signal probes as packages: private modules that import only downward, small
files, and facades whose ``__all__`` is the package's own (derived, never copied)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import depthlab

PACKAGES = {
    "landscape": ("depthlab.probes.landscape", "depthlab.landscape"),
    "signal": ("depthlab.probes.signal", "depthlab.signal"),
}


def _package_dir(pkg: str) -> Path:
    return Path(depthlab.__file__).parent.joinpath(*pkg.split(".")[1:])


def _internal_imports(pkg: str) -> dict[str, set[str]]:
    """``{module: {modules of the same package it imports}}`` read from the source."""
    graph = {}
    for path in sorted(_package_dir(pkg).glob("*.py")):
        name = path.stem
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module.startswith(pkg + "."):
                    deps.add(node.module[len(pkg) + 1 :].split(".")[0])
                elif node.module == pkg:
                    deps.update(a.name for a in node.names)
        graph[name] = deps - {name}
    return graph


@pytest.mark.parametrize("probe", sorted(PACKAGES))
def test_private_modules_import_only_downward(probe):
    pkg, _ = PACKAGES[probe]
    graph = _internal_imports(pkg)
    order, seen = [], set()

    def visit(node: str, stack: tuple[str, ...]) -> None:
        assert node not in stack, f"import cycle in {pkg}: {' -> '.join((*stack, node))}"
        if node in seen:
            return
        for dep in sorted(graph.get(node, ())):
            visit(dep, (*stack, node))
        seen.add(node)
        order.append(node)

    for module in graph:
        visit(module, ())
    assert order[-1] == "__init__" and all(m.startswith("_") for m in graph)


def test_the_hessian_uses_only_what_it_shares_with_the_surfaces():
    graph = _internal_imports("depthlab.probes.landscape")
    assert graph["_hessian"] == {"_shared"}
    assert graph["_shared"] == set()


@pytest.mark.parametrize("probe", sorted(PACKAGES))
def test_no_module_is_over_700_lines(probe):
    pkg, _ = PACKAGES[probe]
    sizes = {p.name: len(p.read_text().splitlines()) for p in _package_dir(pkg).glob("*.py")}
    assert max(sizes.values()) <= 700, sizes


@pytest.mark.parametrize("probe", sorted(PACKAGES))
def test_the_facade_exports_the_packages_all(probe):
    pkg, facade = PACKAGES[probe]
    impl, face = importlib.import_module(pkg), importlib.import_module(facade)
    assert face.__all__ == impl.__all__ and len(face.__all__) == len(set(face.__all__))
    # every private module's __all__ reaches the facade; the Hessian's stays in its namespace
    names = [m for m in _internal_imports(pkg) if m not in ("__init__", "_hessian")]
    parts = [importlib.import_module(f"{pkg}.{m}") for m in names]
    declared = {n for m in parts for n in getattr(m, "__all__", ())}
    assert set(face.__all__) - {"hessian"} == declared
    for name in face.__all__:
        assert not name.startswith("_")
        assert getattr(face, name) is getattr(impl, name)


def test_the_public_names_are_the_ones_users_know():
    from depthlab import landscape, signal

    assert {"surface", "Surface", "Grid", "random_direction", "hessian", "nonconvexity"} <= set(
        landscape.__all__
    )
    assert {"sharded_surface", "surface_rows", "reference_surface"} <= set(landscape.__all__)
    assert landscape.hessian.eigenvalues.__module__ == "depthlab.probes.landscape._hessian"
    assert {"moments", "mlp_family", "model_moments", "SignalMoments"} <= set(signal.__all__)
