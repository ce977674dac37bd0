"""The scheduler: list-based polling, adaptive intervals, stable slots, isolated errors.

Time is driven by hand on both sides: the simulator's clock (how far batches get) and the
watcher's clock (when it wants to poll), so these tests neither sleep nor race.
"""

from __future__ import annotations

import pytest

from tests.conftest import FAST_RETRIES
from voyage_progress import BatchStatus, VoyageBatchClient
from voyage_progress.simulator import Simulator, run_simulator
from voyage_progress.watcher import GONE_AFTER_NOT_FOUND, GONE_AFTER_SECONDS, Intervals, Listeners, Watcher


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_watcher(
    client: VoyageBatchClient, clock: Clock, **kwargs: object
) -> tuple[Watcher, list[tuple[str, str]]]:
    events: list[tuple[str, str]] = []
    listeners = Listeners(on_event=lambda kind, batch: events.append((kind, batch.batch_id)))
    watcher = Watcher(
        client,
        intervals=Intervals(poll=5.0, minimum=1.0, maximum=60.0),
        listeners=listeners,
        clock=clock,
        **kwargs,
    )  # type: ignore[arg-type]
    return watcher, events


async def run_until_ended(watcher: Watcher, sim: Simulator, clock: Clock, limit: int = 2000) -> list[int]:
    """Cycle at the watcher's own pace; returns the requests each cycle took."""
    per_cycle = []
    for _ in range(limit):
        if not any(b.is_active for b in watcher.batches.values()):
            return per_cycle
        step = max(0.0, watcher.next_cycle_at() - clock.now)
        clock.now += step
        sim.advance(step * 10)  # ten simulated seconds per watcher second
        per_cycle.append(await watcher.poll_once())
    raise AssertionError("the batches did not end")


async def test_a_hundred_batches_cost_one_request_per_cycle(
    client: VoyageBatchClient, sim: Simulator
) -> None:
    ids = [
        sim.add_batch(50, scenario)
        for scenario in ["normal", "partial_failures", "fail_validation", "cancel"] * 25
    ]
    clock = Clock()
    watcher, events = make_watcher(client, clock)
    for batch_id in ids:
        watcher.watch(batch_id)

    per_cycle = await run_until_ended(watcher, sim, clock)

    print(
        f"\n100 batches: {len(per_cycle)} cycles, requests per cycle: max {max(per_cycle)}, "
        f"mean {sum(per_cycle) / len(per_cycle):.2f}, total {sum(per_cycle)}"
    )
    assert max(per_cycle) <= 2
    ends = {batch_id: kind for kind, batch_id in events if kind not in ("watch", "unwatch")}
    assert set(ends) == set(ids)
    assert sorted(set(ends.values())) == ["cancelled", "complete", "failed"]
    assert sim.stats.requests == sum(per_cycle) < 100  # the naive loop: 100 requests per round


async def test_all_active_discovers_batches_created_later(client: VoyageBatchClient, sim: Simulator) -> None:
    clock = Clock()
    watcher, events = make_watcher(client, clock, all_active=True)
    first = sim.add_batch(10, label="first")
    await watcher.poll_once()
    assert list(watcher.batches) == [first] and watcher.batches[first].label == "first"
    assert watcher.batches[first].auto

    clock.now += 10
    second = sim.add_batch(10)
    await watcher.poll_once()
    assert set(watcher.batches) == {first, second}
    assert [e for e in events if e[0] == "watch"] == [("watch", first), ("watch", second)]


async def test_a_single_due_batch_is_one_get(client: VoyageBatchClient, sim: Simulator) -> None:
    clock = Clock()
    watcher, _ = make_watcher(client, clock)
    watcher.watch(sim.add_batch(10))
    assert await watcher.poll_once() == 1
    assert sim.stats.by_route == {"GET /v1/batches/{id}": 1}


async def test_batches_missing_from_the_first_pages_fall_back_to_single_gets(
    client: VoyageBatchClient, sim: Simulator
) -> None:
    old = [sim.add_batch(5) for _ in range(2)]
    for number in range(350):  # three full pages of newer batches in front of them
        sim.add_batch(1, "quick")
        if number % 90 == 0:
            sim.advance(1000)  # keep under the in-flight limit
    clock = Clock()
    watcher, _ = make_watcher(client, clock)
    for batch_id in old:
        watcher.watch(batch_id)
    requests = await watcher.poll_once()
    assert requests == 3 + 2  # the page budget, then one GET each
    assert all(watcher.batches[b].job is not None for b in old)


