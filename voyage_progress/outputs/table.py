"""Progress in a terminal: live bars when stdout is one, plain lines when it is not.

The bars of ``submit --wait`` and of the sidecar are one table, :data:`COLUMNS`, fitted to the
terminal's width each time it is drawn: the batch, its bar, percent and ETA always show; the
other columns come in order of importance while they fit, so a narrow terminal loses the least
important ones first instead of squeezing every column into ``…``.

A status or an error text is the API's: shown as the snapshot has it, cleaned (see
``voyage_progress.core.text``).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TextIO

from rich.align import AlignMethod
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.live import Live
from rich.text import Text

from ..core.events import BatchProgressEvent
from ..core.format import format_duration, format_rate
from ..core.frame import BatchSnapshot

STATUS_STYLE = {
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
#: Cells between two columns (one of padding on each side).
GAP = 2
#: The narrowest a label or a bar gets in a terminal too narrow for the columns always shown.
NARROWEST = 4
REFRESH_PER_SECOND = 4


def shown_error(batch: BatchSnapshot) -> str:
    """The error a person is shown: once the batch has ended or cannot be read (while it runs,
    its status says as much)."""
    return batch.error if batch.is_terminal else ""


def describe(batch: BatchSnapshot) -> str:
    """One line per batch, for logs and non-terminal output."""
    line = (
        f"{batch.label or batch.batch_id} {batch.status} {batch.done}/{batch.total} "
        f"({batch.percent:.1f}%) rate {format_rate(batch.rate or 0.0)} eta {format_duration(batch.eta)}"
    )
    if batch.failed:
        line += f" failed {batch.failed}"
    if error := shown_error(batch):
        line += f" - {error}"
    return line


@dataclass(frozen=True, slots=True)
class Row:
    """One batch as the live table shows it; ``slot`` only for the sidecar's batches."""

    name: str
    status: str
    percent: float = 0.0
    done: int = 0
    total: int = 0
    failed: int = 0
    rate: float = 0.0
    eta: float = math.inf
    eta_low: float = math.inf
    eta_high: float = math.inf
    error: str = ""
    slot: int | None = None
    #: Whose batch it is; "" where every batch is of one provider (nothing to tell apart).
    provider: str = ""
    note: str = ""  # stalled, at risk: shown beside the status

    @classmethod
    def of(cls, batch: BatchSnapshot, *, with_slot: bool = True, with_provider: bool = False) -> Row:
        return cls(
            name=batch.label or batch.batch_id,
            status=batch.status,
            percent=batch.percent,
            done=batch.done,
            total=batch.total,
            failed=batch.failed,
            rate=batch.rate or 0.0,
            eta=batch.eta,
            eta_low=batch.eta_low,
            eta_high=batch.eta_high,
            error=shown_error(batch),
            slot=batch.slot if with_slot else None,
            provider=batch.provider if with_provider else "",
            note=note(batch),
        )

    @property
    def style(self) -> str:
        return STATUS_STYLE.get(self.status, "white")


class Bar:
    """A progress bar as wide as its column; the unfinished part stays visible without colour."""

    def __init__(self, percent: float, style: str) -> None:
        self.fraction = min(max(percent / 100.0, 0.0), 1.0)
        self.style = style

    def text(self, width: int, console: Console, options: ConsoleOptions) -> Text:
        done = round(width * self.fraction)
        if options.legacy_windows or options.ascii_only:
            full, rest = "#", "-"
        else:
            full, rest = "━", "━" if console.color_system else "─"
        return Text.assemble((full * done, self.style), (rest * (width - done), "bar.back"))


Cell = str | Text | Bar


@dataclass(frozen=True)
class Column:
    """One column of the live table.

    ``priority`` 0 is always shown; the others join in increasing priority while they fit.
    A column is as wide as its widest cell (and header), at most ``max_width``; one with a
    ``min_width`` may be ellipsized down to it, and the one that ``grows`` takes the room left.
    """

    header: str
    priority: int
    cell: Callable[[Row], Cell]
    justify: AlignMethod = "left"
    min_width: int = 0
    max_width: int | None = None
    grows: bool = False


