"""Shared helpers for tests that use the toy experiment in this process or in subprocesses."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HELPERS = Path(__file__).resolve().parent
SRC = HELPERS.parents[1] / "src"


@contextmanager
def toy_registered() -> Iterator[None]:
    """Register the toy experiment in this process, and unregister it afterwards.

    So other tests in the same worker never see a test-only experiment in ``registry()``.
    """
    if str(HELPERS) not in sys.path:
        sys.path.insert(0, str(HELPERS))
    import toy_experiment

    from depthlab.experiments.base import _REGISTRY, register

    register(toy_experiment.ToyExperiment)
    try:
        yield
    finally:
        _REGISTRY.pop("toy", None)


def subprocess_env() -> dict[str, str]:
    """Environment for a child ``python -m depthlab`` that sees this checkout and the toy plugin."""
    env = dict(os.environ)
    parts = [str(SRC), str(HELPERS), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in parts if p)
    env["DEPTHLAB_PLUGINS"] = "toy_experiment"
    env["OMP_NUM_THREADS"] = "1"
    return env
