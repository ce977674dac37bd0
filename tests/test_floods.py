"""Floods: more control messages, batches and changes than a show ever sends, and what the
sidecar does with them. Real HTTP to the simulator, real UDP both ways; each test fails on a
sidecar that queues without bound, polls one thing at a time, or saves on every change."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path

import pytest

from tests.conftest import FAST_RETRIES
from tests.osc_receiver import OscReceiver, open_receiver
from tests.test_sidecar import fast_config, osc_output, running_sidecar, sidecar_saved
from voyage_progress import RetryPolicy, VoyageBatchClient
from voyage_progress.outputs.osc import ControlServer
from voyage_progress.outputs.osc._codec import encode_message
from voyage_progress.sidecar._sidecar import Sidecar, SidecarConfig
from voyage_progress.sidecar._state import StateFile
from voyage_progress.simulator import Simulator, run_simulator
from voyage_progress.watcher import Intervals

PREFIX = "/voyage"


@pytest.fixture
async def receiver() -> AsyncIterator[OscReceiver]:
    r = await open_receiver()
    yield r
    r.close()


class Control:
    """A UDP socket that writes to the sidecar's control port."""

    def __init__(self, port: int) -> None:
        self.address = ("127.0.0.1", port)
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def send(self, command: str, *args: str) -> None:
        self.socket.sendto(encode_message(f"{PREFIX}/control/{command}", list(args)), self.address)

    async def paced(self, command: str, args: Iterable[tuple[str, ...]], per_second: float) -> None:
        """Send at ``per_second``, 20 at a time, letting the event loop run between."""
        started = time.monotonic()
        for sent, arguments in enumerate(args, start=1):
            self.send(command, *arguments)
            if sent % 20 == 0:
                await asyncio.sleep(max(0.0, started + sent / per_second - time.monotonic()))

    def close(self) -> None:
        self.socket.close()


@contextlib.asynccontextmanager
async def controlled(
    config: SidecarConfig, client: VoyageBatchClient
) -> AsyncIterator[tuple[Sidecar, Control]]:
    config = dataclasses.replace(config, control_port=0)
    async with running_sidecar(config, client) as sidecar:
        assert osc_output(sidecar).control is not None
        control = Control(osc_output(sidecar).control.port)
        try:
            yield sidecar, control
        finally:
            control.close()


def unknown_ids(count: int, tag: str = "flood") -> list[str]:
    return [f"batch-{tag}-{number:06d}" for number in range(count)]


async def worst_while(seconds: float, measure: Callable[[], float]) -> float:
    """The largest value of ``measure`` over ``seconds``, looked at every 20 ms."""
    worst = measure()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await asyncio.sleep(0.02)
        worst = max(worst, measure())
    return worst


def longest_heartbeat_gap(receiver: OscReceiver, since: float) -> float:
    until = time.monotonic()  # before parsing what arrived, which takes a while
    times = [m.at for m in receiver.messages if m.address == f"{PREFIX}/sidecar/heartbeat" and since <= m.at]
    moments = [since, *times, until]
    return max(b - a for a, b in itertools.pairwise(moments))


def unread_for(sidecar: Sidecar, batch_id: str) -> Callable[[], float]:
    """Seconds since the watcher last read the batch."""
    watcher = sidecar.watcher

    def seconds() -> float:
        last = watcher.batches[batch_id].last_read
        return float("inf") if last is None else watcher.clock() - last

    return seconds


def api_client(sim: Simulator, **options: object) -> VoyageBatchClient:
    return VoyageBatchClient(api_key="k", base_url=sim.base_url, **options)  # type: ignore[arg-type]


