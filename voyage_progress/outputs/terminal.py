"""What the sidecar shows a person: live bars in a terminal, log lines anywhere else.

``live``: a table redrawn four times a second (rich). ``text``: one line per change of a
batch, an event or the API's health. ``json``: the same as JSON objects, one per line, for log
collectors. ``none``: silence. The view is an output: it is given the sidecar's frames.

Labels, statuses, errors and log messages come from the API or the network: they are shown as
plain text (never read as rich markup) and cleaned of what would act on the terminal.

Log lines never hold up the sidecar: they leave through ``LineWriter`` (a full or closed
output drops lines, counted, instead of blocking or raising), and the log handler never raises.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from rich.console import Console

from ..core.commands import CommandHandler
from ..core.format import format_duration
from ..core.frame import BatchSnapshot, Event, EventKind, Frame, Health
from ..core.text import clean_text
from ._lines import LineWriter
from .table import REFRESH_PER_SECOND, FittedLine, FittedTable, Row, describe, note, shown_error

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.live import Live

__all__ = ["MODES", "SidecarView"]

MODES = ("live", "text", "json", "none")
#: The longest message or log line shown: a long one, but a line.
_MAX_MESSAGE = 2000


class SidecarView:
    def __init__(self, mode: str = "text", stream: TextIO | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown display {mode!r}; one of: {', '.join(MODES)}")
        self.mode = mode
        self.stream = stream or sys.stdout
        self._last: dict[str, str] = {}
        self._console: Console | None = None
        self._live: Live | None = None
        self._frame: Frame | None = None
        self._health: str | None = None
        #: The batches are of several providers: log lines name each one's.
        self._mixed = False
        self._lines = LineWriter(self.stream, self._dropped) if mode in ("text", "json") else None

    @property
    def dropped(self) -> int:
        """Log lines dropped because the output did not take them."""
        return self._lines.dropped if self._lines else 0

    def close(self) -> None:
        """Let the log lines still queued out (waiting a moment at most for a slow reader)."""
        if self._lines is not None:
            self._lines.close()

    # -- the output ------------------------------------------------------------------------------

    @property
    def endpoints(self) -> Sequence[str]:
        return ()

    async def start(self, commands: CommandHandler) -> None:
        """In ``live`` mode, the live table starts here."""
        if self.mode != "live":
            return
        from rich.live import Live

        self._live = Live(
            get_renderable=self._render,
            console=self._rich_console(),
            refresh_per_second=REFRESH_PER_SECOND,
            transient=False,
        )
        self._live.start()

    def publish(self, frame: Frame) -> None:
        self._frame = frame
        if self.mode == "text" and frame.news:  # only a frame with lines to write reads them all
            self._mixed = len({batch.provider for batch in frame.batches}) > 1
        for item in frame.news:
            if not isinstance(item, Event):
                self.batch_changed(item)
            elif item.batch is not None:  # the sidecar's own start and shutdown are not shown
                self.event(item.kind, item.batch)
        health = frame.health
        if self._health is not None and health.message != self._health:
            self.health_changed(health.api_ok, health.message)
        self._health = health.message

    async def aclose(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    # -- what it shows ---------------------------------------------------------------------------

    def batch_changed(self, batch: BatchSnapshot) -> None:
        if self.mode not in ("text", "json"):
            return
        record = _record(batch)
        key = f"{batch.status} {batch.done} {batch.failed} {batch.total} {record['error']} {record['note']}"
        if self._last.get(batch.batch_id) == key:
            return
        self._last[batch.batch_id] = key
        if self.mode == "json":
            self._json("batch", **record)
        else:
            whose = f"{batch.provider} " if self._mixed else ""
            noted = f" ({record['note']})" if record["note"] else ""
            self._text(f"slot {batch.slot} {whose}{describe(batch)}{noted}")

    def event(self, kind: EventKind, batch: BatchSnapshot) -> None:
        if kind is EventKind.UNWATCH:
            self._last.pop(batch.batch_id, None)
        if self.mode == "json":
            self._json(
                "event",
                kind=kind.value,
                id=batch.batch_id,
                provider=batch.provider,
                slot=batch.slot,
                label=batch.label,
            )
        elif self.mode == "text":
            whose = f", {batch.provider}" if self._mixed else ""
            label = f", {batch.label}" if batch.label else ""
            self._text(f"event {kind} {batch.batch_id} (slot {batch.slot}{whose}{label})")
        elif self.mode == "live" and kind is not EventKind.WATCH:
            error = shown_error(batch) if kind is not EventKind.UNWATCH else ""
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

    def _render(self) -> RenderableType:
        frame = self._frame
        return _table(frame.batches, frame.health) if frame is not None else ""

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


def _record(batch: BatchSnapshot) -> dict[str, Any]:
    """A batch as a JSON log record (its fields are a format log collectors read: keep them)."""
    return {
        "slot": batch.slot,
        "id": batch.batch_id,
        "provider": batch.provider,
        "label": batch.label,
        "status": batch.status,
        "done": batch.done,
        "total": batch.total,
        "failed": batch.failed,
        "percent": batch.percent,
        "rate": batch.rate or 0.0,
        "eta": batch.eta,
        "error": shown_error(batch),
        "note": note(batch),
    }


def _table(batches: Sequence[BatchSnapshot], health: Health) -> RenderableType:
    """The header line and the batches, each fitted to the terminal's width when drawn."""
    from rich.console import Group
    from rich.text import Text

    api = Text("API ok", style="green") if health.api_ok else Text(f"API: {health.message}", style="bold red")
    age = health.poll_age
    endpoints = [(2 if number == 0 else 5, Text(where)) for number, where in enumerate(health.endpoints)]
    header = FittedLine(
        [
            (3, Text("voyage-progress", style="bold")),
            (0, api),
            (1, Text(f"polled {format_duration(age)} ago" if age is not None else "not polled yet")),
            (4, Text(f"{health.requests} requests")),
            *endpoints,
        ]
    )
    if not batches:
        return Group(header, Text("no batches yet", style="dim"))
    mixed = len({batch.provider for batch in batches}) > 1
    return Group(header, FittedTable([Row.of(batch, with_provider=mixed) for batch in batches]))
