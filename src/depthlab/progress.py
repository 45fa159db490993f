"""Progress bars that show on long work in a terminal and stay quiet otherwise."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


class Progress:
    """A thin wrapper over Rich's progress bar.

    Quiet when ``enabled`` is False, or when stderr is not a TTY (CI, pipes).
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled and sys.stderr.isatty()

    def track(
        self, items: Iterable[T], description: str = "", total: int | None = None
    ) -> Iterator[T]:
        if not self.enabled:
            yield from items
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as RichProgress

        if total is None and hasattr(items, "__len__"):
            total = len(items)  # type: ignore[arg-type]
        with RichProgress(
            TextColumn("[bold blue]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            transient=True,
        ) as bar:
            task = bar.add_task(description, total=total)
            for item in items:
                yield item
                bar.advance(task)


QUIET = Progress(enabled=False)