async def test_polling_adapts_to_the_phase(client: VoyageBatchClient, sim: Simulator) -> None:
    clock = Clock()
    watcher, _ = make_watcher(client, clock)
    batch = watcher.watch(sim.add_batch(100))
    await watcher.poll_once()
    assert batch.status is BatchStatus.VALIDATING and batch.next_due - clock.now == 10.0  # slower
    sim.advance(300)
    clock.now = batch.next_due
    await watcher.poll_once()
    assert batch.status is BatchStatus.IN_PROGRESS and batch.next_due - clock.now == 5.0
    sim.advance(660)
    clock.now = batch.next_due
    await watcher.poll_once()
    assert batch.status is BatchStatus.FINALIZING and batch.next_due - clock.now == 2.5  # faster near the end
    sim.advance(100)
    clock.now = batch.next_due
    await watcher.poll_once()
    assert batch.status is BatchStatus.COMPLETED and not batch.is_active
    assert watcher.next_cycle_at() == float("inf")  # nothing left to poll
    requests = sim.stats.requests
    clock.now += 1000
    await watcher.poll_once()
    assert sim.stats.requests == requests


def test_interval_bounds_are_checked() -> None:
    with pytest.raises(ValueError, match="min"):
        Intervals(poll=5, minimum=10, maximum=60)


async def test_slots_are_stable_and_reused(client: VoyageBatchClient, sim: Simulator) -> None:
    watcher, _ = make_watcher(client, Clock())
    a, b, c = (watcher.watch(sim.add_batch(5)) for _ in range(3))
    assert [a.slot, b.slot, c.slot] == [0, 1, 2]
    assert watcher.watch(b.batch_id, "relabelled") is b and b.slot == 1 and b.label == "relabelled"
    watcher.unwatch(b.batch_id)
    d = watcher.watch(sim.add_batch(5))
    assert d.slot == 1
    restored = watcher.watch("batch-restored", slot=7)
    assert restored.slot == 7
    clash = watcher.watch("batch-clash", slot=7)
    assert clash.slot == 3


async def test_an_unknown_batch_is_isolated(client: VoyageBatchClient, sim: Simulator) -> None:
    clock = Clock()
    watcher, events = make_watcher(client, clock)
    good = watcher.watch(sim.add_batch(5, "quick"))
    bad = watcher.watch("batch-doesnotexist")
    await watcher.poll_once()
    assert bad.error == "batch not found" and not bad.is_active
    assert ("error", "batch-doesnotexist") in events
    assert good.job is not None and watcher.health.api_ok
    per_cycle = await run_until_ended(watcher, sim, clock)
    assert ("complete", good.batch_id) in events and all(n == 1 for n in per_cycle)


async def test_a_batch_already_read_is_given_up_only_after_404s_over_minutes(
    client: VoyageBatchClient, sim: Simulator
) -> None:
    """One 404 (a replica that has not heard of the batch, a deploy) must not end its tracking
    for good: its last state stays and it is asked for again, until 404s have held for long."""
    clock = Clock()
    watcher, events = make_watcher(client, clock)
    batch = watcher.watch(sim.add_batch(20))
    await watcher.poll_once()
    seen = batch.job
    stored = sim.store.batches.pop(batch.batch_id)
    first_404 = clock.now = batch.next_due
    for _ in range(2 * GONE_AFTER_NOT_FOUND):  # many 404s, within a minute
        await watcher.poll_once()
        assert batch.is_active and batch.job is seen and watcher.health.api_ok
        clock.now = batch.next_due
    assert clock.now - first_404 < GONE_AFTER_SECONDS
    sim.store.batches[batch.batch_id] = stored  # found again: the count starts afresh
    await watcher.poll_once()
    assert batch.not_found == 0 and batch.last_read == clock.now

    del sim.store.batches[batch.batch_id]
    first_404 = clock.now = batch.next_due
    while batch.is_active and clock.now - first_404 < 2 * GONE_AFTER_SECONDS:
        await watcher.poll_once()
        clock.now = batch.next_due
    assert batch.error == "batch not found" and batch.not_found >= GONE_AFTER_NOT_FOUND
    assert GONE_AFTER_SECONDS <= clock.now - first_404 <= GONE_AFTER_SECONDS + 10
    assert [kind for kind, _ in events].count("error") == 1


async def test_an_unreachable_api_keeps_the_last_state_and_backs_off() -> None:
    clock = Clock()
    async with run_simulator(speed=0) as sim:
        async with VoyageBatchClient(api_key="k", base_url=sim.base_url, retry_policy=FAST_RETRIES) as client:
            watcher, _ = make_watcher(client, clock)
            batch = watcher.watch(sim.add_batch(20))
            await watcher.poll_once()
            seen = batch.job
            sim.faults.unavailable = 1.0
            clock.now = batch.next_due
            await watcher.poll_once()
    assert not watcher.health.api_ok and watcher.health.message.startswith("API unreachable: 503")
    assert batch.job is seen  # the last known state stays
    assert watcher.next_cycle_at() > clock.now


