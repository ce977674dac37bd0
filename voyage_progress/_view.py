"""What the sidecar shows a person: live bars in a terminal, log lines anywhere else.

``live``: a table redrawn four times a second (rich). ``text``: one line per change of a
batch, an event or the API's health. ``json``: the same as JSON objects, one per line, for log
collectors. ``none``: silence.

Log lines never hold up the sidecar: they leave through ``LineWriter`` (a full or closed
output drops lines, counted, instead of blocking or raising), and the log handler never raises.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, TextIO

from ._format import format_duration, format_rate
from ._output import LineWriter
from ._watcher import WatchedBatch

__all__ = ["MODES", "SidecarView"]

MODES = ("live", "text", "json", "none")
RenderState = Callable[[], tuple[list[WatchedBatch], dict[str, Any]]]

_STATUS_STYLE = {
    "completed": "green",
    "failed": "red",
    "expired": "red",
    "cancelled": "yellow",
    "cancelling": "yellow",
    "finalizing": "cyan",
    "validating": "magenta",
    "in_progress": "blue",
    "error": "red",
}


class SidecarView:
    def __init__(self, mode: str = "text", stream: TextIO | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown display {mode!r}; one of: {', '.join(MODES)}")
        self.mode = mode
        self.stream = stream or sys.stdout
        self._last: dict[str, str] = {}
        self._live: Any = None
        self._lines = LineWriter(self.stream, self._dropped) if mode in ("text", "json") else None

    @property
    def dropped(self) -> int:
        """Log lines dropped because the output did not take them."""
        return self._lines.dropped if self._lines else 0

    def close(self) -> None:
        """Let the log lines still queued out (waiting a moment at most for a slow reader)."""
        if self._lines is not None:
            self._lines.close()

    @contextlib.contextmanager
    def live(self, render_state: RenderState) -> Iterator[None]:
        """While inside, a live table (in ``live`` mode only)."""
        if self.mode != "live":
            yield
            return
        from rich.console import Console
        from rich.live import Live

        console = Console(file=self.stream)
        with Live(
            get_renderable=lambda: _table(*render_state()),
            console=console,
            refresh_per_second=4,
            transient=False,
        ) as live:
            self._live = live
            try:
                yield
            finally:
                self._live = None

    def batch_changed(self, batch: WatchedBatch) -> None:
        if self.mode not in ("text", "json"):
            return
        fields = _batch_fields(batch)
        key = f"{fields['status']} {fields['done']} {fields['failed']} {fields['total']} {fields['error']}"
        if self._last.get(batch.batch_id) == key:
            return
        self._last[batch.batch_id] = key
        if self.mode == "json":
            self._json("batch", **fields)
        else:
            line = (
                f"slot {batch.slot} {fields['label'] or batch.batch_id} {fields['status']} "
                f"{fields['done']}/{fields['total']} ({fields['percent']:.1f}%) "
                f"rate {format_rate(fields['rate'])} eta {format_duration(fields['eta'])}"
            )
            if fields["failed"]:
                line += f" failed {fields['failed']}"
            if fields["error"]:
                line += f" - {fields['error']}"
            self._text(line)

    def event(self, kind: str, batch: WatchedBatch) -> None:
        if kind == "unwatch":
            self._last.pop(batch.batch_id, None)
        if self.mode == "json":
            self._json("event", kind=kind, id=batch.batch_id, slot=batch.slot, label=batch.label)
        elif self.mode == "text":
            label = f", {batch.label}" if batch.label else ""
            self._text(f"event {kind} {batch.batch_id} (slot {batch.slot}{label})")
        elif self.mode == "live" and kind != "watch":
            self.message(f"{kind}: {batch.label or batch.batch_id}")

    def health_changed(self, api_ok: bool, message: str) -> None:
        if self.mode == "json":
            self._json("health", api_ok=api_ok, message=message)
        elif self.mode == "text":
            self._text(f"api {'ok' if api_ok else 'PROBLEM'}: {message}")

    def message(self, text: str) -> None:
        if self.mode == "json":
            self._json("message", text=text)
        elif self.mode == "live" and self._live is not None:
            with contextlib.suppress(OSError, ValueError):  # the terminal is gone
                self._live.console.print(text, markup=False, highlight=False)
        elif self.mode != "none":
            self._text(text)

    def log_handler(self) -> logging.Handler:
        """Warnings of the package's loggers, shown in this view (above the live table, or
        as log lines) instead of being printed across it."""
        view = self

        class ViewHandler(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                try:
                    view.message(f"{record.levelname.lower()}: {record.getMessage()}")
                except Exception:  # logging must not raise where it is called (an except clause)
                    self.handleError(record)

        handler = ViewHandler(logging.WARNING)
        return handler

    def _text(self, line: str) -> None:
        stamp = datetime.now(UTC).strftime("%H:%M:%S")
        if self._lines is not None:
            self._lines.write(f"{stamp} {line}")

    def _json(self, record_type: str, **fields: Any) -> None:
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds")
        record = {"time": stamp, "type": record_type, **fields}
        if self._lines is not None:
            self._lines.write(json.dumps(record, default=str))

    def _dropped(self, count: int) -> str:
        """The line that says ``count`` lines were dropped, in this view's format."""
        text = f"warning: {count} log lines dropped: the output was not read fast enough"
        if self.mode == "json":
            stamp = datetime.now(UTC).isoformat(timespec="milliseconds")
            return json.dumps({"time": stamp, "type": "message", "text": text})
        return f"{datetime.now(UTC).strftime('%H:%M:%S')} {text}"


