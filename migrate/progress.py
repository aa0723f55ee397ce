"""Progress on stderr (rows, rate, time left per table) and the quiet stand-in for ``-q``.

Every long phase reports through a ``Progress`` object so that the data-moving code never prints:
``with progress.table("Task", total=1000) as advance: advance(500)``.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress as RichProgress, TaskProgressColumn,
                           TextColumn, TimeRemainingColumn, TransferSpeedColumn)


class Progress:
    """Interface: per-table row progress plus one-line status messages, all on stderr."""

    @contextlib.contextmanager
    def table(self, name: str, total: int | None) -> Iterator[Callable[[int], None]]:
        yield lambda n: None

    def status(self, message: str) -> None:
        pass


class QuietProgress(Progress):
    """``-q``: nothing at all."""


class RichStderrProgress(Progress):
    """A rich progress bar per table on stderr; plain lines when stderr is not a terminal."""

    def __init__(self, stream=None):
        self.console = Console(file=stream or sys.stderr, highlight=False)

    @contextlib.contextmanager
    def table(self, name: str, total: int | None) -> Iterator[Callable[[int], None]]:
        columns = [TextColumn("{task.description:<14}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("rows"), TaskProgressColumn(), RowRateColumn(), TimeRemainingColumn()]
        # transient=False leaves one finished line per table, which doubles as a log when not a tty.
        with RichProgress(*columns, console=self.console, transient=False) as bar:
            task = bar.add_task(name, total=total)
            yield lambda n: bar.advance(task, n)

    def status(self, message: str) -> None:
        self.console.print(message)


class RowRateColumn(TransferSpeedColumn):
    """Rows per second instead of bytes per second."""

    def render(self, task):
        speed = task.finished_speed or task.speed
        return TextColumn("").render(task) if speed is None else f"{speed:,.0f} rows/s"
