"""Run directories, the runner that ties an experiment to one, and sweeps (above experiments/).

The atomic writers live in the bottom layer, :mod:`depthlab.atomic`; they are re-exported here too.
"""

from depthlab.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text
from depthlab.runs.runner import run_experiment
from depthlab.runs.store import (
    begin_run,
    environment_meta,
    load_result,
    read_status,
    save_failure,
    save_result,
    write_status,
)

__all__ = [
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "begin_run",
    "environment_meta",
    "load_result",
    "read_status",
    "run_experiment",
    "save_failure",
    "save_result",
    "write_status",
]