@pytest.fixture
def saves(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times each state file was written (one entry per save: its number of batches)."""
    written: list[int] = []
    save = StateFile.save

    def counted(self: StateFile, entries: list[object], *history: object) -> bool:
        written.append(len(entries))
        return save(self, entries, *history)  # type: ignore[arg-type]

    monkeypatch.setattr(StateFile, "save", counted)
    return written


# -- refreshes ----------------------------------------------------------------------------------------


async def test_a_refresh_storm_is_merged_and_the_heartbeat_goes_on(receiver: OscReceiver) -> None:
    """Each refresh used to queue a full state: 1,000 a second grew the queue (and memory) without
    bound and held the heartbeat behind it."""
    async with run_simulator(speed=0) as sim:
        ids = [sim.add_batch(10) for _ in range(50)]
        async with api_client(sim, retry_policy=FAST_RETRIES) as client:
            async with controlled(fast_config(receiver, batch_ids=ids), client) as (sidecar, control):
                await receiver.wait_for(lambda r: r.last(f"{PREFIX}/batch/49/status") == "validating")
                storm_started = time.monotonic()
                storm = asyncio.create_task(control.paced("refresh", [()] * 3000, per_second=3000))
                most_queued = await worst_while(1.5, lambda: len(osc_output(sidecar).outbox))
                await storm
                gap = longest_heartbeat_gap(receiver, storm_started)
    assert most_queued <= len(ids) + 20, f"{most_queued} bundles waited for 50 batches"
    assert gap <= 1.0, f"no heartbeat for {gap:.2f} s (one every 0.1 s)"  # held for seconds before


async def test_a_refresh_does_not_poll_before_retry_after(receiver: OscReceiver) -> None:
    async with run_simulator(speed=0) as sim:
        batch_id = sim.add_batch(10)
        sim.faults.rate_limit, sim.faults.retry_after = 1.0, 4.0
        async with api_client(sim, retry_policy=RetryPolicy(max_retries=0)) as client:
            # a Retry-After is honoured up to --max-interval: make room for this one's 4 s
            config = fast_config(receiver, batch_ids=[batch_id])
            config = dataclasses.replace(config, intervals=Intervals(0.05, 0.02, 10.0))
            async with controlled(config, client) as (_, control):
                await receiver.wait_for(lambda r: "429" in str(r.last(f"{PREFIX}/sidecar/message")))
                refused = sim.stats.requests
                await control.paced("refresh", [()] * 60, per_second=40)  # 1.5 s of the 4
                during_retry_after = sim.stats.requests - refused
                sim.faults.rate_limit = 0.0
                await receiver.wait_for(lambda r: r.last(f"{PREFIX}/sidecar/api_ok") == 1, timeout=5)
    assert during_retry_after == 0, f"{during_retry_after} requests within the 4 s of Retry-After"


# -- scale --------------------------------------------------------------------------------------------


async def test_discovering_hundreds_of_batches_is_a_few_saves(
    receiver: OscReceiver, tmp_path: Path, saves: list[int]
) -> None:
    """Every discovered batch used to rewrite (and fsync) the whole state file: 5,000 cost 45 s
    of processor time. (The simulator, like the API, holds at most 100 batches in flight.)"""
    async with run_simulator(speed=0) as sim:
        for _ in range(100):
            sim.add_batch(10)
        config = fast_config(receiver, all_active=True, state_file=tmp_path / "state.json")
        async with api_client(sim, retry_policy=FAST_RETRIES) as client:
            async with running_sidecar(config, client) as sidecar:
                await sidecar_saved(sidecar, lambda batches: len(batches) == 100)
    assert len(saves) <= 4, f"{len(saves)} saves for 100 batches discovered"


async def test_a_full_state_slower_than_its_period_is_not_queued_again(receiver: OscReceiver) -> None:
    """A full state that takes longer to send than its period (ten thousand batches) used to be
    queued again every period, growing the queue for good, the heartbeat waiting behind it."""
    async with run_simulator(speed=0) as sim:
        ids = [sim.add_batch(10) for _ in range(100)]
        config = fast_config(receiver, batch_ids=ids)
        config = dataclasses.replace(config, full_state_interval=0.2)
        async with api_client(sim, retry_policy=FAST_RETRIES) as client:
            sidecar = Sidecar(config, client)
            osc_output(sidecar).outbox.pause = 0.1  # 80 bundles a second: a pass of 100 takes 1.25 s
            stop = asyncio.Event()
            running = asyncio.create_task(sidecar.run(stop))
            await sidecar.started.wait()
            await receiver.wait_for(lambda r: r.last(f"{PREFIX}/batch/99/status") == "validating")
            started = time.monotonic()
            try:
                most_queued = await worst_while(2.5, lambda: len(osc_output(sidecar).outbox))
                assert most_queued <= len(ids) + 30, f"{most_queued} bundles waited for 100 batches"
                gap = longest_heartbeat_gap(receiver, started)
                assert gap <= 0.4, f"no heartbeat for {gap:.2f} s (one every 0.1 s)"
            finally:
                stop.set()
                await asyncio.wait_for(running, 10)


# -- control floods -----------------------------------------------------------------------------------


async def test_a_flood_of_unknown_ids_is_taken_and_the_real_batch_stays_polled(
    receiver: OscReceiver, tmp_path: Path, saves: list[int]
) -> None:
    """5,000 ids at 2,000/s: most used to be lost, and the real batches went unpolled for as long
    as the lookups of the unknown ones took (all of them, one after the other)."""
    async with run_simulator(speed=0) as sim:
        real = sim.add_batch(10)
        config = fast_config(receiver, batch_ids=[real], state_file=tmp_path / "state.json")
        config = dataclasses.replace(config, intervals=Intervals(poll=0.2, minimum=0.1, maximum=1.0))
        async with api_client(sim, retry_policy=FAST_RETRIES, max_requests_per_second=20) as client:
            async with controlled(config, client) as (sidecar, control):
                await receiver.wait_for(lambda r: r.last(f"{PREFIX}/batch/0/status") == "validating")
                flood = asyncio.create_task(control.paced("watch", [(i,) for i in unknown_ids(2000)], 2000))
                unread = await worst_while(3.0, unread_for(sidecar, real))  # 60 of 2,000 lookups
                await flood
                assert unread <= 2.0, f"the real batch went {unread:.1f} s unread (polled every 0.2 s)"
                lost = 2001 - len(sidecar.watcher.batches)
                assert not lost, f"{lost} of 2,001 watches lost"
                await sidecar_saved(sidecar, lambda batches: len(batches) == 2001)
    assert len(saves) <= 8, f"{len(saves)} saves in 4 s"


async def test_a_full_watch_list_refuses_and_says_so(receiver: OscReceiver) -> None:
    async with run_simulator(speed=0) as sim:
        config = fast_config(receiver)
        config = dataclasses.replace(config, max_watched=50)
        async with api_client(sim, retry_policy=FAST_RETRIES) as client:
            async with controlled(config, client) as (sidecar, control):
                await control.paced("watch", [(i,) for i in unknown_ids(80)], 2000)
                await receiver.wait_for(  # not the first refusal: later datagrams may still be on their way
                    lambda r: "30 refused so far" in str(r.last(f"{PREFIX}/sidecar/message"))
                )
                watching = len(sidecar.watcher.batches)
                refused = sidecar.refused
    assert (watching, refused) == (50, 30)
    message = str(receiver.last(f"{PREFIX}/sidecar/message"))
    assert "the watch list is full (50 batches)" in message and "30 refused so far" in message, message


async def test_a_cancel_flood_is_capped_and_the_real_batch_stays_polled(receiver: OscReceiver) -> None:
    """300 cancels used to wait for the API all at once, taking the whole request budget for a
    minute: progress froze."""
    async with run_simulator(speed=0) as sim:
        real = sim.add_batch(10)
        config = fast_config(receiver, batch_ids=[real], allow_cancel=True)
        config = dataclasses.replace(config, intervals=Intervals(poll=0.2, minimum=0.1, maximum=1.0))
        async with api_client(sim, retry_policy=FAST_RETRIES, max_requests_per_second=10) as client:
            async with controlled(config, client) as (sidecar, control):
                await receiver.wait_for(lambda r: r.last(f"{PREFIX}/batch/0/status") == "validating")
                for batch_id in unknown_ids(300, "cancel"):
                    control.send("cancel", batch_id)
                unread = await worst_while(4.0, unread_for(sidecar, real))
                assert unread <= 2.0, f"the real batch went {unread:.1f} s unread (polled every 0.2 s)"
                await receiver.wait_for(
                    lambda r: "control refused cancel" in str(r.last(f"{PREFIX}/sidecar/message"))
                )


async def test_a_burst_of_datagrams_waits_in_the_socket_instead_of_being_lost() -> None:
    """300 datagrams sent while the event loop is busy: a default receive buffer (about 200 KB
    on Linux) held 256 of them."""
    handled: list[object] = []
    async with ControlServer(handled.append, port=0) as server:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for batch_id in unknown_ids(300, "burst"):  # no await: the loop reads none meanwhile
                sender.sendto(
                    encode_message(f"{PREFIX}/control/watch", [batch_id]), ("127.0.0.1", server.port)
                )
        deadline = time.monotonic() + 2
        while len(handled) < 300 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
    assert len(handled) == 300
