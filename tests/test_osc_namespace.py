"""The namespace is the single source of truth: the documentation is generated from it, and it
only uses types every receiver can read."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from voyage_progress.core.events import BatchProgressEvent
from voyage_progress.core.frame import EventKind, Summary
from voyage_progress.core.models import PHASES, BatchJob, BatchStatus, RequestCounts
from voyage_progress.outputs.osc import (
    CONTROL,
    EVENT_KINDS,
    NAMESPACE,
    PHASE_NAMES,
    STATUS_ERROR,
    STATUS_PENDING,
    STATUSES,
    UNKNOWN,
)
from voyage_progress.outputs.osc._messages import batch_messages, summary_messages
from voyage_progress.outputs.osc._namespace import render_json, render_markdown
from voyage_progress.outputs.table import Row
from voyage_progress.watcher import WatchedBatch

DOCS = Path(__file__).parent.parent / "docs" / "OSC.md"
ALL_ADDRESSES = [address for addresses in NAMESPACE.values() for address in addresses]


def test_docs_osc_md_is_the_generated_markdown() -> None:
    assert DOCS.read_text(encoding="utf-8") == render_markdown(), (
        "docs/OSC.md is out of date: regenerate it with render_markdown()"
    )


def test_markdown_lists_every_address() -> None:
    markdown = render_markdown(prefix="/td")
    for address in ALL_ADDRESSES:
        assert f"`/td{address.path}`" in markdown


def test_json_is_valid_and_lists_every_address() -> None:
    document = json.loads(render_json())
    listed = [entry["address"] for entries in document["groups"].values() for entry in entries]
    assert listed == [f"/voyage{address.path}" for address in ALL_ADDRESSES]
    assert document["phases"] == list(PHASE_NAMES)
    assert set(document["groups"]) == set(NAMESPACE)


def test_addresses_are_unique_and_well_formed() -> None:
    paths = [address.path for address in ALL_ADDRESSES]
    assert len(paths) == len(set(paths))
    for path in paths:
        assert re.fullmatch(r"(/[a-z_]+|/\{slot\})+", path), path


def test_types_are_int_float_or_string_only() -> None:
    control = set(vars(CONTROL).values())
    for address in ALL_ADDRESSES:
        if address in control:  # alternatives ("s|ss") and "" for no arguments
            assert re.fullmatch(r"[ifs]*(\|[ifs]*)*", address.types), address
        else:
            assert re.fullmatch(r"[ifs]+", address.types), address


def test_phase_names_follow_the_models() -> None:
    assert list(PHASE_NAMES) == [status.value for status in PHASES]


def _every_kind_of_batch() -> list[WatchedBatch]:
    """A batch in every state the sidecar can hold one in: not read yet, unreadable, and read
    with each status the API can answer (one this version does not know included)."""
    batches = [WatchedBatch("batch-pending", 0), WatchedBatch("batch-gone", 1, error="batch not found")]
    for slot, status in enumerate([*BatchStatus, BatchStatus("paused")], start=2):
        job = BatchJob(f"batch-{slot}", status=status, request_counts=RequestCounts(10, 4, 1))
        event = BatchProgressEvent.from_job(job, datetime.now(UTC))
        batches.append(WatchedBatch(job.id, slot, job=job, event=event))
    return batches


def _sent(batch: WatchedBatch, name: str) -> object:
    messages = dict(batch_messages("/voyage", batch.snapshot(), poll_age=None))
    return messages[f"/voyage/batch/{batch.slot}/{name}"][0]


def test_every_status_the_sidecar_sends_is_in_the_namespace_and_its_docs() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    sent = {_sent(batch, "status"): _sent(batch, "phase") for batch in _every_kind_of_batch()}
    shown = {Row.of(batch.snapshot()).status for batch in _every_kind_of_batch()}

    assert shown == set(sent), "the terminal and OSC must show the same statuses"
    undocumented = {status for status in sent if status not in STATUSES} - {"paused"}
    assert not undocumented, f"statuses sent but not in the namespace: {undocumented}"
    assert {STATUS_PENDING, STATUS_ERROR} <= set(sent) and set(STATUSES) <= set(sent)
    for status, meaning in STATUSES.items():
        assert f"| `{status}` | {sent[status]} | {meaning} |" in docs, status
    assert sent["paused"] == PHASE_NAMES.index("unknown")  # a new status: as sent, phase unknown
    assert json.loads(render_json())["statuses"] == STATUSES


def test_the_eta_of_an_end_without_results_is_unknown_on_osc() -> None:
    by_status = {batch.snapshot().status: batch for batch in _every_kind_of_batch()}
    for status in ("failed", "cancelled", "expired", STATUS_ERROR):
        assert _sent(by_status[status], "eta") == UNKNOWN, status
    assert _sent(by_status["completed"], "eta") == 0.0

    def all_eta(*statuses: str) -> object:
        summary = Summary.of(by_status[s].snapshot() for s in statuses)
        return dict(summary_messages("/voyage", summary))["/voyage/all/eta"][0]

    assert all_eta("completed", "completed") == 0.0
    assert all_eta("completed", "cancelled") == UNKNOWN
    assert all_eta("completed", STATUS_ERROR) == UNKNOWN
    assert all_eta() == 0.0  # nothing watched: nothing to wait for
    running = by_status["in_progress"]
    assert all_eta("in_progress", "failed") == UNKNOWN  # its ETA is not known yet (no metrics)
    running.event.eta_seconds = 42.0  # type: ignore[union-attr]
    assert all_eta("in_progress", "failed") == 42.0  # an active batch: the time until it is done


def test_every_event_kind_the_sidecar_sends_is_in_the_namespace() -> None:
    kinds = set(EventKind)  # the sidecar sends events of these kinds, and of no others
    assert {"start", "shutdown", "watch", "error", "complete"} <= kinds
    assert kinds == set(EVENT_KINDS)
