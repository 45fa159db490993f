"""Shared pieces of the experiment-registry contract suite (``test_registry_*.py``).

Every experiment and probe run in ``depthlab.experiments.registry(include_probes=True)`` is run
with its tiny config through the public runner and checked against the contract of
``DESIGN.md``: the run finishes ``done``; its claim ids are unique across the registry and follow
:data:`CLAIM_ID`; its tables load back from Parquet equal; its figures exist; the same seed gives
the same ``result.json`` numbers. The registry is split into :data:`SHARDS` test files by position,
so ``pytest -n 2 --dist loadfile`` spreads the runs over the workers; a new experiment joins a
shard by registering, with nothing to add here.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pandas as pd

from depthlab.core import Result
from depthlab.experiments import get_experiment, registry
from depthlab.runs import load_result, read_status, run_experiment

SHARDS = 4

# ``source.short-name[.more]``: the source is a paper key ``author[-author...]-YYYY[a-z]`` (the
# letter tells apart one author group's papers of one year) or a lecture slide ``lecture-sNN``;
# every part is lowercase words joined by "-".
CLAIM_ID = re.compile(
    r"^(?:[a-z]+(?:-[a-z]+)*-\d{4}[a-z]?|lecture-s\d{2})(?:\.[a-z0-9]+(?:-[a-z0-9]+)*)+$"
)

# Ids allowed to break the scheme for one release (none left: every id follows it).
PENDING_RENAMES: frozenset[str] = frozenset()

# Tiny overrides for experiments whose modules another branch owns, applied on top of their
# ``Config.tiny_overrides()``. Move each into its Config's ``_tiny_overrides`` and delete it here.
PENDING_TINY: dict[str, dict[str, Any]] = {}


def shard(index: int) -> list[str]:
    """The registry names this shard runs: every ``SHARDS``-th one, starting at ``index``."""
    return list(registry(include_probes=True))[index::SHARDS]


def tiny_overrides(name: str) -> dict[str, Any]:
    """The tiny config of ``name`` as runner overrides (quick's fields included)."""
    return get_experiment(name).Config.tiny_overrides() | PENDING_TINY.get(name, {})


class TinyRuns:
    """Each experiment's tiny run, made once per test module and kept (twice for the seed check)."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self._runs: dict[tuple[str, int], Result | Exception] = {}

    def get(self, name: str, repeat: int = 0) -> Result:
        """The run's Result; a run that raised raises again, without running a second time."""
        key = (name, repeat)
        if key not in self._runs:
            out = self.base / f"{name}-{repeat}"
            try:
                self._runs[key] = run_experiment(
                    name, tiny_overrides(name), out_dir=out, quick=True, seed=0, device="cpu"
                )
            except Exception as exc:
                self._runs[key] = exc
        got = self._runs[key]
        if isinstance(got, Exception):
            raise got
        return got


def shared_dir(tmp_path_factory: Any) -> Path:
    """A folder every xdist worker of this session sees (the workers' temp roots share a parent)."""
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    path = root / "registry-claim-ids"
    path.mkdir(exist_ok=True)
    return path


def check_done(result: Result) -> None:
    assert result.run_dir is not None
    assert read_status(result.run_dir) == "done"
    assert (Path(result.run_dir) / "result.json").is_file()


def check_claim_ids(result: Result, shared: Path) -> None:
    """Well formed, unique in the run, and unique across the registry.

    Each run writes its ids to ``shared`` before it compares them with the files already there;
    of two experiments that share an id, the one that compares last sees the other's file, so a
    clash is found whichever worker runs which.
    """
    ids = [c.id for c in result.claims]
    bad = [i for i in ids if not CLAIM_ID.fullmatch(i) and i not in PENDING_RENAMES]
    assert not bad, f"claim ids not of the form source.short-name: {bad}"
    assert len(ids) == len(set(ids)), f"claim ids repeat within {result.experiment}: {ids}"
    mine = shared / f"{result.experiment}.json"
    tmp = mine.with_suffix(".tmp")
    tmp.write_text(json.dumps(ids), encoding="utf-8")
    tmp.replace(mine)
    for other in shared.glob("*.json"):
        if other != mine:
            clash = set(ids) & set(json.loads(other.read_text(encoding="utf-8")))
            assert not clash, f"{result.experiment} and {other.stem} share claim ids {clash}"


def check_tables_round_trip(result: Result) -> None:
    loaded = load_result(result.run_dir)
    assert set(loaded.tables) == set(result.tables)
    for key, frame in result.tables.items():
        pd.testing.assert_frame_equal(loaded.tables[key], frame, obj=f"table {key!r}")


def check_figures_exist(result: Result) -> None:
    for key, rel in result.figures.items():
        path = Path(result.run_dir) / rel
        assert path.is_file() and path.stat().st_size > 0, f"figure {key!r}: {rel} missing"


# Metrics that time the run (multiplication's "wall_s") differ from run to run by nature.
WALL_TIME_METRIC = re.compile(r"(?:^|_)(?:wall_s|seconds)$|per_s$")


def result_numbers(result: Result) -> dict[str, Any]:
    """What ``result.json`` says, less meta and wall times: claims and metrics."""
    saved = json.loads((Path(result.run_dir) / "result.json").read_text(encoding="utf-8"))
    claims = [
        {k: c[k] for k in ("id", "predicted", "measured", "verdict")} for c in saved["claims"]
    ]
    metrics = {k: v for k, v in saved["metrics"].items() if not WALL_TIME_METRIC.search(k)}
    return {"claims": claims, "metrics": metrics}
