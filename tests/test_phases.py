"""The phases around the work: finalizing has an ETA of its own, the queue one from history, and
the deadline a flag; the watcher learns the phases, the state file keeps them."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voyage_progress import BatchJob, BatchProgressEvent, BatchProgressMetrics, VoyageBatchClient
from voyage_progress.core.frame import Summary
from voyage_progress.core.phases import PhaseHistory, deadline_of
from voyage_progress.outputs.osc._messages import summary_messages
from voyage_progress.sidecar._state import StateFile
from voyage_progress.simulator import Simulator
from voyage_progress.watcher import Intervals, Listeners, WatchedBatch, WatchEntry, Watcher

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def job(
    status: str,
    total: int = 1000,
    done: int = 0,
    model: str = "voyage-3.5",
    batch_id: str = "batch_1",
    **times: float,
) -> BatchJob:
    return BatchJob.from_dict(
        {
            "id": batch_id,
            "status": status,
            "model": model,
            "completion_window": "12h",
            "request_counts": {"total": total, "completed": done, "failed": 0},
            "created_at": T0.isoformat(),
            **{name: at(seconds).isoformat() for name, seconds in times.items()},
        }
    )


def running_metrics(rate: float = 5.0, until: float = 200.0) -> BatchProgressMetrics:
    metrics = BatchProgressMetrics(start_time=T0, processing_start=at(10))
    for t in range(10, int(until) + 1, 10):
        metrics.add_sample(at(t), int(rate * (t - 10)))
    return metrics


def history_of(*finished: BatchJob) -> PhaseHistory:
    history = PhaseHistory()
    for completed in finished:
        assert history.learn(completed)
    return history


def completed(
    batch_id: str, queue: float, processing: float, finalizing: float, total: int = 1000
) -> BatchJob:
    return job(
        "completed",
        total,
        total,
        batch_id=batch_id,
        in_progress_at=queue,
        finalizing_at=queue + processing,
        completed_at=queue + processing + finalizing,
    )


@settings(max_examples=200, deadline=None, derandomize=True)
@given(finalizing_for=st.floats(0, 100_000), learned=st.booleans())
def test_a_finalizing_batch_is_never_0s_active(finalizing_for: float, learned: bool) -> None:
    """However long finalizing has run, learned or not, its ETA is a positive, finite number,
    and so is the summary's ``/all/eta``."""
    history = history_of(completed("batch_old", 30, 600, 90)) if learned else PhaseHistory()
    now = 700 + finalizing_for
    finalizing = job("finalizing", 1000, 1000, in_progress_at=10, finalizing_at=700)
    metrics = running_metrics()
    metrics.add_sample(at(now), 1000)
    event = BatchProgressEvent.from_job(finalizing, at(now), metrics, history)
    assert 0 < event.eta_seconds < math.inf and event.eta_low <= event.eta_seconds <= event.eta_high
    watched = WatchedBatch("batch_1", 0, job=finalizing, event=event)
    summary = dict(summary_messages("/voyage", Summary.of([watched.snapshot()])))
    assert summary["/voyage/all/eta"][0] > 0


def test_finalizing_counts_down_from_what_past_batches_took() -> None:
    history = history_of(completed("batch_a", 30, 600, 120), completed("batch_b", 20, 900, 120))
    finalizing = job("finalizing", 1000, 1000, in_progress_at=10, finalizing_at=700)
    metrics = running_metrics()
    etas = [
        BatchProgressEvent.from_job(finalizing, at(700 + t), metrics, history).eta_seconds
        for t in (0, 30, 60)
    ]
    assert etas[0] == pytest.approx(120, rel=0.35)  # two batches and the prior
    assert etas[0] - etas[1] == pytest.approx(30) and etas[1] - etas[2] == pytest.approx(30)


def test_the_total_eta_includes_finalizing() -> None:
    """Finalizing is added to the requests' ETA: a tenth of the work's time before any batch
    completed, then the share of it that finalizing took in past batches."""
    metrics = running_metrics()
    running = job("in_progress", 2000, 950, in_progress_at=10)
    requests = metrics.calculate_eta(2000, 950)
    prior = BatchProgressEvent.from_job(running, at(200), metrics).eta_seconds - requests
    assert prior == pytest.approx(0.1 * (190 + requests), rel=0.01)
    history = history_of(*(completed(f"batch_{n}", 30, 600, 300) for n in range(5)))  # half as long
    event = BatchProgressEvent.from_job(running, at(200), metrics, history)
    assert event.eta_seconds - requests == pytest.approx(0.5 * (190 + requests), rel=0.3)
    assert not event.eta_from_history


