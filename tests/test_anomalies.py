"""Wrong answers from the API: batch objects that go back, contradict themselves, or lack
fields. Each is counted and flagged; none is shown as progress that did not happen, and none
ends the watch."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest

from tests.conftest import FAST_RETRIES
from tests.test_watcher import Clock, make_watcher, run_until_ended
from voyage_progress import BatchJob, VoyageBatchClient
from voyage_progress.outputs.osc._messages import batch_messages
from voyage_progress.simulator import Faults, run_simulator
from voyage_progress.simulator._glitches import GLITCHES, glitch_body
from voyage_progress.simulator._voyage import VOYAGE
from voyage_progress.watcher import Listeners, WatchedBatch


def batch_object(
    status: str = "in_progress", total: int = 100, completed: int = 40, failed: int = 2
) -> dict[str, Any]:
    return {
        "id": "batch-1",
        "object": "batch",
        "status": status,
        "request_counts": {"total": total, "completed": completed, "failed": failed},
        "created_at": "2026-11-24T10:00:00+00:00",
        "metadata": {},
    }


@pytest.fixture
def watched() -> tuple[Any, WatchedBatch]:
    watcher, _ = make_watcher(None, Clock())  # type: ignore[arg-type]  # nothing here polls
    batch = watcher.watch("batch-1")
    watcher._apply(batch, BatchJob.from_dict(batch_object()))
    return watcher, batch


@pytest.mark.parametrize(
    ("answer", "shown", "why"),
    [
        (batch_object(completed=30, failed=1), (100, 40, 2), "went backwards"),
        (batch_object(completed=120), (100, 40, 2), "more requests done than the batch holds"),
        (batch_object(total=200, completed=50), (100, 40, 2), "a different total"),
        (batch_object(status="validating"), (100, 40, 2), "a status that went back"),
        (batch_object(status="completed", completed=20), (100, 40, 2), "an end with fewer"),
        ({**batch_object(), "status": None}, (100, 40, 2), "unreadable status"),
        (
            {**batch_object(), "request_counts": {"total": "100", "completed": 1.5, "failed": []}},
            (100, 40, 2),
            "unreadable request_counts.total, request_counts.completed, request_counts.failed",
        ),
        (batch_object(completed=50, failed=60), (100, 40, 2), "more requests done"),
    ],
)
def test_a_wrong_answer_is_counted_and_never_shown_as_progress(
    watched: tuple[Any, WatchedBatch],
    answer: dict[str, Any],
    shown: tuple[int, int, int],
    why: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    watcher, batch = watched
    watcher._apply(batch, BatchJob.from_dict(answer))
    counts = batch.job.request_counts
    assert (counts.total, counts.completed, counts.failed) == shown
    assert batch.status.value == "in_progress" and batch.anomalies == 1
    assert why in caplog.text
    watcher._apply(batch, BatchJob.from_dict(batch_object(completed=41)))
    assert batch.job.request_counts.completed == 41 and batch.anomalies == 1  # a good answer still lands


def test_an_unknown_status_is_shown_as_it_is_and_flagged(watched: tuple[Any, WatchedBatch]) -> None:
    watcher, batch = watched
    watcher._apply(batch, BatchJob.from_dict(batch_object(status="paused", completed=45)))
    assert (batch.status.value, batch.job.request_counts.completed, batch.anomalies) == ("paused", 45, 1)
    messages = dict((address, args[0]) for address, args in batch_messages("/voyage", batch.snapshot(), 0.0))
    assert messages["/voyage/batch/0/anomalies"] == 1
    assert messages["/voyage/batch/0/status"] == "paused"


def test_a_missing_label_field_is_flagged_but_the_progress_lands(watched: tuple[Any, WatchedBatch]) -> None:
    watcher, batch = watched
    watcher._apply(
        batch, BatchJob.from_dict({**batch_object(completed=50), "metadata": "x", "created_at": 7j})
    )
    assert batch.job.request_counts.completed == 50 and batch.anomalies == 1


def test_each_glitch_changes_a_batch_object() -> None:
    rng = random.Random(0)
    for name, glitch in GLITCHES.items():
        original = batch_object()
        changed = batch_object()
        for _ in range(5):
            glitch(changed, VOYAGE.glitch_shape, rng)
        assert changed != original, name
    page = {"object": "list", "data": [batch_object(), batch_object(), {"object": "file"}]}
    assert len(glitch_body(page, rng, VOYAGE)) == 2
    assert glitch_body({"detail": "nope"}, rng, VOYAGE) == []


def test_rate_limits_come_in_bursts() -> None:
    faults = Faults.parse("429=0.1,429-bare=0.1,burst=4,seed=5")
    drawn = [faults.draw() for _ in range(2000)]
    runs = [len(run) for run in "".join("x" if d else "." for d in drawn).split(".") if run]
    assert min(runs) >= 4 and "burst=4" in faults.describe()
    with pytest.raises(ValueError, match="burst"):
        Faults(burst=0)


async def test_a_watch_through_glitching_answers_ends_exact() -> None:
    """A third of all answers glitched: every batch still ends, with its exact final counts,
    and no update ever showed counts going back or beyond the total."""
    async with run_simulator(speed=0, seed=4, faults=Faults(glitch=0.3, seed=9)) as sim:
        ids = [
            sim.add_batch(80, scenario) for scenario in ["normal", "partial_failures", "cancel", "stall"] * 3
        ]
        async with VoyageBatchClient(api_key="k", base_url=sim.base_url, retry_policy=FAST_RETRIES) as client:
            clock = Clock()
            watcher, events = make_watcher(client, clock)
            seen: dict[str, list[tuple[int, int, int]]] = {}

            def record(batch: WatchedBatch) -> None:
                counts = batch.job.request_counts if batch.job else None
                if counts is not None:
                    seen.setdefault(batch.batch_id, []).append(
                        (counts.total, counts.completed, counts.failed)
                    )

            watcher.listeners = Listeners(on_update=record, on_event=watcher.listeners.on_event)
            for batch_id in ids:
                watcher.watch(batch_id)
            await run_until_ended(watcher, sim, clock)
            sim.faults.glitch = 0.0
            truth = {job.id: job for job in (await client.list_batches(limit=100)).data}
        assert sum(sim.stats.glitches.values()) > 20 and set(sim.stats.glitches) == set(GLITCHES)
        for batch in watcher.batches.values():
            assert batch.job.request_counts == truth[batch.batch_id].request_counts
            assert batch.status == truth[batch.batch_id].status
            history = seen[batch.batch_id]
            assert all(c + f <= t for t, c, f in history if t)
            assert all(a[1] <= b[1] and a[2] <= b[2] for a, b in itertools.pairwise(history))
        assert sum(b.anomalies for b in watcher.batches.values()) > 0
        assert sorted(kind for kind, _ in events if kind not in ("watch",)).count("complete") == 9