def note(batch: BatchSnapshot) -> str:
    """What the ETA alone does not say: a stall, a deadline at risk, an ETA from history."""
    notes = [
        words
        for flag, words in (
            (batch.stalled, "stalled"),
            (batch.at_risk, "at risk"),
            (batch.eta_from_history, "ETA from past batches"),
        )
        if flag
    ]
    return ", ".join(notes)


def _noted(row: Row) -> str:
    return f" ({row.note})" if row.note else ""


def _band(row: Row) -> str:
    if not (math.isfinite(row.eta_low) and math.isfinite(row.eta_high)):
        return "--"
    if row.eta_high <= 0:  # ended
        return ""
    return f"{format_duration(row.eta_low)}–{format_duration(row.eta_high)}"


#: The live table, in display order. Importance (priority): batch, bar, percent, ETA; status
#: (the bar cannot tell validating, finalizing or failed apart); done/total; failed; the
#: provider (in a show of several); rate; the slot (the N of the OSC addresses); the error text;
#: the ETA's band.
COLUMNS: tuple[Column, ...] = (
    Column("#", 6, lambda row: "" if row.slot is None else str(row.slot), "right"),
    Column("batch", 0, lambda row: row.name, min_width=12, max_width=32),
    Column("provider", 4, lambda row: row.provider),
    Column("", 0, lambda row: Bar(row.percent, row.style), min_width=12, grows=True),
    Column("%", 0, lambda row: f"{row.percent:5.1f}", "right"),  # padded: no jitter as it grows
    Column("done", 2, lambda row: f"{row.done}/{row.total}", "right"),
    Column("failed", 3, lambda row: str(row.failed or ""), "right"),
    Column("rate", 5, lambda row: format_rate(row.rate), "right"),
    Column("ETA", 0, lambda row: format_duration(row.eta).rjust(6), "right"),
    Column("ETA range", 8, _band, "right"),
    Column("status", 1, lambda row: Text.assemble((row.status, row.style), (_noted(row), "bold yellow"))),
    Column("error", 7, lambda row: Text(row.error, style="dim"), min_width=12, max_width=80),
)


@dataclass
class FittedColumn:
    column: Column
    cells: list[Cell]
    natural: int
    least: int
    width: int = field(default=0)


def fit_columns(rows: Sequence[Row], width: int, columns: Sequence[Column] = COLUMNS) -> list[FittedColumn]:
    """The columns shown at ``width`` and their widths, in display order.

    Columns join by priority while their narrowest widths fit (a column with nothing to show
    stays out); the room left widens the ellipsized ones and the bar.
    """
    candidates = [_measure(column, rows) for column in columns]
    candidates = [c for c in candidates if c.column.priority == 0 or any(map(_has_text, c.cells))]
    chosen: list[FittedColumn] = []
    for candidate in sorted(candidates, key=lambda c: c.column.priority):
        needed = sum(c.least for c in chosen) + candidate.least + GAP * len(chosen)
        if needed > width and candidate.column.priority > 0:
            break
        chosen.append(candidate)
    _share_room(chosen, width - sum(c.least for c in chosen) - GAP * (len(chosen) - 1))
    return [c for c in candidates if c in chosen]


def _share_room(chosen: list[FittedColumn], spare: int) -> None:
    """One cell at a time to each column still narrower than its content (and to the bar), so
    a long label does not starve the bar nor the bar the label. Short of room even for the
    columns always shown, the label and the bar give up cells, never the figures."""
    for fitted in chosen:
        fitted.width = fitted.least
    while spare < 0:
        shrinking = [c for c in chosen if c.column.min_width and c.width > NARROWEST]
        if not shrinking:
            return
        for fitted in shrinking[:-spare]:
            fitted.width -= 1
            spare += 1
    growing = [c for c in chosen if c.column.grows or c.natural > c.least]
    while spare > 0 and growing:
        for fitted in list(growing):
            if spare == 0:
                break
            fitted.width += 1
            spare -= 1
            if not fitted.column.grows and fitted.width >= fitted.natural:
                growing.remove(fitted)


