"""The `sweep` command: run an experiment over a grid of configs and seeds (local or Ray)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import typer

from depthlab.cli.app import STATE, app, console, err_console, fail
from depthlab.cli.commands import THREADS_HELP, _threads

MAX_CELLS = 100_000  # = depthlab.runs.sweep.MAX_CELLS (not imported: keeps `--help` fast)


def _progress_columns():
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return (
        TextColumn("[bold blue]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(
            "[green]{task.fields[done]} done[/] [cyan]{task.fields[running]} running[/] "
            "[red]{task.fields[failed]} failed[/]"
        ),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )


@app.command("sweep")
def sweep_cmd(
    spec_path: Path = typer.Argument(..., metavar="SPEC.yaml", help="The sweep spec (YAML)."),
    out: str = typer.Option(None, "--out", help="Sweep directory (default: spec's out)."),
    backend: str = typer.Option("local", "--backend", help="local | serial | ray"),
    jobs: int = typer.Option(
        1,
        "--jobs",
        "-j",
        help="Parallel cells: local processes (at most the CPU count), or Ray tasks in flight.",
    ),
    force_jobs: bool = typer.Option(
        False, "--force-jobs", help="Allow --jobs above the CPU count."
    ),
    max_cells: int = typer.Option(
        MAX_CELLS, "--max-cells", help="Refuse a spec of more cells than this."
    ),
    address: str = typer.Option(None, "--address", help="Ray cluster address (ray backend)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate and list cells; run nothing."),
    threads: int = typer.Option(None, "--threads", help=THREADS_HELP),
) -> None:
    """Run SPEC's cells (skipping finished ones) and write OUT/table as a Parquet dataset."""
    from depthlab.parallel.executors import BACKENDS
    from depthlab.runs.sweep import (
        SpecError,
        check_ray_address,
        load_spec,
        plan,
        read_status,
        run_sweep,
    )
    from depthlab.runs.sweep import cell_dir as _cell_dir
    from depthlab.validate import InputError, check_out_dir

    if backend not in BACKENDS:
        fail(f"--backend {backend!r} is not known; allowed: {', '.join(BACKENDS)}")
    cpus = os.cpu_count() or 1
    if jobs < 1:
        fail(f"--jobs must be >= 1, got {jobs}")
    if backend == "local" and jobs > cpus and not force_jobs:  # Ray: jobs = tasks in flight
        fail(f"--jobs {jobs} is more than the {cpus} CPUs here; use --force-jobs to allow it")
    if max_cells < 1:
        fail(f"--max-cells must be >= 1, got {max_cells}")
    if address is not None and backend != "ray":
        fail("--address is only for --backend ray")
    try:
        spec = load_spec(spec_path, max_cells=max_cells)
        cells = plan(spec, max_cells=max_cells)
        default = spec.out if spec.out is not None else f"runs/sweep-{spec.experiment}"
        out_dir = check_out_dir(
            out if out is not None else default, "--out" if out is not None else "the spec's out"
        )
        if backend == "ray" and address is not None and not dry_run:
            check_ray_address(address)
    except (SpecError, InputError) as exc:
        fail(str(exc))
    if dry_run:
        from rich.table import Table

        table = Table(title=f"{len(cells)} cells of {spec.experiment}")
        for col in ("cell", "seed", "swept values", "status"):
            table.add_column(col, overflow="fold")
        for c in cells:
            status = read_status(_cell_dir(out_dir, c.key)) or "new"
            table.add_row(c.key, str(c.seed), repr(c.columns), status)
        console.print(table)
        return

    from depthlab.progress import adopt, interactive

    _threads(threads)  # every cell's run_experiment reads it from $DEPTHLAB_THREADS
    show = not STATE["quiet"] and interactive()
    bar = None
    if show:
        from rich.progress import Progress

        bar = Progress(*_progress_columns(), console=err_console)

    task_id = None

    def on_event(ev, counts):
        nonlocal task_id
        if bar is not None:
            if task_id is None:
                task_id = bar.add_task(
                    spec.experiment, total=counts["total"], done=0, running=0, failed=0
                )
            bar.update(
                task_id,
                completed=counts["done"] + counts["failed"],
                done=counts["done"],
                running=counts["running"],
                failed=counts["failed"],
            )
        elif ev.kind != "start":
            n = counts["done"] + counts["failed"]
            word = "failed" if ev.kind == "error" or ev.value.status == "failed" else "done"
            err_console.print(f"cell {ev.key} {word} ({n}/{counts['total']})", highlight=False)

    try:
        if bar is not None:
            bar.start()
        with adopt(bar) if bar is not None else contextlib.nullcontext():
            summary = run_sweep(
                spec,
                out_dir,
                backend=backend,
                jobs=jobs,
                address=address,
                on_event=on_event,
                max_cells=max_cells,
            )
    except SpecError as exc:
        fail(str(exc))
    except RuntimeError as exc:
        if "depthlab[ray]" in str(exc):
            fail(str(exc))
        raise
    finally:
        if bar is not None:
            bar.stop()
    console.print(
        f"{summary.total} cells: {summary.done} ran, {summary.skipped} already done, "
        f"{summary.failed} failed; table: {summary.table_path}"
    )
    for key, msg in summary.errors.items():
        err_console.print(
            f"[red]cell {key} failed:[/] {msg} (traceback: {_cell_dir(out_dir, key)}/error.txt)",
            highlight=False,
        )
    if summary.failed:
        raise typer.Exit(1)
