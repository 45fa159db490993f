"""Executors: run many independent tasks on local processes, in-process, or on a Ray cluster.

Sweeps (:mod:`depthlab.runs.sweep`) and sharded computations (:mod:`depthlab.parallel.shard`) both go
through one small interface: :meth:`Executor.run` takes ``(key, fn, args)`` tasks and yields
:class:`Event` objects as tasks start and finish, so a caller can draw progress (done, running,
failed) without knowing the backend. ``fn`` must be a module-level function (it is pickled by
reference for worker processes and Ray).

Backends
--------
``serial``
    In this process, one task at a time. For debugging and tiny jobs.
``local``
    A pool of ``jobs`` worker processes (``fork`` on Linux, so workers start without re-importing
    torch). A worker killed by a signal breaks the pool; the executor rebuilds it and retries the
    tasks that were in flight, up to ``retries`` times each. Workers die with the driver (Linux
    ``PR_SET_PDEATHSIG``), so a killed driver leaves no orphan writing into run directories.
``ray``
    One Ray task per item with ``num_cpus`` / ``num_gpus`` requests; ``address`` joins an existing
    cluster (``ray start --head`` / ``"auto"``), otherwise a local instance is started. Needs the
    optional extra ``depthlab[ray]``.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, Literal

BACKENDS = ("local", "serial", "ray")

Task = tuple[str, Callable[..., Any], tuple[Any, ...]]


@dataclass(frozen=True)
class Event:
    """One thing that happened to a task: it started, finished with a value, or raised."""

    kind: Literal["start", "result", "error"]
    key: str
    value: Any = None


@dataclass
class Resources:
    """What one task asks of the cluster (Ray) or how many threads it gets (local)."""

    num_cpus: float = 1.0
    num_gpus: float = 0.0


class Executor:
    """Base class: subclasses implement :meth:`run`."""

    name = "base"

    def run(self, tasks: Sequence[Task]) -> Iterator[Event]:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:
        """Release workers; safe to call twice."""


class SerialExecutor(Executor):
    """Run tasks one after another in this process."""

    name = "serial"

    def run(self, tasks: Sequence[Task]) -> Iterator[Event]:
        for key, fn, args in tasks:
            yield Event("start", key)
            try:
                value = fn(*args)
            except Exception as exc:
                yield Event("error", key, exc)
            else:
                yield Event("result", key, value)


def _worker_init(threads: int) -> None:
    """In each worker: die with the driver, and use a fair share of the cores."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the driver's handler, inherited by fork
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
            if os.getppid() == 1:  # the driver died before prctl took effect
                os._exit(1)
        except OSError:
            pass
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:  # pragma: no cover - torch is a dependency
        pass


def _noop() -> int:
    return os.getpid()


