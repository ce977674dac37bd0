"""The spec's progress API: the generator, the callback wait, and their endings."""

from __future__ import annotations

import asyncio
import contextlib
import io
import math

import pytest

from tests.conftest import FAST_RETRIES, jsonl
from voyage_progress import (
    BatchJob,
    BatchProgressEvent,
    BatchStatus,
    BatchWaitTimeout,
    NotFoundError,
    PollingError,
    RetryPolicy,
    VoyageBatchClient,
)
from voyage_progress.simulator import Simulator, run_simulator


async def test_the_spec_snippet_runs_verbatim(
    client: VoyageBatchClient, sim_driven_polls: list[float]
) -> None:
    layer = client
    file = await layer.upload_file(jsonl(300))
    job = await layer.create_batch(file.id, model="voyage-3.5")
    printed = io.StringIO()
    statuses = []
    with contextlib.redirect_stdout(printed):
        # --- DESIGN.md §3, verbatim ---
        async for event in layer.stream_batch_progress(job.id):
            print(f"Progress: {event.completed}/{event.total} ({event.percent:.1f}%)")
            print(f"Rate: {event.rate:.1f} embeds/sec, ETA: {event.eta_seconds:.0f}s")
            if event.is_complete:
                break
            # ---
            statuses.append(event.status)
    lines = printed.getvalue().splitlines()
    assert statuses[0] is BatchStatus.VALIDATING and BatchStatus.IN_PROGRESS in statuses
    assert lines[0] == "Progress: 0/0 (0.0%)" and lines[1] == "Rate: 0.0 embeds/sec, ETA: infs"
    assert lines[-2] == "Progress: 300/300 (100.0%)"
    assert any(line.startswith("Progress: ") and "/300 (" in line and "100.0%" not in line for line in lines)
    assert all(
        wait == pytest.approx(5.0, abs=0.5) for wait in sim_driven_polls
    )  # the spec's default interval


async def test_the_readme_snippet_prints_an_eta_for_a_two_request_batch_once_a_count_moved() -> None:
    """In real time: a simulator at 600x and the snippet's 5 s polls shortened 50 times (a poll
    every 60 simulated seconds). Once one of the two requests is done, the batch's
    ``in_progress_at`` dates the work and the ETA is a number."""

    async def shortened(seconds: float) -> None:
        await asyncio.sleep(seconds / 50)

    async with (
        run_simulator(speed=600, seed=3) as sim,
        VoyageBatchClient(
            api_key="test-key", base_url=sim.base_url, retry_policy=FAST_RETRIES, sleep=shortened
        ) as layer,
    ):
        job = await layer.get_batch(sim.add_batch(2, "normal"))
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            async for event in layer.stream_batch_progress(job.id):
                print(f"Progress: {event.completed}/{event.total} ({event.percent:.1f}%)")
                print(f"Rate: {event.rate:.1f} embeds/sec, ETA: {event.eta_seconds:.0f}s")
                if event.is_complete:
                    break
    lines = printed.getvalue().splitlines()
    moved = lines.index("Progress: 1/2 (50.0%)")
    after = [line for line in lines[moved:] if line.startswith("Rate: ")]
    assert after and all("infs" not in line for line in after), lines
    assert lines[-2] == "Progress: 2/2 (100.0%)" and lines[-1].endswith("ETA: 0s")


async def test_the_spec_snippet_ends_for_a_batch_that_fails_validation(
    client: VoyageBatchClient, sim: Simulator, sim_driven_polls: list[float]
) -> None:
    layer = client
    job = await layer.get_batch(sim.add_batch(20, "fail_validation"))
    seen = []
    async for event in layer.stream_batch_progress(job.id):
        seen.append(event)
        if event.is_complete:
            break
    assert [e.status for e in seen] == [BatchStatus.VALIDATING, BatchStatus.FAILED]
    assert seen[-1].is_failed and seen[-1].is_terminal and not seen[-1].is_complete
    assert "simulated validation failure" in (seen[-1].error_message or "")


@pytest.mark.parametrize(
    ("scenario", "status"),
    [
        ("quick", BatchStatus.COMPLETED),
        ("fail_validation", BatchStatus.FAILED),
        ("cancel", BatchStatus.CANCELLED),
        ("expire_openai", BatchStatus.EXPIRED),
    ],
)
async def test_the_generator_ends_by_itself_on_every_terminal_status(
    client: VoyageBatchClient,
    sim: Simulator,
    sim_driven_polls: list[float],
    scenario: str,
    status: BatchStatus,
) -> None:
    batch_id = sim.add_batch(50, scenario)
    interval = 200.0 if scenario == "expire_openai" else 0.25  # 12 000 or 15 simulated seconds per poll
    events = [event async for event in client.stream_batch_progress(batch_id, poll_interval=interval)]
    assert events[-1].status is status and events[-1].is_terminal
    assert not any(e.is_terminal for e in events[:-1])
    last = events[-1]
    expected_eta = 0.0 if status is BatchStatus.COMPLETED else math.inf  # an end without results: unknown
    assert last.eta_seconds == last.eta_low == last.eta_high == expected_eta
    assert last.eta_known is (status is BatchStatus.COMPLETED)


