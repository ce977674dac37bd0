"""What a person sees: the live table, the log lines and the JSON lines."""

from __future__ import annotations

import io
import json
import re
from datetime import datetime, timezone

from rich.console import Console

from voyage_progress import BatchJob, BatchProgressEvent, BatchProgressMetrics
from voyage_progress._view import SidecarView, _table
from voyage_progress._watcher import WatchedBatch

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def batch(
    slot: int, status: str, done: int = 0, total: int = 0, label: str = "", error: str | None = None
) -> WatchedBatch:
    watched = WatchedBatch(f"batch-{slot:037d}", slot, label)
    if error:
        watched.error = error
        return watched
    job = BatchJob.from_dict(
        {
            "id": watched.batch_id,
            "status": status,
            "request_counts": {"total": total, "completed": done, "failed": 0},
        }
    )
    metrics = BatchProgressMetrics(start_time=NOW, samples=[(NOW, 0), (NOW.replace(second=50), done)])
    watched.job = job
    watched.event = BatchProgressEvent.from_job(job, NOW, metrics)
    return watched


def test_the_live_table() -> None:
    batches = [
        batch(0, "in_progress", 250, 1000, "corpus"),
        batch(1, "validating"),
        batch(2, "x", error="batch not found"),
    ]
    health = {
        "api_ok": True,
        "message": "ok",
        "poll_age": 2.0,
        "requests": 12,
        "destinations": ["127.0.0.1:7000"],
        "control": "127.0.0.1:7001",
        "epoch": 5,
    }
    console = Console(file=io.StringIO(), width=140, color_system=None)
    console.print(_table(batches, health))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "API ok" in text and "polled 2s ago" in text and "OSC → 127.0.0.1:7000" in text
    assert "corpus" in text and "25.0" in text and "250/1000" in text and "5.0/s" in text and "2m 30s" in text
    assert "validating" in text and "batch not found" in text


def test_the_table_says_when_the_api_is_away() -> None:
    health = {
        "api_ok": False,
        "message": "API unreachable: timeout",
        "poll_age": 95.0,
        "requests": 3,
        "destinations": ["127.0.0.1:7000"],
        "control": None,
        "epoch": 5,
    }
    console = Console(file=io.StringIO(), width=120, color_system=None)
    console.print(_table([], health))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert (
        "API: API unreachable: timeout" in text and "polled 1m 35s ago" in text and "no batches yet" in text
    )


def test_log_lines_only_on_change() -> None:
    stream = io.StringIO()
    view = SidecarView("text", stream)
    running = batch(0, "in_progress", 250, 1000, "corpus")
    view.batch_changed(running)
    view.batch_changed(running)
    view.event("complete", running)
    view.health_changed(False, "API unreachable: 503")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3
    assert lines[0].endswith("slot 0 corpus in_progress 250/1000 (25.0%) rate 5.0/s eta 2m 30s")
    assert "event complete" in lines[1] and "api PROBLEM: API unreachable: 503" in lines[2]


def test_json_lines() -> None:
    stream = io.StringIO()
    view = SidecarView("json", stream)
    view.batch_changed(batch(3, "in_progress", 10, 20))
    view.event("watch", batch(3, "in_progress", 10, 20))
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert records[0]["type"] == "batch" and records[0]["slot"] == 3 and records[0]["percent"] == 50.0
    assert records[1] == {**records[1], "type": "event", "kind": "watch", "slot": 3}


def test_an_end_without_results_shows_no_eta() -> None:
    stream = io.StringIO()
    view = SidecarView("text", stream)
    view.batch_changed(batch(0, "cancelled", 400, 1000, "corpus"))
    view.batch_changed(batch(1, "completed", 1000, 1000, "archive"))
    cancelled, completed = stream.getvalue().splitlines()
    assert cancelled.endswith("cancelled 400/1000 (40.0%) rate -- eta -- - batch cancelled")
    assert completed.endswith("completed 1000/1000 (100.0%) rate -- eta 0s")
    health = {"api_ok": True, "message": "ok", "poll_age": 1.0, "requests": 1, "destinations": []}
    console = Console(file=io.StringIO(), width=140, color_system=None)
    console.print(_table([batch(0, "failed", 0, 10, "corpus")], {**health, "control": None}))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert re.search(r"0/10\s+--\s+--\s+failed", text), text  # rate and ETA unknown, not 0s
