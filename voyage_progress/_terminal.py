"""Progress in a terminal: live bars when stdout is one, plain lines when it is not.

A status or an error text is the API's: shown cleaned (see ``voyage_progress._text``), and
escaped where the bars read markup.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn

from ._events import BatchProgressEvent
from ._format import format_duration, format_rate
from ._text import clean_text

_STATUS_STYLE = {
    "completed": "green",
    "failed": "red",
    "expired": "red",
    "cancelled": "yellow",
    "cancelling": "yellow",
    "finalizing": "cyan",
    "validating": "magenta",
    "in_progress": "blue",
}


def short_id(batch_id: str, keep: int = 10) -> str:
    """``batch-7vT5tYo5G6…`` — enough to tell batches apart on one line."""
    return batch_id if len(batch_id) <= keep + 7 else batch_id[: keep + 6] + "…"


def describe(event: BatchProgressEvent, label: str | None = None) -> str:
    """One line per event, for logs and non-terminal output."""
    name = clean_text(label or event.batch_id)
    line = (
        f"{name} {clean_text(event.status.value)} {event.completed + event.failed}/{event.total} "
        f"({event.percent:.1f}%) rate {format_rate(event.rate)} eta {format_duration(event.eta_seconds)}"
    )
    if event.failed:
        line += f" failed {event.failed}"
    if event.error_message:
        line += f" - {clean_text(event.error_message)}"
    return line


class ProgressView:
    """One bar per batch with percent, counts, rate, ETA and status; or a line per change."""

    def __init__(self, stream: TextIO | None = None, *, live: bool | None = None) -> None:
        self.stream = stream or sys.stdout
        self.live = self.stream.isatty() if live is None else live
        self._console = Console(file=self.stream, highlight=False)
        self._progress = Progress(
            TextColumn("{task.description}", style="bold"),
            BarColumn(bar_width=None),
            TextColumn("{task.percentage:>5.1f}%"),
            TextColumn("{task.fields[counts]}", style="dim"),
            TextColumn("{task.fields[rate]:>9}"),
            TextColumn("ETA {task.fields[eta]:>7}"),
            TextColumn("{task.fields[status]}"),
            console=self._console,
            expand=True,
        )
        self._tasks: dict[str, TaskID] = {}
        self._last_line: dict[str, str] = {}

    def __enter__(self) -> ProgressView:
        if self.live:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live:
            self._progress.stop()

    def update(self, event: BatchProgressEvent, label: str | None = None) -> None:
        if not self.live:
            self._print_if_changed(event, label)
            return
        style = _STATUS_STYLE.get(event.status.value, "white")
        status = f"[{style}]{escape(clean_text(event.status.value))}[/]"
        if event.error_message and event.is_terminal:
            status += f" [dim]{escape(clean_text(event.error_message))}[/]"
        fields: dict[str, Any] = {
            "counts": f"{event.completed + event.failed}/{event.total}",
            "rate": format_rate(event.rate),
            "eta": format_duration(event.eta_seconds),
            "status": status,
        }
        task = self._tasks.get(event.batch_id)
        if task is None:
            name = escape(clean_text(label or short_id(event.batch_id)))
            task = self._tasks[event.batch_id] = self._progress.add_task(name, total=100.0, **fields)
        self._progress.update(task, completed=event.percent, **fields)

    def message(self, text: str) -> None:
        """A line above the bars (or on its own line without them)."""
        self._console.print(text, markup=False, highlight=False)

    def _print_if_changed(self, event: BatchProgressEvent, label: str | None) -> None:
        key = f"{event.status.value} {event.completed} {event.failed} {event.total}"
        if self._last_line.get(event.batch_id) != key:
            self._last_line[event.batch_id] = key
            print(describe(event, label), file=self.stream, flush=True)
