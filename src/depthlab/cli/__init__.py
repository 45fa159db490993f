"""The `depthlab` command: thin; every subcommand calls the library.

:func:`main` is the entry point (``depthlab`` and ``python -m depthlab``). It turns every user
error into ONE line on stderr and exit status 2 (never a traceback), a SIGTERM into the same
handling as Ctrl-C (a running run ends ``failed`` with the reason in its ``error.txt``; exit 143),
and an unexpected error into one line and exit 1 (``DEPTHLAB_DEBUG=1`` shows the traceback).
"""

from __future__ import annotations

import os
import sys

# Importing a command module registers its commands on the app.
from depthlab.cli import (
    commands,  # noqa: F401
    doctor,  # noqa: F401
    sweep,  # noqa: F401
)
from depthlab.cli.app import app, error_line

EXIT_USAGE = 2
EXIT_SIGINT = 130
EXIT_SIGTERM = 143


def main(argv: list[str] | None = None) -> int:
    """Run the CLI on ``argv`` (default ``sys.argv[1:]``) in this process; return the exit status.

    Never raises for user errors, so tests can call it in-process: ``main(["run", "x"]) == 2``.
    """
    from depthlab.runs.runner import RunTerminated, sigterm_raises
    from depthlab.validate import InputError

    exc_types = _click_exceptions()
    args = sys.argv[1:] if argv is None else [str(a) for a in argv]
    try:
        with sigterm_raises():
            rv = app(args=args, prog_name="depthlab", standalone_mode=False)
    except exc_types["NoArgsIsHelpError"] as exc:
        ctx = getattr(exc, "ctx", None)
        print(ctx.get_help() if ctx is not None else "usage: depthlab --help", file=sys.stderr)
        return EXIT_USAGE
    except exc_types["UsageError"] as exc:
        ctx = getattr(exc, "ctx", None)
        hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        error_line(f"{exc.format_message()}{hint}")
        return EXIT_USAGE
    except exc_types["ClickException"] as exc:
        error_line(exc.format_message())
        return int(getattr(exc, "exit_code", 1))
    except exc_types["Exit"] as exc:
        return int(getattr(exc, "exit_code", 0) or 0)
    except (*exc_types["Abort"], KeyboardInterrupt):
        error_line("interrupted")
        return EXIT_SIGINT
    except RunTerminated:
        error_line("terminated by SIGTERM")
        return EXIT_SIGTERM
    except InputError as exc:
        error_line(str(exc))
        return EXIT_USAGE
    except Exception as exc:
        if os.environ.get("DEPTHLAB_DEBUG"):
            raise
        first = (str(exc).strip().splitlines() or [""])[0]
        error_line(
            f"{type(exc).__name__}: {first} (an unexpected error; DEPTHLAB_DEBUG=1 shows the "
            "traceback)"
        )
        return 1
    return rv if isinstance(rv, int) else 0


def _click_exceptions() -> dict[str, tuple[type[BaseException], ...]]:
    """Click's exception classes, and Typer's copies of them (newer Typer vendors Click)."""
    import click
    import typer

    modules = [click.exceptions]
    try:
        from typer._click import exceptions as vendored

        modules.append(vendored)
    except ImportError:  # an older Typer that uses click itself
        pass
    names = ("NoArgsIsHelpError", "UsageError", "ClickException", "Abort", "Exit")
    out = {n: tuple(getattr(m, n) for m in modules if hasattr(m, n)) for n in names}
    out["Exit"] += (typer.Exit,)
    out["Abort"] += (typer.Abort,)
    return out


__all__ = ["app", "main"]