async def test_events_carry_rate_eta_and_extras(
    client: VoyageBatchClient, sim: Simulator, sim_driven_polls: list[float]
) -> None:
    batch_id = sim.add_batch(2000)
    events = [e async for e in client.stream_batch_progress(batch_id, poll_interval=0.5)]
    running = [e for e in events if e.status is BatchStatus.IN_PROGRESS and e.completed > 0]
    assert running and all(e.rate > 0 and math.isfinite(e.eta_seconds) for e in running[1:])
    assert all(e.eta_low <= e.eta_seconds <= e.eta_high for e in running[1:])
    percents = [e.percent for e in events]
    assert percents == sorted(percents) and percents[-1] == 100.0
    assert all(0.0 <= e.progress <= 1.0 and e.progress * 100 == pytest.approx(e.percent) for e in events)
    assert events[-1].job is not None and events[-1].job.status is BatchStatus.COMPLETED
    assert events[0].phase == 0 and events[-1].phase == 3


async def test_without_metrics_no_rate_work(
    client: VoyageBatchClient, sim: Simulator, sim_driven_polls: list[float]
) -> None:
    events = [e async for e in client.stream_batch_progress(sim.add_batch(100), 0.5, include_metrics=False)]
    assert all(e.rate == 0.0 for e in events) and events[-1].is_complete


async def test_polling_costs_only_status_reads(
    client: VoyageBatchClient, sim: Simulator, sim_driven_polls: list[float]
) -> None:
    batch_id = sim.add_batch(100)
    events = [e async for e in client.stream_batch_progress(batch_id, poll_interval=0.5)]
    assert sim.stats.by_route == {"GET /v1/batches/{id}": len(events)}


async def test_wait_with_a_plain_callback_returns_the_final_batch(
    client: VoyageBatchClient, sim: Simulator, sim_driven_polls: list[float]
) -> None:
    seen: list[BatchProgressEvent] = []
    final = await client.wait_for_batch_completion_with_progress(
        sim.add_batch(80), seen.append, poll_interval=0.5
    )
    assert isinstance(final, BatchJob) and final.status is BatchStatus.COMPLETED
    assert seen[-1].job == final and len(seen) > 3


async def test_wait_with_an_async_callback(
    client: VoyageBatchClient, sim: Simulator, sim_driven_polls: list[float]
) -> None:
    seen: list[str] = []

    async def on_progress(event: BatchProgressEvent) -> None:
        seen.append(event.status.value)

    final = await client.wait_for_batch_completion_with_progress(
        sim.add_batch(5, "fail_validation"), on_progress
    )
    assert final.status is BatchStatus.FAILED and seen == ["validating", "failed"]


async def test_max_wait_raises_a_timeout_that_names_the_batch(
    client: VoyageBatchClient, sim: Simulator
) -> None:
    batch_id = sim.add_batch(10)  # the clock stands still: it never finishes
    with pytest.raises(BatchWaitTimeout) as raised:
        await client.wait_for_batch_completion_with_progress(
            batch_id, None, poll_interval=0.02, max_wait=0.15
        )
    assert (
        batch_id in str(raised.value) and "0.15 s" in str(raised.value) and "validating" in str(raised.value)
    )
    assert isinstance(raised.value, TimeoutError) and raised.value.batch_id == batch_id


async def test_a_transient_poll_failure_does_not_end_the_stream() -> None:
    async with run_simulator(speed=200, faults="503=0.35,seed=5") as sim:
        batch_id = sim.add_batch(50, "quick")
        no_retries = RetryPolicy(max_retries=0)  # every fault reaches the stream
        async with VoyageBatchClient(api_key="k", base_url=sim.base_url, retry_policy=no_retries) as client:
            events = [e async for e in client.stream_batch_progress(batch_id, poll_interval=0.01)]
    assert events[-1].is_complete and sim.stats.faults["503"] > 0


async def test_a_persistent_poll_failure_raises_a_clear_error() -> None:
    async with run_simulator(speed=0, faults="503=1") as sim:
        batch_id = sim.add_batch(5)
        async with VoyageBatchClient(api_key="k", base_url=sim.base_url, retry_policy=FAST_RETRIES) as client:
            with pytest.raises(PollingError) as raised:
                async for _ in client.stream_batch_progress(batch_id, poll_interval=0.01):
                    pass
    assert raised.value.batch_id == batch_id and raised.value.failures == 5
    assert str(raised.value).startswith(f"batch {batch_id}: 5 polls in a row failed; last error: 503")


async def test_an_unknown_batch_raises_at_once(client: VoyageBatchClient, sim: Simulator) -> None:
    with pytest.raises(NotFoundError):
        async for _ in client.stream_batch_progress("batch-missing", poll_interval=0.01):
            pass
    assert sim.stats.requests == 1


async def test_bad_arguments(client: VoyageBatchClient) -> None:
    with pytest.raises(ValueError, match="poll_interval"):
        async for _ in client.stream_batch_progress("batch-x", poll_interval=0):
            pass
    with pytest.raises(ValueError, match="max_wait"):
        await client.wait_for_batch_completion_with_progress("batch-x", None, max_wait=-1)
