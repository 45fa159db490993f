"""One progress layer for long work, and the ``depthlab`` logger.

A bar shows on a terminal (stderr is a TTY) and in Jupyter (an IPython kernel), drawn by
``tqdm.auto`` when tqdm is installed (widgets in notebooks) and by Rich otherwise. It stays off
when stderr is piped or redirected (CI, logs), under ``depthlab --quiet``, or after
:func:`set_quiet` ``(True)``.

* ``AUTO`` (the default of :func:`depthlab.fit`, ``landscape.surface`` and the probes): a bar
  where one can be seen, nothing otherwise.
* ``QUIET``: never a bar (pass ``progress=QUIET`` to silence one call).
* ``Progress(enabled=True)``: like ``AUTO``; ``Progress(enabled=False)`` is ``QUIET``.

Decisions a user may want to know about (batch size chosen, a fallback taken, a cap reached) go
through ``logging.getLogger("depthlab")`` (:data:`log`); the library adds only a
``NullHandler``, so nothing prints unless the application configures logging, e.g.
``logging.basicConfig(level=logging.INFO)``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")

log = logging.getLogger("depthlab")
log.addHandler(logging.NullHandler())

_STATE = {"quiet": False}
_LIVE: list[Any] = []  # the Rich bar now drawing, if any (inner bars nest into it)


def set_quiet(quiet: bool = True) -> None:
    """Turn every bar off (``depthlab --quiet``) or back to automatic."""
    _STATE["quiet"] = bool(quiet)


def in_notebook() -> bool:
    """True inside a Jupyter kernel (where stderr is not a TTY but a bar can still be seen)."""
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    try:
        ip = shell.get_ipython()  # type: ignore[attr-defined]
    except Exception:
        return False
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


def interactive() -> bool:
    """Whether a bar would be seen: stderr is a terminal, or we run in a notebook."""
    try:
        tty = sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stderr
        tty = False
    return tty or in_notebook()


def _backend() -> str:
    try:
        import tqdm.auto  # noqa: F401
    except ImportError:
        return "rich"
    return "tqdm"


class Progress:
    """Progress bars for long loops: on where they can be seen, off otherwise.

    ``enabled=False`` never shows a bar. With ``enabled=True`` a bar shows when
    :func:`interactive` holds at the moment the loop starts and :func:`set_quiet` is off.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.requested = enabled

    @property
    def enabled(self) -> bool:
        return self.requested and not _STATE["quiet"] and interactive()

    def __repr__(self) -> str:
        return f"Progress(enabled={self.requested})"

    def track(
        self, items: Iterable[T], description: str = "", total: int | None = None
    ) -> Iterator[T]:
        """Yield ``items``, advancing a bar by one per item."""
        if total is None and hasattr(items, "__len__"):
            total = len(items)  # type: ignore[arg-type]
        with self.bar(total, description) as advance:
            for item in items:
                yield item
                advance(1)

    @contextmanager
    def bar(self, total: int | None, description: str = "") -> Iterator[Any]:
        """A bar advanced by hand: ``with p.bar(n, "rows") as advance: ... advance(k)``."""
        if not self.enabled:
            yield _noop
            return
        if _backend() == "tqdm":
            from tqdm.auto import tqdm

            with tqdm(total=total, desc=description, leave=False, file=sys.stderr) as t:
                yield t.update
            return
        outer = _LIVE[-1] if _LIVE else None
        if outer is not None:  # nested (a fit inside `reproduce`): one more row in the same bar
            task = outer.add_task(description, total=total)
            try:
                yield lambda n=1: outer.advance(task, n)
            finally:
                outer.remove_task(task)
            return
        from rich.console import Console
        from rich.errors import LiveError
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as RichProgress

        rich_bar = RichProgress(
            TextColumn("[bold blue]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(file=sys.stderr, force_jupyter=in_notebook() or None),
            transient=True,
        )
        try:
            rich_bar.start()
        except LiveError:  # another Rich display (e.g. the sweep's own bar) owns the terminal
            yield _noop
            return
        _LIVE.append(rich_bar)
        try:
            task = rich_bar.add_task(description, total=total)
            yield lambda n=1: rich_bar.advance(task, n)
        finally:
            _LIVE.pop()
            rich_bar.stop()


@contextmanager
def adopt(rich_progress: Any) -> Iterator[None]:
    """While a caller's own (started) Rich ``Progress`` is drawing, bars opened by the library
    become rows of it instead of a second live display (the sweep's bar, for in-process cells)."""
    _LIVE.append(rich_progress)
    try:
        yield
    finally:
        _LIVE.remove(rich_progress)


def _noop(n: int = 1) -> None:
    return None


def resolve(progress: Progress | bool | None) -> Progress:
    """``None``/``True`` -> ``AUTO``, ``False`` -> ``QUIET``, a Progress as is."""
    if isinstance(progress, Progress):
        return progress
    return QUIET if progress is False else AUTO


AUTO = Progress(enabled=True)
QUIET = Progress(enabled=False)
