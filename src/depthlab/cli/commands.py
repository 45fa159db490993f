"""The `list`, `run`, `reproduce`, `report` and `env` commands."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import typer

from depthlab.cli.app import app, claims_table, console, err_console, fail, progress

DEVICE_HELP = "auto | cpu | cuda"
SEED_MAX = 2**63 - 1  # = depthlab.context.SEED_MAX
SEED_HELP = f"Seed for every random draw (0..{SEED_MAX})."


@app.command("list")
def list_cmd(
    names: bool = typer.Option(
        False, "--names", help="Only the names, one a line (the default when piped)."
    ),
) -> None:
    """List the registered experiments in lecture order."""
    from rich.table import Table

    from depthlab.experiments import SECTIONS, registry

    if names or not sys.stdout.isatty():
        from depthlab.experiments import probes

        for name in [*registry(), *probes()]:
            typer.echo(name)
        return

    table = Table(title="depthlab experiments")
    table.add_column("name", style="bold")
    table.add_column("section")
    table.add_column("what it measures", overflow="fold")
    for name, exp in registry().items():
        table.add_row(name, SECTIONS.get(exp.section, exp.section), exp.title)
    console.print(table)
    from depthlab.experiments import probes

    extra = Table(title="probe runs (no claims; for `depthlab sweep` with `probe: NAME`)")
    extra.add_column("name", style="bold")
    extra.add_column("what it measures", overflow="fold")
    for name, exp in probes().items():
        extra.add_row(name, exp.title)
    console.print(extra)


SCALE_HELP = (
    "tiny (seconds, tests) | quick (a one-minute smoke test) | default (`make demo`, CPU) | "
    "paper (the papers' sizes, for one GPU). --quick is --scale quick."
)
THREADS_HELP = (
    "torch intra-op threads in this process and its workers (default: 1 on a machine of at most "
    "2 CPUs, where one thread measured faster; else torch's own). Recorded in the result's meta."
)


def _scale(scale: str | None, quick: bool) -> str:
    """The scale from ``--scale`` and ``--quick`` (an alias of ``--scale quick``): one error line
    when they disagree or the name is not a scale."""
    from depthlab.config import SCALES

    if scale is not None and scale not in SCALES:
        fail(f"--scale must be one of {', '.join(SCALES)}, got {scale!r}")
    if quick and scale not in (None, "quick"):
        fail(f"--quick means --scale quick, which contradicts --scale {scale}; give one of them")
    return "quick" if quick else scale or "default"


def _threads(threads: int | None) -> int | None:
    """``--threads``, or the default for this machine; exported so sweep/reproduce workers use it."""
    import os

    from depthlab.runs.runner import THREADS_ENV, default_threads

    if threads is not None and threads < 1:
        fail(f"--threads must be >= 1, got {threads}")
    n = threads if threads is not None else default_threads()
    if n is not None:
        os.environ[THREADS_ENV] = str(n)
    return n


def _run_one(name, overrides, out, quick, seed, device, scale=None, threads=None):
    from depthlab.config import ConfigError
    from depthlab.runs import run_experiment

    try:
        return run_experiment(
            name,
            overrides,
            out_dir=out,
            quick=quick,
            scale=scale,
            seed=seed,
            device=device,
            progress=progress(),
            threads=threads,
        )
    except (ConfigError, KeyError) as exc:
        fail(str(exc).strip("'\""))
    except ValueError as exc:
        if "device" in str(exc) or "seed" in str(exc):
            fail(str(exc))
        raise


def _dry_run(name: str, overrides: dict, scale: str) -> None:
    """Print ``name``'s resolved config at ``scale`` and the fields that differ between scales."""
    import yaml
    from rich.table import Table

    from depthlab.config import SCALES, ConfigError, scale_differences
    from depthlab.experiments import get_experiment
    from depthlab.runs.reproduce import cifar_missing

    try:
        exp = get_experiment(name)
        config = exp.Config.build(overrides, scale=scale)
    except (ConfigError, KeyError) as exc:
        fail(str(exc).strip("'\""))
    typer.echo(f"# {name} at --scale {scale} (dry run: nothing is run or written)")
    typer.echo(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False).rstrip())
    missing = cifar_missing(config)
    if missing:
        typer.echo(f"# would be skipped: {missing}")
    table = Table(title=f"{name}: sizes per scale (fields that differ)")
    table.add_column("field", style="bold")
    for s in SCALES:
        table.add_column(s + (" *" if s == scale else ""), overflow="fold")
    for key, per in scale_differences(exp.Config).items():
        table.add_row(key, *(str(per[s]) for s in SCALES))
    console.print(table)


