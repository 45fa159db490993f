"""The `depthlab` command: thin; every subcommand calls the library."""

# Importing a command module registers its commands on the app.
from depthlab.cli import (
    commands,  # noqa: F401
    doctor,  # noqa: F401
    sweep,  # noqa: F401
)
from depthlab.cli.app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