class LocalExecutor(Executor):
    """A process pool of ``jobs`` workers that survives a worker being killed."""

    name = "local"

    def __init__(self, jobs: int = 1, retries: int = 1, start_method: str | None = None) -> None:
        if jobs < 1:
            raise ValueError(f"jobs must be >= 1, got {jobs}")
        self.jobs = jobs
        self.retries = retries
        if start_method is None:
            start_method = "fork" if sys.platform.startswith("linux") else "spawn"
        self._ctx = mp.get_context(start_method)
        self._pool: ProcessPoolExecutor | None = None

    def _new_pool(self) -> ProcessPoolExecutor:
        threads = max(1, (os.cpu_count() or 1) // self.jobs)
        pool = ProcessPoolExecutor(
            max_workers=self.jobs,
            mp_context=self._ctx,
            initializer=_worker_init,
            initargs=(threads,),
        )
        pool.submit(_noop).result()  # start the workers now, before any progress thread draws
        return pool

    def start(self) -> None:
        """Start the worker processes (done lazily by :meth:`run` otherwise)."""
        if self._pool is None:
            self._pool = self._new_pool()

    def run(self, tasks: Sequence[Task]) -> Iterator[Event]:
        self.start()
        queue = list(tasks)[::-1]
        attempts: dict[str, int] = {}
        in_flight: dict[Future, Task] = {}
        while queue or in_flight:
            while queue and len(in_flight) < self.jobs:
                task = queue.pop()
                key, fn, args = task
                if key not in attempts:
                    yield Event("start", key)
                attempts[key] = attempts.get(key, 0) + 1
                assert self._pool is not None
                in_flight[self._pool.submit(fn, *args)] = task
            finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            broken = False
            for fut in finished:
                task = in_flight.pop(fut)
                key = task[0]
                try:
                    value = fut.result()
                except BrokenProcessPool as exc:
                    broken = True
                    if attempts[key] > self.retries:
                        yield Event("error", key, RuntimeError(f"worker process died: {exc}"))
                    else:
                        queue.append(task)
                except Exception as exc:
                    yield Event("error", key, exc)
                else:
                    yield Event("result", key, value)
            if broken:
                # Every future of a broken pool fails; collect them, then start a fresh pool.
                for fut, task in list(in_flight.items()):
                    in_flight.pop(fut)
                    if attempts[task[0]] > self.retries:
                        yield Event("error", task[0], RuntimeError("worker process died"))
                    else:
                        queue.append(task)
                self._shutdown()
                self._pool = self._new_pool()

    def _shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def import_ray():
    """Import ray, or explain how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise RuntimeError(
            "the Ray backend needs the optional extra: pip install 'depthlab[ray]'"
        ) from exc
    return ray


@dataclass
class RayExecutor(Executor):
    """One Ray task per item, each asking for ``resources``.

    Parameters
    ----------
    address : an existing cluster (``"auto"`` or ``"ray://host:10001"``); None starts a local one.
    resources : per-task ``num_cpus`` / ``num_gpus``.
    max_in_flight : tasks submitted at once (None: as many as the cluster's CPUs allow), so the
        "running" count of the progress bar is honest.
    init_kwargs : extra keyword arguments for ``ray.init`` when this executor starts Ray.
    """

    address: str | None = None
    resources: Resources = field(default_factory=Resources)
    max_in_flight: int | None = None
    retries: int = 1
    init_kwargs: dict[str, Any] = field(default_factory=dict)
    name: str = "ray"
    _started: bool = False

    def start(self):
        ray = import_ray()
        if not ray.is_initialized():
            kw = {"include_dashboard": False, "log_to_driver": False, **self.init_kwargs}
            # A local Ray's workers inherit this environment; a remote cluster needs the plugins named.
            if self.address and "DEPTHLAB_PLUGINS" in os.environ and "runtime_env" not in kw:
                kw["runtime_env"] = {
                    "env_vars": {"DEPTHLAB_PLUGINS": os.environ["DEPTHLAB_PLUGINS"]}
                }
            ray.init(address=self.address, **kw)
            self._started = True
        return ray

    def _capacity(self, ray) -> int:
        if self.max_in_flight:
            return self.max_in_flight
        total = ray.cluster_resources()
        by_cpu = total.get("CPU", 1) / max(self.resources.num_cpus, 1e-9)
        by_gpu = (
            total.get("GPU", 0) / self.resources.num_gpus if self.resources.num_gpus else by_cpu
        )
        return max(1, int(min(by_cpu, by_gpu)))

    def run(self, tasks: Sequence[Task]) -> Iterator[Event]:
        ray = self.start()
        remote = ray.remote(_call).options(
            num_cpus=self.resources.num_cpus,
            num_gpus=self.resources.num_gpus,
            max_retries=self.retries,
        )
        cap = self._capacity(ray)
        queue = list(tasks)[::-1]
        in_flight: dict[Any, str] = {}
        while queue or in_flight:
            while queue and len(in_flight) < cap:
                key, fn, args = queue.pop()
                yield Event("start", key)
                in_flight[remote.remote(fn, *args)] = key
            ready, _ = ray.wait(list(in_flight), num_returns=1)
            for ref in ready:
                key = in_flight.pop(ref)
                try:
                    value = ray.get(ref)
                except Exception as exc:  # a task error or a lost worker
                    yield Event("error", key, exc)
                else:
                    yield Event("result", key, value)

    def close(self) -> None:
        if self._started:
            import ray

            ray.shutdown()
            self._started = False


def _call(fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


def make_executor(
    backend: str = "local",
    *,
    jobs: int = 1,
    address: str | None = None,
    resources: Resources | None = None,
) -> Executor:
    """Build an executor by name (``local``, ``serial`` or ``ray``)."""
    if backend == "local":
        return LocalExecutor(jobs=jobs)
    if backend == "serial":
        return SerialExecutor()
    if backend == "ray":
        return RayExecutor(
            address=address,
            resources=resources or Resources(),
            max_in_flight=jobs if jobs > 1 else None,
        )
    raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
