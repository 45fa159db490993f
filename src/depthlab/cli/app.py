"""The Typer application and shared CLI helpers (no science here)."""

from __future__ import annotations

import typer
from rich.console import Console

app = typer.Typer(
    name="depthlab",
    help="depthlab: what does depth buy, and why? Probes, theory and reproducible experiments.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
# Errors are one line and never wrapped: a script reading stderr gets the whole message on one
# line whatever the terminal width (soft_wrap), and no colour codes when stderr is not a terminal.
err_console = Console(stderr=True, soft_wrap=True)

STATE = {"quiet": False}


def error_line(message: str) -> None:
    """Print ``error: MESSAGE`` as one line on stderr (newlines in MESSAGE are folded)."""
    from rich.markup import escape

    text = " ".join(str(message).split())
    err_console.print(f"[bold red]error:[/] {escape(text)}", highlight=False, markup=True)


def fail(message: str, code: int = 2) -> None:
    """Print one clear line to stderr and exit with ``code`` (2 = bad input)."""
    error_line(message)
    raise typer.Exit(code)


def progress():
    """``AUTO`` (a bar where one can be seen) unless ``--quiet``."""
    from depthlab.progress import AUTO, QUIET

    return QUIET if STATE["quiet"] else AUTO


@app.callback()
def _root(
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    STATE["quiet"] = quiet
    from depthlab.progress import set_quiet

    set_quiet(quiet)


def claims_table(results) -> None:
    from rich.table import Table

    table = Table(title="Claims", show_lines=False)
    for col in ("experiment", "claim", "predicted", "measured", "verdict"):
        table.add_column(col, overflow="fold")
    colors = {"holds": "green", "fails": "red", "inconclusive": "yellow"}
    for res in results:
        for c in res.claims:
            table.add_row(
                res.experiment,
                c.statement,
                _fmt(c.predicted),
                _fmt(c.measured),
                f"[{colors[c.verdict]}]{c.verdict}[/]",
            )
    console.print(table)


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else str(v)
