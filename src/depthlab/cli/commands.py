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


def _run_one(name, overrides, out, quick, seed, device):
    from depthlab.config import ConfigError
    from depthlab.runs import run_experiment

    try:
        return run_experiment(
            name, overrides, out_dir=out, quick=quick, seed=seed, device=device, progress=progress()
        )
    except (ConfigError, KeyError) as exc:
        fail(str(exc).strip("'\""))
    except ValueError as exc:
        if "device" in str(exc) or "seed" in str(exc):
            fail(str(exc))
        raise


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
    quick: bool = typer.Option(False, "--quick", help="The small, fast variant."),
) -> None:
    """Run one experiment and write its run directory."""
    from depthlab.config import ConfigError, load_yaml_config, parse_overrides
    from depthlab.validate import InputError, check_out_dir

    try:
        overrides = load_yaml_config(str(config)) if config is not None else {}
        for key, value in parse_overrides(set_).items():
            overrides[key] = value
        out = check_out_dir(Path("runs") / name if out is None else out)
    except (ConfigError, InputError) as exc:
        fail(str(exc))
    t0 = time.perf_counter()
    result = _run_one(name, overrides, out, quick, seed, device)
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
) -> None:
    """Run every registered experiment and write OUT/index.html."""
    from depthlab.experiments import registry
    from depthlab.report import build_report
    from depthlab.validate import InputError, check_out_dir

    try:
        out = check_out_dir(out)
    except InputError as exc:
        fail(str(exc))

    names = list(registry())
    if only:
        unknown = [n for n in only if n not in names]
        if unknown:
            fail(f"unknown experiment(s) {', '.join(unknown)}; available: {', '.join(names)}")
        names = [n for n in names if n in only]
    results, failed = [], []
    t0 = time.perf_counter()
    overall = progress().track(names, "reproduce (experiments)")  # one bar across all, with ETA
    for i, name in enumerate(overall, 1):
        console.print(f"[bold]({i}/{len(names)}) {name}[/]")
        t1 = time.perf_counter()
        try:
            results.append(_run_one(name, {}, out / name, quick, seed, device))
            console.print(f"    done in {time.perf_counter() - t1:.1f} s")
        except typer.Exit:
            raise
        except Exception as exc:
            failed.append(name)
            err_console.print(f"[red]    {name} failed: {type(exc).__name__}: {exc}[/]")
    claims_table(results)
    path = build_report(out)
    console.print(f"report: {path}  ({time.perf_counter() - t0:.1f} s in all)")
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
