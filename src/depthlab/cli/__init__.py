"""The `depthlab` command: thin; every subcommand calls the library."""

import depthlab.cli.sweep  # noqa: F401  (registers `depthlab sweep`)
from depthlab.cli import commands  # noqa: F401  (registers commands)
from depthlab.cli.app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