def _measure(column: Column, rows: Sequence[Row]) -> FittedColumn:
    cells = [column.cell(row) for row in rows]
    if column.grows:
        return FittedColumn(column, cells, column.min_width, column.min_width)
    natural = max([cell_len(column.header), *(_cell_width(cell) for cell in cells)])
    if column.max_width is not None:
        natural = min(natural, column.max_width)
    least = min(natural, column.min_width) if column.min_width else natural
    return FittedColumn(column, cells, natural, least)


def _cell_width(cell: Cell) -> int:
    return cell_len(cell.plain if isinstance(cell, Text) else str(cell))


def _has_text(cell: Cell) -> bool:
    return isinstance(cell, Bar) or _cell_width(cell) > 0


class FittedTable:
    """The live table of ``rows``, with the columns that fit the width it is drawn at.

    Laid out here rather than by rich's Table, whose own shrinking (and, before rich 13.x,
    its measure of edge padding) would undo the widths chosen.
    """

    def __init__(self, rows: Sequence[Row], columns: Sequence[Column] = COLUMNS) -> None:
        self.rows = rows
        self.columns = columns

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        fitted = fit_columns(self.rows, options.max_width, self.columns)
        yield self._line(_aligned(Text(c.column.header, style="table.header"), c) for c in fitted)
        for index in range(len(self.rows)):
            yield self._line(_drawn(c.cells[index], c, console, options) for c in fitted)

    @staticmethod
    def _line(cells: Iterable[Text]) -> Text:
        line = Text(" " * GAP).join(cells)
        line.no_wrap, line.overflow = True, "ellipsis"  # too narrow even for the four: crop
        return line


def _drawn(cell: Cell, fitted: FittedColumn, console: Console, options: ConsoleOptions) -> Text:
    if isinstance(cell, Bar):
        return cell.text(fitted.width, console, options)
    return _aligned(cell, fitted)


def _aligned(cell: str | Text, fitted: FittedColumn) -> Text:
    text = cell.copy() if isinstance(cell, Text) else Text(cell)
    text.truncate(fitted.width, overflow="ellipsis")
    text.align(fitted.column.justify, fitted.width)
    return text


class FittedLine:
    """Parts of one line, ``(priority, text)``: the least important go until the line fits.

    Priority 0 stays; if that alone is too long, the line wraps rather than hide it.
    """

    def __init__(self, parts: Sequence[tuple[int, Text]], separator: str = "  ") -> None:
        self.parts = parts
        self.separator = separator

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        kept = [part for part in self.parts if part[1].plain]
        while cell_len(self._join(kept).plain) > options.max_width:
            droppable = [part for part in kept if part[0] > 0]
            if not droppable:
                break
            kept.remove(max(reversed(droppable), key=lambda part: part[0]))
        yield self._join(kept)

    def _join(self, parts: Sequence[tuple[int, Text]]) -> Text:
        return Text(self.separator).join(text for _, text in parts)


class ProgressView:
    """One bar per batch with percent, counts, rate, ETA and status; or a line per change."""

    def __init__(self, stream: TextIO | None = None, *, live: bool | None = None) -> None:
        self.stream = stream or sys.stdout
        self.live = self.stream.isatty() if live is None else live
        self._console = Console(file=self.stream, highlight=False)
        self._live = Live(self, console=self._console, refresh_per_second=REFRESH_PER_SECOND)
        self._rows: dict[str, Row] = {}
        self._last_line: dict[str, str] = {}

    def __enter__(self) -> ProgressView:
        if self.live:
            self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live:
            self._live.stop()

    def __rich__(self) -> FittedTable:
        return FittedTable(list(self._rows.values()))

    def update(self, event: BatchProgressEvent, label: str | None = None) -> None:
        batch = BatchSnapshot.of(event.batch_id, -1, label or "", event=event)
        self._rows[event.batch_id] = Row.of(batch, with_slot=False)
        if not self.live:
            self._print_if_changed(batch)

    def message(self, text: str) -> None:
        """A line above the bars (or on its own line without them)."""
        self._console.print(text, markup=False, highlight=False)

    def _print_if_changed(self, batch: BatchSnapshot) -> None:
        key = f"{batch.status} {batch.completed} {batch.failed} {batch.total}"
        if self._last_line.get(batch.batch_id) != key:
            self._last_line[batch.batch_id] = key
            print(describe(batch), file=self.stream, flush=True)
