"""The installed package's version, read from its metadata (bottom layer: imports nothing of ours).

A source tree that is not installed (for example on ``PYTHONPATH`` only) reports ``"0+unknown"``.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def _read() -> str:
    try:
        return version("depthlab")
    except PackageNotFoundError:
        return "0+unknown"


__version__ = _read()

__all__ = ["__version__"]