async def test_a_refused_list_is_a_failed_poll_not_a_failed_watcher() -> None:
    async with run_simulator(speed=0) as sim:
        async with VoyageBatchClient(
            api_key="k", base_url=sim.url + "/v0", retry_policy=FAST_RETRIES
        ) as client:
            watcher, _ = make_watcher(client, Clock())
            for _ in range(2):  # two due batches: read from the list, which the server refuses
                watcher.watch(sim.add_batch(5))
            await watcher.poll_once()
    assert not watcher.health.api_ok and watcher.health.message.startswith("API error: 404")
    assert watcher.health.consecutive_failures == 1


async def test_a_refused_key_is_reported_as_such() -> None:
    async with run_simulator(speed=0, api_key="good") as sim:
        async with VoyageBatchClient(
            api_key="bad", base_url=sim.base_url, retry_policy=FAST_RETRIES
        ) as client:
            watcher, _ = make_watcher(client, Clock())
            watcher.watch(sim.add_batch(5))
            await watcher.poll_once()
    assert watcher.health.auth_failed and watcher.health.message.startswith("invalid API key: 401")


async def test_ended_batches_retire(client: VoyageBatchClient, sim: Simulator) -> None:
    clock = Clock()
    watcher, events = make_watcher(client, clock, retire_after=30.0)
    batch = watcher.watch(sim.add_batch(5, "fail_validation"))
    sim.advance(100)
    await watcher.poll_once()
    assert ("failed", batch.batch_id) in events
    clock.now += 31
    watcher._retire_ended()
    assert not watcher.batches and ("unwatch", batch.batch_id) in events


def finished_batches(sim: Simulator, count: int) -> list[str]:
    """``count`` quick batches, run to their end (a few at a time: the API's in-flight limit)."""
    ids = []
    for number in range(count):
        ids.append(sim.add_batch(1, "quick"))
        if number % 90 == 89:
            sim.advance(1000)
    sim.advance(1000)
    return ids


async def test_all_active_finds_a_running_batch_below_150_finished_ones(
    client: VoyageBatchClient, sim: Simulator
) -> None:
    running = sim.add_batch(100, sim_processing="36000")
    finished_batches(sim, 150)
    clock = Clock()
    watcher, _ = make_watcher(client, clock, all_active=True)
    requests = await watcher.poll_once()
    assert list(watcher.batches) == [running] and watcher.batches[running].status is BatchStatus.IN_PROGRESS
    assert requests == 2  # two pages hold the 151 batches


async def test_a_search_longer_than_a_cycle_goes_on_in_the_next_and_then_costs_one_page(
    client: VoyageBatchClient, sim: Simulator
) -> None:
    running = sim.add_batch(100, sim_processing="8000")
    finished_batches(sim, 350)  # four pages: one more than a cycle reads
    clock = Clock()
    watcher, _ = make_watcher(client, clock, all_active=True)
    assert await watcher.poll_once() == 3 and not watcher.batches
    clock.now = watcher.next_cycle_at()
    assert await watcher.poll_once() == 2  # the newest page again, then the fourth
    assert list(watcher.batches) == [running]

    sim.advance(10_000)  # the running batch ends
    await run_until_ended(watcher, sim, clock)
    for _ in range(3):  # nothing new, nothing due: each search stops where the last one began
        clock.now = watcher.next_cycle_at()
        assert await watcher.poll_once() == 1
    newest = sim.add_batch(5)
    clock.now = watcher.next_cycle_at()
    assert await watcher.poll_once() == 1 and newest in watcher.batches


async def test_a_search_stops_at_batches_too_old_to_be_in_flight(
    client: VoyageBatchClient, sim: Simulator
) -> None:
    from datetime import UTC, datetime, timedelta

    from voyage_progress.simulator._clock import SimClock

    sim.store.clock = SimClock(0, start=datetime.now(UTC) - timedelta(hours=20))
    finished_batches(sim, 300)  # 20 hours ago: long over
    sim.advance(20 * 3600 - sim.clock.elapsed())  # the simulator's now is ours again
    finished_batches(sim, 120)
    running = sim.add_batch(100, sim_processing="36000")
    finished_batches(sim, 60)
    clock = Clock()
    watcher, _ = make_watcher(client, clock, all_active=True)
    requests = await watcher.poll_once()
    assert list(watcher.batches) == [running]
    assert requests == 2  # the second page reaches the old batches: the third is not read
