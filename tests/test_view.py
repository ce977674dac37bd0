"""What a person sees: the live table, the log lines and the JSON lines."""

from __future__ import annotations

import io
import itertools
import json
import re
from datetime import datetime, timezone
from typing import Any

import pytest
from rich.cells import cell_len
from rich.console import Console

from voyage_progress import BatchJob, BatchProgressEvent, BatchProgressMetrics
from voyage_progress.core.format import format_duration
from voyage_progress.core.frame import BatchSnapshot, EventKind, Frame, Health
from voyage_progress.outputs.table import COLUMNS, ProgressView
from voyage_progress.outputs.terminal import SidecarView, _table
from voyage_progress.watcher import WatchedBatch

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def batch(
    slot: int,
    status: str,
    done: int = 0,
    total: int = 0,
    label: str = "",
    error: str | None = None,
    failed: int = 0,
    errors: list[dict[str, Any]] | None = None,
    provider: str = "voyage",
) -> WatchedBatch:
    watched = WatchedBatch(f"batch-{slot:037d}", slot, label, provider=provider)
    if error:
        watched.error = error
        return watched
    job = BatchJob.from_dict(
        {
            "id": watched.batch_id,
            "status": status,
            "request_counts": {"total": total, "completed": done - failed, "failed": failed},
            "errors": {"data": errors} if errors else None,
        }
    )
    samples = [(NOW, 0), (NOW.replace(second=25), done // 2), (NOW.replace(second=50), done)]
    metrics = BatchProgressMetrics(start_time=NOW, samples=samples)
    watched.job = job
    watched.event = BatchProgressEvent.from_job(job, NOW, metrics)
    return watched


def snapshots(batches: list[WatchedBatch]) -> list[BatchSnapshot]:
    return [b.snapshot() for b in batches]


def test_the_live_table() -> None:
    batches = [
        batch(0, "in_progress", 250, 1000, "corpus"),
        batch(1, "validating"),
        batch(2, "x", error="batch not found"),
    ]
    health = Health(
        api_ok=True,
        message="ok",
        poll_age=2.0,
        requests=12,
        endpoints=("OSC → 127.0.0.1:7000", "control 127.0.0.1:7001"),
        epoch=5,
    )
    console = Console(file=io.StringIO(), width=140, color_system=None)
    console.print(_table(snapshots(batches), health))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "API ok" in text and "polled 2s ago" in text and "OSC → 127.0.0.1:7000" in text
    assert "corpus" in text and "25.0" in text and "250/1000" in text and "5.0/s" in text
    assert "2m 45s" in text  # 150 s of requests, 15 of finalizing
    assert "validating" in text and "batch not found" in text


def test_the_table_says_when_the_api_is_away() -> None:
    health = Health(
        api_ok=False,
        message="API unreachable: timeout",
        poll_age=95.0,
        requests=3,
        endpoints=("OSC → 127.0.0.1:7000",),
        epoch=5,
    )
    console = Console(file=io.StringIO(), width=120, color_system=None)
    console.print(_table([], health))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert (
        "API: API unreachable: timeout" in text and "polled 1m 35s ago" in text and "no batches yet" in text
    )


def test_log_lines_only_on_change() -> None:
    stream = io.StringIO()
    view = SidecarView("text", stream)
    running = batch(0, "in_progress", 250, 1000, "corpus").snapshot()
    view.batch_changed(running)
    view.batch_changed(running)
    view.event(EventKind.COMPLETE, running)
    view.health_changed(False, "API unreachable: 503")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3
    assert lines[0].endswith("slot 0 corpus in_progress 250/1000 (25.0%) rate 5.0/s eta 2m 45s")
    assert "event complete" in lines[1] and "api PROBLEM: API unreachable: 503" in lines[2]


def test_a_stall_and_a_deadline_at_risk_are_said_in_the_log_and_the_table() -> None:
    stream = io.StringIO()
    view = SidecarView("text", stream)
    running = batch(0, "in_progress", 250, 1000, "corpus")
    view.batch_changed(running.snapshot())
    assert running.event is not None
    running.event.stalled = running.event.at_risk = True
    view.batch_changed(running.snapshot())  # the counts did not move, the flags did: a line
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and lines[1].endswith("eta 2m 45s (stalled, at risk)")
    console = Console(file=io.StringIO(), width=160, color_system=None)
    console.print(_table([running.snapshot()], HEALTH))
    assert "in_progress (stalled, at risk)" in console.file.getvalue()  # type: ignore[attr-defined]


def test_json_lines() -> None:
    stream = io.StringIO()
    view = SidecarView("json", stream)
    view.batch_changed(batch(3, "in_progress", 10, 20).snapshot())
    view.event(EventKind.WATCH, batch(3, "in_progress", 10, 20).snapshot())
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert records[0]["type"] == "batch" and records[0]["slot"] == 3 and records[0]["percent"] == 50.0
    assert records[1] == {**records[1], "type": "event", "kind": "watch", "slot": 3}


def test_log_lines_name_the_provider_in_a_show_of_several() -> None:
    voyage, anthropic = (
        batch(0, "in_progress", 1, 4, "corpus"),
        batch(1, "in_progress", 2, 4, "prompts", provider="anthropic"),
    )
    frame = Frame(
        at=0.0,
        health=HEALTH,
        news=(anthropic.snapshot(),),
        watched=lambda: (voyage.snapshot(), anthropic.snapshot()),
    )
    text, as_json = io.StringIO(), io.StringIO()
    SidecarView("text", text).publish(frame)
    SidecarView("json", as_json).publish(frame)
    assert text.getvalue().split(" ", 1)[1].startswith("slot 1 anthropic prompts in_progress 2/4")
    assert json.loads(as_json.getvalue())["provider"] == "anthropic"
    alone = io.StringIO()
    SidecarView("text", alone).publish(
        Frame(at=0.0, health=HEALTH, news=(voyage.snapshot(),), watched=lambda: (voyage.snapshot(),))
    )
    assert (
        alone.getvalue().split(" ", 1)[1].startswith("slot 0 corpus in_progress")
    )  # one provider: as before


LONG_LABEL = "product descriptions, spring catalogue 2026, every locale"
VALIDATION_ERROR = "invalid_request (line 7): the input is not JSON Lines, and nothing was embedded"
WIDTHS = (60, 80, 100, 160)
HEALTH = Health(
    api_ok=True,
    message="ok",
    poll_age=2.0,
    requests=12,
    endpoints=("OSC → 127.0.0.1:7000, 192.168.1.20:7000", "control 127.0.0.1:7001"),
    epoch=5,
)
BAR = re.compile(r"[━─]{12,}")  # the bar: at least its minimum width, done and to do
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def crowded() -> list[WatchedBatch]:
    """Long labels, failures, an error, batches of three providers: those that make a table too
    wide."""
    return [
        batch(0, "in_progress", 250, 1000, "corpus"),
        batch(1, "in_progress", 4321, 12000, LONG_LABEL, failed=37, provider="anthropic"),
        batch(
            2,
            "failed",
            label="broken input",
            errors=[
                {
                    "code": "invalid_request",
                    "line": 7,
                    "message": "the input is not JSON Lines, and nothing was embedded",
                }
            ],
        ),
        batch(3, "x", error="batch not found: it was deleted or belongs to another organisation"),
        batch(4, "validating"),
        batch(5, "completed", 800, 800, "a finished batch with a long name", provider="openai"),
    ]


def crowded_table() -> Any:
    return _table(snapshots(crowded()), HEALTH)


def render(renderable: Any, width: int, terminal: bool) -> list[str]:
    """What a terminal of ``width`` columns shows, colours stripped."""
    console = Console(file=io.StringIO(), width=width, force_terminal=terminal, color_system=None)
    if terminal:
        console = Console(file=io.StringIO(), width=width, force_terminal=True, color_system="truecolor")
    console.print(renderable)
    return [ANSI.sub("", line) for line in console.file.getvalue().splitlines()]  # type: ignore[attr-defined]


def columns_shown(header_line: str) -> set[str]:
    return set(re.split(r"\s{2,}", header_line.strip())) - {""}


@pytest.mark.parametrize("terminal", [False, True], ids=["file", "terminal"])
@pytest.mark.parametrize("width", WIDTHS)
def test_the_live_table_fits_the_width_and_keeps_bar_percent_and_eta(width: int, terminal: bool) -> None:
    batches = crowded()
    lines = render(_table(snapshots(batches), HEALTH), width, terminal)
    assert all(cell_len(line) <= width for line in lines), "\n".join(lines)
    assert len(lines) == 2 + len(batches), "a label wrapped onto a second line"
    assert "API ok" in lines[0]
    for watched, line in zip(batches, lines[2:], strict=True):
        event = watched.event
        percent, eta = (event.percent, event.eta_seconds) if event else (0.0, float("inf"))
        assert BAR.search(line) and f" {percent:.1f} " in line, line
        assert f" {format_duration(eta)} " in f"{line} ", line
    assert "…" in lines[3] and LONG_LABEL[:10] in lines[3]  # ellipsized, not wrapped


def test_too_narrow_for_all_four_the_label_and_bar_give_way() -> None:
    lines = render(crowded_table(), 32, False)
    assert columns_shown(lines[1]) == {"batch", "%", "ETA"}
    assert all(cell_len(line) <= 32 for line in lines)
    assert " 25.0  2m 45s" in lines[2] and " 36.0 " in lines[3] and BAR.search(lines[2]) is None
    assert re.search(r"[━─]{4,}", lines[2])


def test_the_less_important_columns_come_as_the_width_grows() -> None:
    by_importance = [c.header for c in sorted(COLUMNS, key=lambda c: c.priority) if c.header]
    shown = {width: columns_shown(render(crowded_table(), width, False)[1]) for width in WIDTHS}
    assert shown[60] == {"batch", "%", "ETA", "status"}
    assert shown[160] == set(by_importance)
    for narrower, wider in itertools.pairwise(WIDTHS):
        assert shown[narrower] < shown[wider]
    for columns in shown.values():  # never a less important column in place of a more important one
        assert columns == set(by_importance[: len(columns)])


def test_the_header_drops_its_least_useful_parts_first() -> None:
    narrow = render(crowded_table(), 60, False)[0]
    wide = render(crowded_table(), 160, False)[0]
    assert narrow.startswith("API ok  polled 2s ago") and "control" not in narrow
    assert "12 requests" in wide and "OSC → 127.0.0.1:7000, 192.168.1.20:7000" in wide
    assert "control 127.0.0.1:7001" in wide


def test_the_error_text_shows_when_there_is_room() -> None:
    narrow, wide = ("\n".join(render(crowded_table(), width, False)) for width in (80, 180))
    assert "invalid_request (line 7)" in wide and "batch not found: it was" in wide
    assert "invalid_request" not in narrow


@pytest.mark.parametrize("width", WIDTHS)
def test_the_submit_wait_bars_fit_the_width(width: int) -> None:
    view = ProgressView(io.StringIO(), live=True)
    running = batch(0, "in_progress", 2500, 10000, failed=37)
    assert running.event is not None
    view.update(running.event)
    lines = render(view, width, True)
    header, row = lines
    assert cell_len(header) <= width and cell_len(row) <= width
    assert BAR.search(row) and " 25.0 " in row and " 2m 45s" in row and row.startswith("batch-000")
    if width >= 80:
        assert "2500/10000" in row and " 37 " in row and "in_progress" in row
    assert "#" not in columns_shown(header)  # submit --wait has no slots


def test_log_lines_keep_long_labels_and_errors_whole() -> None:
    stream = io.StringIO()
    view = SidecarView("text", stream)
    for watched in crowded():
        view.batch_changed(watched.snapshot())
    text = stream.getvalue()
    assert f"slot 1 {LONG_LABEL} in_progress 4321/12000 (36.0%) rate 86.4/s" in text and "failed 37" in text
    assert f"slot 2 broken input failed 0/0 (0.0%) rate -- eta -- - {VALIDATION_ERROR}" in text
    assert "…" not in text


def test_live_messages_name_the_error_and_wrap_between_words() -> None:
    stream = io.StringIO()
    view = SidecarView("live", stream)
    view.event(EventKind.FAILED, crowded()[2].snapshot())
    view.event(EventKind.ERROR, crowded()[3].snapshot())
    demo = "demo: simulator at http://127.0.0.1:45143/v1 (30x), OSC to 127.0.0.1:47312, 192.168.1.20:7000"
    view.message(demo)  # before the table starts, as the demo does
    words = stream.getvalue().split()
    assert " ".join(words).startswith(f"failed: broken input - {VALIDATION_ERROR} error: batch-")
    assert "- batch not found: it was deleted" in " ".join(words)
    assert " ".join(words).endswith(demo)  # no timestamp, no word cut in two


def test_an_end_without_results_shows_no_eta() -> None:
    stream = io.StringIO()
    view = SidecarView("text", stream)
    view.batch_changed(batch(0, "cancelled", 400, 1000, "corpus").snapshot())
    view.batch_changed(batch(1, "completed", 1000, 1000, "archive").snapshot())
    cancelled, completed = stream.getvalue().splitlines()
    assert cancelled.endswith("cancelled 400/1000 (40.0%) rate -- eta -- - batch cancelled")
    assert completed.endswith("completed 1000/1000 (100.0%) rate -- eta 0s")
    health = Health(api_ok=True, message="ok", poll_age=1.0, requests=1)
    console = Console(file=io.StringIO(), width=140, color_system=None)
    console.print(_table([batch(0, "failed", 0, 10, "corpus").snapshot()], health))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    (row,) = [line for line in text.splitlines() if "corpus" in line]
    assert "0s" not in row and "--" in row, row  # the ETA is unknown, not 0s
