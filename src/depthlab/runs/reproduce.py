"""What ``depthlab reproduce --scale ...`` needs beyond running each experiment.

At ``--scale paper`` an experiment whose config reads CIFAR-10 (``dataset: cifar10``) runs only
when the batch files are on disk (see :mod:`depthlab.data.cifar`; the run never downloads them
and never substitutes another dataset). Otherwise the experiment is *skipped*: its run directory
is marked ``failed`` with a :class:`DataMissing` error whose one line says what was skipped and
why (so the report shows it beside the verdicts), and ``failure.json``'s meta carries
``skipped`` (the reason), the scale and the config.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from depthlab.config import SCALES, ExperimentConfig, scale_configs


class DataMissing(RuntimeError):
    """An experiment was skipped because the data its config reads is not on disk."""


def cifar_missing(config: ExperimentConfig) -> str | None:
    """Why ``config`` cannot run here, or None: it reads CIFAR-10 and the files are not on disk."""
    if getattr(config, "dataset", None) != "cifar10":
        return None
    from depthlab.data.cifar import FOLDER, _batches_dir, cifar_root

    root = cifar_root(getattr(config, "data_dir", None))
    if _batches_dir(root) is not None:
        return None
    return (
        f"CIFAR-10 is not on disk in {root / FOLDER} (data_batch_1..5, test_batch); put it "
        "there or point DEPTHLAB_DATA at the folder holding cifar-10-batches-py"
    )


def skip_reason(name: str, overrides: dict[str, Any] | None, scale: str) -> str | None:
    """The one-line reason ``name`` is skipped at ``scale``, or None when it can run (a bad
    config is None too: the run itself reports it, as at any other scale)."""
    from depthlab.config import ConfigError
    from depthlab.experiments import get_experiment

    try:
        config = get_experiment(name).Config.build(overrides, scale=scale)
    except (ConfigError, KeyError):
        return None
    why = cifar_missing(config)
    if why is None:
        return None
    return f"{name} skipped at --scale {scale}: {why}; none of its claims was decided"


def record_skip(
    out_dir: str | Path, name: str, overrides: dict[str, Any] | None, scale: str, reason: str
) -> Path:
    """Write ``out_dir`` as a run directory that says ``reason`` (status ``failed``)."""
    from depthlab.experiments import get_experiment
    from depthlab.runs.runner import report_meta
    from depthlab.runs.store import begin_run, environment_meta, save_failure

    exp = get_experiment(name)
    config = exp.Config.build(overrides, scale=scale).model_dump(mode="json")
    run_dir = begin_run(out_dir, exp.name, config)
    meta = environment_meta() | report_meta(exp)
    meta |= {"scale": scale, "quick": scale in ("quick", "tiny"), "skipped": reason}
    save_failure(run_dir, DataMissing(reason), meta)
    return run_dir


def paper_sizes_markdown(names: list[str] | None = None) -> str:
    """A Markdown table: per experiment, the fields that the paper scale sets, default → paper.

    Generated from the configs (``python -m depthlab.runs.reproduce`` prints it), so the README's
    table is what ``--scale paper`` runs.
    """
    from depthlab.experiments import registry

    rows = ["| experiment | default → paper |", "|---|---|"]
    for name, exp in registry().items():
        if names is not None and name not in names:
            continue
        per = scale_configs(exp.Config)
        changed = [
            f"{k}: {_fmt(per['default'][k])} → {_fmt(v)}"
            for k, v in per["paper"].items()
            if v != per["default"][k]
        ]
        rows.append(f"| `{name}` | {'; '.join(changed) or '(same as default)'} |")
    return "\n".join(rows)


def _fmt(v: Any) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v).replace("|", "\\|")


TABLE_BEGIN = "<!-- paper-sizes:begin (python -m depthlab.runs.reproduce --write README.md) -->"
TABLE_END = "<!-- paper-sizes:end -->"


def with_paper_table(text: str) -> str:
    """``text`` (the README) with the lines between the table markers replaced by the table."""
    head, sep, rest = text.partition(TABLE_BEGIN)
    _, sep2, tail = rest.partition(TABLE_END)
    if not sep or not sep2:
        raise ValueError(f"the paper-sizes markers are missing: {TABLE_BEGIN} ... {TABLE_END}")
    return f"{head}{TABLE_BEGIN}\n{paper_sizes_markdown()}\n{TABLE_END}{tail}"


__all__ = [
    "SCALES",
    "DataMissing",
    "cifar_missing",
    "paper_sizes_markdown",
    "record_skip",
    "with_paper_table",
]


if __name__ == "__main__":  # pragma: no cover - the README's table generator
    import sys

    if sys.argv[1:2] == ["--write"] and len(sys.argv) == 3:
        readme = Path(sys.argv[2])
        readme.write_text(with_paper_table(readme.read_text(encoding="utf-8")), encoding="utf-8")
    else:
        print(paper_sizes_markdown())


# Seconds of CPU each experiment took at default scale (1 thread, 2-core machine, 2026-12), used only
# to start the longest first when experiments run in parallel (longest-processing-time order keeps
# two workers busy until the end). An experiment missing here counts as 30 s.
COST_HINT_S = {
    "resnet-degradation": 170.0,
    "landscape-skip": 380.0,
    "mimic": 85.0,
    "landscape-1d-interpolation": 180.0,
    "compositional": 95.0,
    "multiplication": 75.0,
    "init-trainable-depth": 58.0,
    "init-trainability": 50.0,
    "universal-approximation": 20.0,
    "sawtooth-depth-separation": 14.0,
}


def default_jobs(device: str = "auto", cpu_count: int | None = None) -> int:
    """``reproduce``'s default ``--jobs``: 2 worker processes where there are 2 or more CPUs and
    the run is on the CPU (``cpu``, or ``auto`` without CUDA), else 1 (experiments on one GPU
    would share its memory). Never raises: a bad device is reported by the run itself."""
    import os

    n = os.cpu_count() if cpu_count is None else cpu_count
    if (n or 1) < 2:
        return 1
    if str(device) == "cpu":
        return 2
    if str(device) == "auto":
        import torch

        return 1 if torch.cuda.is_available() else 2
    return 1


def longest_first(names: list[str]) -> list[str]:
    """``names`` ordered by :data:`COST_HINT_S`, longest first (stable for ties)."""
    return sorted(names, key=lambda n: -COST_HINT_S.get(n, 30.0))


def run_in_worker(
    name: str, out_dir: str, seed: int, device: str, scale: str, threads: int | None
) -> tuple[Any, float]:
    """One experiment in a worker process (no progress bars there): its Result and wall seconds."""
    import time

    import depthlab.runs as runs  # looked up at call time (a forked worker sees a patched runner)
    from depthlab.progress import QUIET

    t0 = time.perf_counter()
    result = runs.run_experiment(
        name,
        {},
        out_dir=out_dir,
        scale=scale,
        seed=seed,
        device=device,
        progress=QUIET,
        threads=threads,
    )
    return result, time.perf_counter() - t0


def run_parallel(
    names: list[str],
    out: Path,
    *,
    jobs: int,
    seed: int,
    device: str,
    scale: str,
    threads: int | None,
):
    """Run ``names`` in ``jobs`` local worker processes, longest first; yield one
    ``(name, result_or_exception, seconds)`` per experiment as each finishes. Results do not
    depend on ``jobs``: every experiment draws from its own seeded streams."""
    import time

    from depthlab.parallel.executors import LocalExecutor

    started: dict[str, float] = {}
    args = {n: (n, str(out / n), seed, device, scale, threads) for n in longest_first(names)}

    def finished(executor, tasks, died: list[str] | None):
        try:
            for event in executor.run(tasks):
                if event.kind == "start":
                    started[event.key] = time.perf_counter()
                elif event.kind == "result":
                    yield event.key, *event.value
                elif died is not None and "worker process died" in str(event.value):
                    died.append(event.key)
                else:
                    yield event.key, event.value, time.perf_counter() - started[event.key]
        finally:
            executor.close()

    # A worker killed (e.g. out of memory) breaks the pool and fails every experiment in flight,
    # not only its own: those are run again afterwards, each alone, so only the one that kills
    # its worker by itself is reported failed.
    died: list[str] = []
    tasks = [(n, run_in_worker, a) for n, a in args.items()]
    yield from finished(LocalExecutor(jobs=jobs, retries=0), tasks, died)
    for name in died:
        yield from finished(
            LocalExecutor(jobs=1, retries=0), [(name, run_in_worker, args[name])], None
        )
