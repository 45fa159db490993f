"""Parallel plumbing (bottom layer): executors for independent tasks and row sharding.

:mod:`~depthlab.parallel.executors` runs ``(key, fn, args)`` tasks serially, on local processes or
on Ray; :mod:`~depthlab.parallel.shard` cuts one big computation into row ranges, runs them through
an executor and reassembles the result. Nothing here imports the rest of depthlab except
:mod:`depthlab.atomic`.
"""

from depthlab.parallel.executors import (
    BACKENDS,
    Event,
    Executor,
    LocalExecutor,
    RayExecutor,
    Resources,
    SerialExecutor,
    make_executor,
)
from depthlab.parallel.shard import reassemble, run_sharded, split_rows

__all__ = [
    "BACKENDS",
    "Event",
    "Executor",
    "LocalExecutor",
    "RayExecutor",
    "Resources",
    "SerialExecutor",
    "make_executor",
    "reassemble",
    "run_sharded",
    "split_rows",
]
