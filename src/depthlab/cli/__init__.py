"""The `depthlab` command: thin; every subcommand calls the library."""

from depthlab.cli import commands  # noqa: F401  (registers commands)
from depthlab.cli import doctor as doctor  # registers `depthlab doctor`
from depthlab.cli.app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