def test_before_the_first_progress_the_eta_comes_from_history_with_a_wide_band() -> None:
    metrics = BatchProgressMetrics(start_time=T0)
    metrics.add_sample(at(20), 0)
    validating = job("validating", 3000)
    assert math.isinf(BatchProgressEvent.from_job(validating, at(20), metrics, PhaseHistory()).eta_seconds)
    history = history_of(completed("batch_a", 60, 1000, 50, total=2000))  # 2 requests/s
    event = BatchProgressEvent.from_job(validating, at(20), metrics, history)
    assert event.eta_from_history
    assert event.eta_seconds == pytest.approx(40 + 1500 + 50, rel=0.1)  # queue left, work, finalizing
    assert event.eta_high / event.eta_seconds >= 2 and event.eta_seconds / event.eta_low >= 2


def test_the_history_is_learned_per_model_once_per_batch() -> None:
    history = PhaseHistory()
    first = completed("batch_a", 30, 600, 100)
    assert history.learn(first) and not history.learn(first)
    assert (
        history.finalizing["voyage-3.5"].seconds == history.finalizing["*"].seconds == [pytest.approx(1 / 6)]
    )
    other = job("validating", model="voyage-code-3")
    assert history.finalizing_estimate(other.model, 600)[0] == pytest.approx(
        history.finalizing_estimate(None, 600)[0]
    )
    assert not history.learn(job("in_progress"))


def test_the_state_file_keeps_the_history_and_old_files_still_load(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"version": 1, "batches": [{"id": "batch_a", "slot": 0}]}))
    old = StateFile(path)
    assert [entry.batch_id for entry in old.load()] == ["batch_a"]
    assert old.history == PhaseHistory()
    history = history_of(completed("batch_b", 30, 600, 100))
    assert old.save([WatchEntry("batch_a", 0)], history)
    reloaded = StateFile(path)
    assert [entry.batch_id for entry in reloaded.load()] == ["batch_a"]
    assert reloaded.history == history
    path.write_text(
        json.dumps({"version": 1, "batches": [], "history": {"queue": {"m": ["x", 5]}, "seen": 3}})
    )
    damaged = StateFile(path)
    damaged.load()
    assert damaged.history.queue["m"].seconds == [5.0] and damaged.history.seen == []


def test_the_deadline_and_the_risk_of_missing_it() -> None:
    running = job("in_progress", 1000, 100, in_progress_at=10)
    assert deadline_of(running) == T0 + timedelta(hours=12)
    due = job("in_progress", 1000, 100, in_progress_at=10, expected_completion_at=3600)
    assert deadline_of(due) == at(3600)
    slow = running_metrics(rate=0.05, until=3000)  # 1000 requests at 0.05/s: hours more
    event = BatchProgressEvent.from_job(due, at(3000), slow)
    assert event.at_risk and event.deadline_seconds == pytest.approx(600)
    fast = running_metrics(rate=5.0, until=100)
    assert not BatchProgressEvent.from_job(due, at(100), fast).at_risk
    ended = job("completed", 1000, 1000, expected_completion_at=3600)
    assert not BatchProgressEvent.from_job(ended, at(9000), fast).at_risk  # it is over: no risk


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_the_watcher_learns_finalizing_and_says_at_risk_once(
    client: VoyageBatchClient, sim: Simulator
) -> None:
    """The simulator's dates move one for one with the watcher's clock here, so its 8-hour
    ``expected_completion_at`` is a real deadline: the ``expire`` batch (20 hours of work) is
    at risk as soon as its rate is known, and said so once; the ``normal`` batch's finalizing
    is learned when it completes."""
    events: list[tuple[str, str]] = []
    clock = Clock()
    watcher = Watcher(
        client,
        intervals=Intervals(poll=30.0, minimum=10.0, maximum=60.0),
        listeners=Listeners(on_event=lambda kind, batch: events.append((kind, batch.batch_id))),
        clock=clock,
    )
    watcher._origin = (clock.now, sim.clock.now())
    slow, normal = sim.add_batch(500, "expire"), sim.add_batch(200, "normal")
    for batch_id in (slow, normal):
        watcher.watch(batch_id)
    for _ in range(400):
        step = max(0.0, watcher.next_cycle_at() - clock.now)
        clock.now += step
        sim.advance(step)
        await watcher.poll_once()
        if ("complete", normal) in events and ("at_risk", slow) in events:
            break
    assert [kind for kind, batch_id in events if batch_id == slow].count("at_risk") == 1
    event = watcher.batches[slow].event
    assert event is not None and event.at_risk and 0 < event.deadline_seconds < 8 * 3600
    assert ("complete", normal) in events
    assert watcher.history.finalizing["*"].seconds == [pytest.approx(60.0 / 900.0, rel=0.02)]  # of the work