@app.command("run")
def run_cmd(
    name: str = typer.Argument(..., help="Experiment name (see `depthlab list`)."),
    set_: list[str] = typer.Option(
        None, "--set", help="Override a config key: key=value (YAML value)."
    ),
    config: Path = typer.Option(None, "--config", help="YAML file of config overrides."),
    out: str = typer.Option(None, "--out", help="Run directory (default runs/NAME)."),
    seed: int = typer.Option(0, "--seed", min=0, max=SEED_MAX, help=SEED_HELP),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    quick: bool = typer.Option(False, "--quick", help="The small, fast variant (--scale quick)."),
    scale: str = typer.Option(None, "--scale", help=SCALE_HELP),
    threads: int = typer.Option(None, "--threads", help=THREADS_HELP),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print the resolved config and the sizes per scale; run nothing."
    ),
) -> None:
    """Run one experiment and write its run directory."""
    from depthlab.config import ConfigError, load_yaml_config, parse_overrides
    from depthlab.validate import InputError, check_out_dir

    scale = _scale(scale, quick)
    try:
        overrides = load_yaml_config(str(config)) if config is not None else {}
        for key, value in parse_overrides(set_).items():
            overrides[key] = value
        if dry_run:
            return _dry_run(name, overrides, scale)
        out = check_out_dir(Path("runs") / name if out is None else out)
    except (ConfigError, InputError) as exc:
        fail(str(exc))
    threads = _threads(threads)
    t0 = time.perf_counter()
    result = _run_one(name, overrides, out, False, seed, device, scale, threads)
    claims_table([result])
    console.print(f"wrote {out} in {time.perf_counter() - t0:.1f} s")