def _batch_fields(batch: WatchedBatch) -> dict[str, Any]:
    event = batch.event
    status = batch.status.value if batch.status else ("error" if batch.error else "pending")
    return {
        "slot": batch.slot,
        "id": batch.batch_id,
        "label": batch.label,
        "status": status,
        "done": (event.completed + event.failed) if event else 0,
        "total": event.total if event else 0,
        "failed": event.failed if event else 0,
        "percent": event.percent if event else 0.0,
        "rate": event.rate if event else 0.0,
        "eta": event.eta_seconds if event else float("inf"),
        "error": batch.error or (event.error_message if event and event.is_terminal else None) or "",
    }


def _table(batches: list[WatchedBatch], health: dict[str, Any]) -> Any:
    from rich.console import Group
    from rich.progress_bar import ProgressBar
    from rich.table import Table
    from rich.text import Text

    api = (
        Text("API ok", style="green")
        if health["api_ok"]
        else Text(f"API: {health['message']}", style="bold red")
    )
    age = health["poll_age"]
    header = Text.assemble(
        ("voyage-progress ", "bold"),
        api,
        f"  polled {format_duration(age)} ago" if age is not None else "  not polled yet",
        f"  {health['requests']} requests  OSC → {', '.join(health['destinations'])}",
        f"  control {health['control']}" if health["control"] else "",
    )
    table = Table(expand=True, box=None, padding=(0, 1))
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("batch", min_width=8, max_width=24, no_wrap=True, overflow="ellipsis")
    table.add_column("", min_width=10, ratio=1)
    for numeric in ("%", "done", "failed", "rate", "ETA"):
        table.add_column(numeric, justify="right", no_wrap=True)
    table.add_column("status", max_width=40, no_wrap=True, overflow="ellipsis")
    for batch in batches:
        f = _batch_fields(batch)
        style = _STATUS_STYLE.get(f["status"], "white")
        name = f["label"] or (batch.batch_id[:16] + "…" if len(batch.batch_id) > 17 else batch.batch_id)
        status = Text(f["status"], style=style)
        if f["error"]:
            status.append(f" {f['error']}", style="dim")
        table.add_row(
            str(batch.slot),
            name,
            ProgressBar(total=100, completed=f["percent"], complete_style=style),
            f"{f['percent']:.1f}",
            f"{f['done']}/{f['total']}",
            str(f["failed"] or ""),
            format_rate(f["rate"]),
            format_duration(f["eta"]),
            status,
        )
    if not batches:
        table.add_row("", Text("no batches yet", style="dim"), "", "", "", "", "", "", "")
    return Group(header, table)
