"""What the sidecar shows a person: live bars in a terminal, log lines anywhere else.

``live``: a table redrawn four times a second (rich). ``text``: one line per change of a
batch, an event or the API's health. ``json``: the same as JSON objects, one per line, for log
collectors. ``none``: silence.

Labels, statuses, errors and log messages come from the API or the network: they are shown as
plain text (never read as rich markup) and cleaned of what would act on the terminal.

Log lines never hold up the sidecar: they leave through ``LineWriter`` (a full or closed
output drops lines, counted, instead of blocking or raising), and the log handler never raises.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, TextIO

from rich.console import Console

from ..core.format import format_duration, format_rate
from ..core.text import clean_label, clean_text
from ..outputs._lines import LineWriter
from ..outputs.osc._messages import batch_status
from ..outputs.table import REFRESH_PER_SECOND, FittedLine, FittedTable, Row, event_note
from ..watcher import WatchedBatch

__all__ = ["MODES", "SidecarView"]

MODES = ("live", "text", "json", "none")
#: The longest message or log line shown: a long one, but a line.
_MAX_MESSAGE = 2000
RenderState = Callable[[], tuple[list[WatchedBatch], dict[str, Any]]]


class SidecarView:
    def __init__(self, mode: str = "text", stream: TextIO | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown display {mode!r}; one of: {', '.join(MODES)}")
        self.mode = mode
        self.stream = stream or sys.stdout
        self._last: dict[str, str] = {}
        self._console: Console | None = None
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
        from rich.live import Live

        with Live(
            get_renderable=lambda: _table(*render_state()),
            console=self._rich_console(),
            refresh_per_second=REFRESH_PER_SECOND,
            transient=False,
        ):
            yield

    def batch_changed(self, batch: WatchedBatch) -> None:
        if self.mode not in ("text", "json"):
            return
        fields = _batch_fields(batch)
        key = (
            f"{fields['status']} {fields['done']} {fields['failed']} {fields['total']} {fields['error']} "
            f"{fields['note']}"
        )
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
            if fields["note"]:
                line += f" ({fields['note']})"
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
            error = _batch_fields(batch)["error"] if kind != "unwatch" else ""
            self.message(f"{kind}: {batch.label or batch.batch_id}" + (f" - {error}" if error else ""))

    def health_changed(self, api_ok: bool, message: str) -> None:
        if self.mode == "json":
            self._json("health", api_ok=api_ok, message=message)
        elif self.mode == "text":
            self._text(f"api {'ok' if api_ok else 'PROBLEM'}: {message}")

    def message(self, text: str) -> None:
        text = clean_text(text, _MAX_MESSAGE)
        if self.mode == "json":
            self._json("message", text=text)
        elif self.mode == "live":
            with contextlib.suppress(OSError, ValueError):  # the terminal is gone
                self._rich_console().print(text, markup=False, highlight=False)
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

    def _rich_console(self) -> Console:
        """The live table's console; a message before or after the table goes through it too,
        so that it wraps at word boundaries like the ones printed above the table."""
        if self._console is None:
            self._console = Console(file=self.stream)
        return self._console

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
    status = batch_status(batch)
    return {
        "slot": batch.slot,
        "id": batch.batch_id,
        "label": clean_label(batch.label),
        "status": clean_text(status),
        "done": (event.completed + event.failed) if event else 0,
        "total": event.total if event else 0,
        "failed": event.failed if event else 0,
        "percent": event.percent if event else 0.0,
        "rate": event.rate if event else 0.0,
        "eta": event.eta_seconds if event else float("inf"),
        "error": clean_text(
            batch.error or (event.error_message if event and event.is_terminal else None) or ""
        ),
        "note": event_note(event) if event else "",
    }


def _row(batch: WatchedBatch) -> Row:
    fields = _batch_fields(batch)
    event = batch.event
    return Row(
        name=fields["label"] or batch.batch_id,
        status=fields["status"],
        percent=fields["percent"],
        done=fields["done"],
        total=fields["total"],
        failed=fields["failed"],
        rate=fields["rate"],
        eta=fields["eta"],
        eta_low=event.eta_low if event else math.inf,
        eta_high=event.eta_high if event else math.inf,
        error=fields["error"],
        slot=batch.slot,
        note=fields["note"],
    )


def _table(batches: list[WatchedBatch], health: dict[str, Any]) -> Any:
    """The header line and the batches, each fitted to the terminal's width when drawn."""
    from rich.console import Group
    from rich.text import Text

    api = (
        Text("API ok", style="green")
        if health["api_ok"]
        else Text(f"API: {health['message']}", style="bold red")
    )
    age = health["poll_age"]
    header = FittedLine(
        [
            (3, Text("voyage-progress", style="bold")),
            (0, api),
            (1, Text(f"polled {format_duration(age)} ago" if age is not None else "not polled yet")),
            (4, Text(f"{health['requests']} requests")),
            (2, Text(f"OSC → {', '.join(health['destinations'])}")),
            (5, Text(f"control {health['control']}" if health["control"] else "")),
        ]
    )
    if not batches:
        return Group(header, Text("no batches yet", style="dim"))
    return Group(header, FittedTable([_row(batch) for batch in batches]))