@app.command("reproduce")
def reproduce_cmd(
    out: str = typer.Option("runs/reproduce", "--out", help="Output directory."),
    quick: bool = typer.Option(
        False, "--quick", help="Small, fast variants (minutes on a laptop)."
    ),
    only: list[str] = typer.Option(None, "--only", help="Run only these experiments (repeatable)."),
    seed: int = typer.Option(0, "--seed", min=0, max=SEED_MAX, help=SEED_HELP),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    scale: str = typer.Option(None, "--scale", help=SCALE_HELP),
    threads: int = typer.Option(None, "--threads", help=THREADS_HELP),
    jobs: int = typer.Option(
        None,
        "--jobs",
        help="Experiments run at once, each in its own process (default: 2 on a CPU run with "
        "2 or more CPUs, else 1).",
    ),
) -> None:
    """Run every registered experiment and write OUT/index.html.

    With --jobs 2 or more, experiments run side by side in worker processes, longest first; the
    results are the same as one at a time (each experiment draws from its own seeded streams).

    At --scale paper an experiment that reads CIFAR-10 runs only where the files are on disk;
    otherwise it is skipped with a line saying so (here, in its run directory and the report).
    """
    from depthlab.experiments import registry
    from depthlab.report import build_report
    from depthlab.runs.reproduce import default_jobs, record_skip, run_parallel, skip_reason
    from depthlab.validate import InputError, check_out_dir

    scale = _scale(scale, quick)
    try:
        out = check_out_dir(out)
    except InputError as exc:
        fail(str(exc))
    threads = _threads(threads)
    if jobs is not None and jobs < 1:
        fail(f"--jobs must be >= 1, got {jobs}")
    jobs = default_jobs(device) if jobs is None else jobs
    skipped = []

    names = list(registry())
    if only:
        unknown = [n for n in only if n not in names]
        if unknown:
            fail(f"unknown experiment(s) {', '.join(unknown)}; available: {', '.join(names)}")
        names = [n for n in names if n in only]
    results, failed = [], []
    t0 = time.perf_counter()
    runnable = []
    for name in names:
        why = skip_reason(name, {}, scale)
        if why is None:
            runnable.append(name)
            continue
        record_skip(out / name, name, {}, scale, why)
        skipped.append(why)
        err_console.print(f"[yellow]{why}[/]", highlight=False)
    jobs = min(jobs, max(1, len(runnable)))
    if jobs == 1:
        overall = progress().track(runnable, "reproduce (experiments)")  # one bar, with ETA
        for i, name in enumerate(overall, 1):
            console.print(f"[bold]({i}/{len(runnable)}) {name}[/]")
            t1 = time.perf_counter()
            try:
                results.append(_run_one(name, {}, out / name, False, seed, device, scale, threads))
                console.print(f"    done in {time.perf_counter() - t1:.1f} s")
            except typer.Exit:
                raise
            except Exception as exc:
                failed.append(name)
                err_console.print(f"[red]    {name} failed: {type(exc).__name__}: {exc}[/]")
    else:
        console.print(f"running {len(runnable)} experiments in {jobs} processes, longest first")
        done = run_parallel(
            runnable, out, jobs=jobs, seed=seed, device=device, scale=scale, threads=threads
        )
        bar = progress().track(done, "reproduce (experiments)", total=len(runnable))
        for i, (name, value, seconds) in enumerate(bar, 1):
            if isinstance(value, BaseException):
                failed.append(name)
                why = f"{type(value).__name__}: {value}"
                err_console.print(f"[red]({i}/{len(runnable)}) {name} failed: {why}[/]")
            else:
                results.append(value)
                console.print(f"({i}/{len(runnable)}) {name} done in {seconds:.1f} s")
    claims_table(results)
    path = build_report(out)
    console.print(f"report: {path}  ({time.perf_counter() - t0:.1f} s in all)")
    for why in skipped:
        err_console.print(f"[yellow]skipped: {why}[/]", highlight=False)
    if failed:
        fail(
            f"{len(failed)} experiment(s) failed: {', '.join(failed)} (see their error.txt)", code=1
        )


@app.command("report")
def report_cmd(
    root: Path = typer.Argument(..., help="A directory of run directories."),
    out: str = typer.Option(None, "--out", help="Output HTML file (default ROOT/index.html)."),
    replot: bool = typer.Option(
        False, "--replot", help="Redraw every figure from the saved results first."
    ),
    self_contained: bool = typer.Option(
        False, "--self-contained", help="Embed figures and plotly.js in the one HTML file."
    ),
) -> None:
    """Rebuild the HTML report from saved runs, without recomputing anything."""
    from depthlab.report import build_report, find_runs
    from depthlab.validate import InputError, check_out_file

    if not root.is_dir():
        fail(f"{root} is not a directory")
    try:
        out = check_out_file(out if out is not None else root / "index.html")
    except InputError as exc:
        fail(str(exc))
    if not find_runs(root):
        fail(f"no run directories under {root}")
    if replot:
        from depthlab.runs.figures import replot as redraw

        try:
            redrawn = redraw(root)
        except FileNotFoundError as exc:
            fail(str(exc))
        console.print(f"redrew the figures of {sum(bool(f) for f in redrawn.values())} run(s)")
    console.print(f"report: {build_report(root, out, self_contained=self_contained)}")


@app.command("env")
def env_cmd() -> None:
    """Print versions, device and threads (paste this into bug reports)."""
    import torch

    from depthlab.runs.store import environment_meta

    meta = environment_meta(
        torch.device("cuda" if torch.cuda.is_available() else "cpu"), torch.get_default_dtype()
    )
    meta["cuda_available"] = torch.cuda.is_available()
    meta["interop_threads"] = torch.get_num_interop_threads()
    for k, v in meta.items():
        console.print(f"{k:>16}: {v}")
