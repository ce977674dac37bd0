"""API efficiency: how many requests the sidecar's scheduler spends, and how soon a completion
reaches OSC, each against the naive loop that GETs every batch every interval.

(a) Requests per poll cycle, for 1, 10 and 100 batches in flight. An in-process simulator with
its clock stopped (``run_simulator(speed=0)``) holds the batches (``sim.add_batch``: a mix of
``normal``, ``partial_failures``, ``long_finalizing``, ``stall``, ``late_counts``, ``cancel``,
``fail_validation`` and ``quick``; only ``quick`` in the quick version). The sidecar's scheduler,
``voyage_progress.watcher.Watcher`` with the sidecar's default intervals (5 s, 1–60 s), is
driven by hand: its clock jumps to the next cycle it asks for, the simulator's clock moves by
the same amount (``sim.advance``), and ``await watcher.poll_once()`` runs the cycle and returns
the requests it made. This goes on from the batches' creation until every one of them has
ended. The naive loop runs on a fresh simulator with the same seed and batches: every 5
simulated seconds it GETs (``VoyageBatchClient.get_batch``) each batch that has not ended yet.
Reported: mean and max requests per cycle (naive: per interval), and the requests each made in
all, as counted by the simulator (``sim.stats``).

(b) Completion → OSC delay. An in-process simulator runs at a speed (100×; 1,000× quick) at
which a ``normal`` batch takes 10 s of real time; the real sidecar (``Sidecar`` with
``SidecarConfig(intervals=Intervals(poll=P, minimum=P/4, maximum=12 P), control_port=None)``,
P = 0.5 s; 0.1 s quick) watches 20 batches (6 quick) of different scenarios (``normal``,
``long_finalizing``, ``quick``, ``partial_failures``, ``late_counts``, ``stall``) and sizes,
created one after the other at random gaps of 0.3–0.9 P (a fixed seed), each watched as it is
created, so that their completions fall anywhere in the poll cycle. For each batch the delay
is the real time its ``/voyage/event complete`` datagram arrived at a UDP socket (read by a
thread blocked in ``recv``, timestamped with ``time.monotonic()`` on return) minus the real
time it completed in the simulator: its ``completed_at`` mapped back through the simulator's
clock (whose dates keep the wall clock's pace at any speed: the date and ``time.monotonic()``
read at one instant; nothing calls ``advance`` there). Baseline: the naive loop,
every P seconds a ``get_batch`` for each watched batch, and ``/voyage/event complete`` sent
with python-osc as soon as one reads ``completed``, measured the same way in the same run on a
fresh simulator. Reported: median and 90th percentile of the delays, as fractions of P.

``python -m benchmarks.api [--quick]`` prints the table.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import statistics
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from pythonosc.udp_client import SimpleUDPClient

from benchmarks._report import Result, table
from voyage_progress import BatchStatus, VoyageBatchClient
from voyage_progress.outputs.osc import Destination, OscDecodeError, decode
from voyage_progress.sidecar import Sidecar, SidecarConfig
from voyage_progress.simulator import SimClock, Simulator, run_simulator
from voyage_progress.watcher import Intervals, Watcher

NAME = "api"
SEED = 20240611
API_KEY = "benchmark"
CYCLE_SCENARIOS = (
    "normal",
    "partial_failures",
    "long_finalizing",
    "stall",
    "late_counts",
    "cancel",
    "fail_validation",
    "quick",
)
DELAY_SCENARIOS = ("normal", "long_finalizing", "quick", "partial_failures", "late_counts", "stall")
SIZES = (100, 400, 1200, 2000, 250)
MAX_CYCLES = 20_000
CYCLES_TARGET = 2
DELAY_TARGET = 0.5


@dataclass(frozen=True)
class Plan:
    cycle_counts: tuple[int, ...]
    cycle_scenarios: tuple[str, ...]
    speed: float
    poll: float
    delay_batches: int


QUICK = Plan((1, 10, 100), ("quick",), speed=1000.0, poll=0.1, delay_batches=6)
FULL = Plan((1, 10, 100), CYCLE_SCENARIOS, speed=100.0, poll=0.5, delay_batches=20)


def _client(sim: Simulator) -> VoyageBatchClient:
    return VoyageBatchClient(api_key=API_KEY, base_url=sim.base_url)


# -- (a) requests per cycle ---------------------------------------------------------------------------


class HandClock:
    """The watcher's clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _add_batches(sim: Simulator, count: int, scenarios: Sequence[str]) -> list[str]:
    return [sim.add_batch(SIZES[i % len(SIZES)], scenarios[i % len(scenarios)]) for i in range(count)]


@dataclass
class Cycles:
    """Requests per cycle (or per naive interval), and all the requests the simulator served."""

    per_cycle: list[int]
    served: int

    @property
    def mean(self) -> float:
        return statistics.mean(self.per_cycle)

    def __str__(self) -> str:
        return f"mean {self.mean:.2f}, max {max(self.per_cycle)} ({len(self.per_cycle)} cycles)"


async def watcher_cycles(count: int, scenarios: Sequence[str]) -> Cycles:
    """The sidecar's scheduler from the batches' creation until all have ended."""
    async with run_simulator(speed=0, seed=SEED) as sim, _client(sim) as client:
        clock = HandClock()
        watcher = Watcher(client, intervals=Intervals(), clock=clock)
        for batch_id in _add_batches(sim, count, scenarios):
            watcher.watch(batch_id)
        per_cycle: list[int] = []
        while any(batch.is_active for batch in watcher.batches.values()):
            if len(per_cycle) >= MAX_CYCLES:
                raise RuntimeError(f"{count} batches did not end in {MAX_CYCLES} cycles")
            step = max(0.0, watcher.next_cycle_at() - clock.now)
            clock.now += step
            sim.advance(step)
            per_cycle.append(await watcher.poll_once())
        return Cycles(per_cycle, sim.stats.requests)


async def naive_cycles(count: int, scenarios: Sequence[str], interval: float) -> Cycles:
    """Every ``interval``, one GET per batch that has not ended, until all have ended."""
    async with run_simulator(speed=0, seed=SEED) as sim, _client(sim) as client:
        active = _add_batches(sim, count, scenarios)
        per_interval: list[int] = []
        while active:
            if len(per_interval) >= MAX_CYCLES:
                raise RuntimeError(f"{count} batches did not end in {MAX_CYCLES} intervals")
            jobs = [await client.get_batch(batch_id) for batch_id in active]
            per_interval.append(len(jobs))
            active = [job.id for job in jobs if not job.status.is_terminal]
            sim.advance(interval)
        return Cycles(per_interval, sim.stats.requests)


def _cycle_rows(count: int, ours: Cycles, naive: Cycles) -> list[Result]:
    target = count == 100
    return [
        Result(
            NAME,
            f"requests per poll cycle, {count} in flight",
            str(ours),
            str(naive),
            f"{ours.mean / naive.mean:.3f}×",
            f"max ≤ {CYCLES_TARGET}" if target else "-",
            max(ours.per_cycle) <= CYCLES_TARGET if target else None,
        ),
        Result(
            NAME,
            f"requests from creation to the end, {count} batch{'es' if count > 1 else ''}",
            f"{ours.served:,}",
            f"{naive.served:,}",
            f"{ours.served / naive.served:.3f}×",
            "-",
        ),
    ]


async def cycle_rows(plan: Plan) -> list[Result]:
    rows = []
    for count in plan.cycle_counts:
        ours = await watcher_cycles(count, plan.cycle_scenarios)
        naive = await naive_cycles(count, plan.cycle_scenarios, Intervals().poll)
        rows += _cycle_rows(count, ours, naive)
    return rows


# -- (b) completion → OSC delay -------------------------------------------------------------------------


class EventReceiver:
    """A UDP socket read by a thread blocked in ``recv``: each datagram with its arrival time."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port: int = self.sock.getsockname()[1]
        self.datagrams: list[tuple[float, bytes]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="delay-receiver", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            self.datagrams.append((time.monotonic(), data))

    def completions(self) -> dict[str, float]:
        """Batch id → when its first ``/voyage/event complete`` arrived."""
        arrived: dict[str, float] = {}
        for at, data in list(self.datagrams):
            with contextlib.suppress(OscDecodeError):
                for address, args in decode(data):
                    if address == "/voyage/event" and args[:1] == ["complete"]:
                        arrived.setdefault(str(args[1]), at)
        return arrived

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@dataclass(frozen=True)
class Anchor:
    """One instant read on both clocks: maps a simulator date to ``time.monotonic()`` (the
    simulator dates a running clock at the wall clock's pace, whatever its speed)."""

    monotonic: float
    date: datetime

    @classmethod
    def of(cls, clock: SimClock) -> Anchor:
        return cls(time.monotonic(), clock.now())

    def real(self, simulated: datetime) -> float:
        return self.monotonic + (simulated - self.date).total_seconds()


Watch = Callable[[str], object]


async def _create_staggered(sim: Simulator, plan: Plan, watch: Watch) -> list[str]:
    """Batches created one after the other at random gaps, each watched as it is created."""
    rng = random.Random(SEED)
    ids = []
    for i in range(plan.delay_batches):
        batch_id = sim.add_batch(SIZES[i % len(SIZES)], DELAY_SCENARIOS[i % len(DELAY_SCENARIOS)])
        watch(batch_id)
        ids.append(batch_id)
        await asyncio.sleep(plan.poll * rng.uniform(0.3, 0.9))
    return ids


async def _wait_completed(receiver: EventReceiver, ids: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not set(ids) <= receiver.completions().keys():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(set(ids) - receiver.completions().keys())} completions never arrived")
        await asyncio.sleep(0.05)


def _delays(
    sim: Simulator, anchor: Anchor, receiver: EventReceiver, ids: list[str], poll: float
) -> list[float]:
    """Each batch's delay from completion to its datagram's arrival, in units of P."""
    arrived = receiver.completions()
    delays = []
    for batch_id in ids:
        completed = datetime.fromisoformat(sim.batch(batch_id)["completed_at"])
        delays.append((arrived[batch_id] - anchor.real(completed)) / poll)
    return delays


def _timeout(plan: Plan) -> float:
    longest = 1545.0 + 300.0  # long_finalizing and stall, in simulated seconds
    return longest / plan.speed + plan.delay_batches * plan.poll + 20 * plan.poll + 10.0


@contextlib.asynccontextmanager
async def _sidecar(sim: Simulator, client: VoyageBatchClient, port: int, poll: float) -> AsyncIterator[Watch]:
    intervals = Intervals(poll=poll, minimum=poll / 4, maximum=12 * poll)
    config = SidecarConfig(
        destinations=[Destination("127.0.0.1", port)], intervals=intervals, control_port=None
    )
    sidecar = Sidecar(config, client)
    stop = asyncio.Event()
    task = asyncio.create_task(sidecar.run(stop))
    started = asyncio.ensure_future(sidecar.started.wait())
    await asyncio.wait([task, started], return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()
    try:
        yield sidecar.watcher.watch
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


class NaivePoller:
    """Every ``interval``, ``get_batch`` for each watched batch; OSC with python-osc on completion."""

    def __init__(self, client: VoyageBatchClient, port: int, interval: float) -> None:
        self.client = client
        self.interval = interval
        self.osc = SimpleUDPClient("127.0.0.1", port)
        self.watched: dict[str, int] = {}

    def watch(self, batch_id: str) -> None:
        self.watched[batch_id] = len(self.watched)

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        tick = loop.time()
        while not stop.is_set():
            for batch_id, slot in list(self.watched.items()):
                job = await self.client.get_batch(batch_id)
                if job.status is BatchStatus.COMPLETED:
                    self.osc.send_message("/voyage/event", ["complete", batch_id, slot])
                if job.status.is_terminal:
                    del self.watched[batch_id]
            tick += self.interval
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.0, tick - loop.time()))


@contextlib.asynccontextmanager
async def _naive(sim: Simulator, client: VoyageBatchClient, port: int, poll: float) -> AsyncIterator[Watch]:
    poller = NaivePoller(client, port, poll)
    stop = asyncio.Event()
    task = asyncio.create_task(poller.run(stop))
    try:
        yield poller.watch
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        poller.osc.close()


Runner = Callable[[Simulator, VoyageBatchClient, int, float], contextlib.AbstractAsyncContextManager[Watch]]


async def completion_delays(plan: Plan, runner: Runner) -> list[float]:
    receiver = EventReceiver()
    try:
        async with run_simulator(speed=plan.speed, seed=SEED) as sim, _client(sim) as client:
            anchor = Anchor.of(sim.clock)
            async with runner(sim, client, receiver.port, plan.poll) as watch:
                ids = await _create_staggered(sim, plan, watch)
                await _wait_completed(receiver, ids, _timeout(plan))
            return _delays(sim, anchor, receiver, ids, plan.poll)
    finally:
        receiver.close()


def _p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10, method="inclusive")[-1]


def _delay_rows(plan: Plan, ours: list[float], naive: list[float]) -> list[Result]:
    def describe(delays: list[float], fraction: float) -> str:
        return f"{fraction:.2f} P ({fraction * plan.poll * 1000:.0f} ms; {len(delays)} batches)"

    rows = []
    for name, pick, target in (("median", statistics.median, DELAY_TARGET), ("p90", _p90, None)):
        a, b = pick(ours), pick(naive)
        rows.append(
            Result(
                NAME,
                f"completion → OSC delay, {name} (P = {plan.poll:g} s, {plan.speed:g}× simulator)",
                describe(ours, a),
                describe(naive, b),
                f"{a / b:.2f}×",
                f"≤ {target:g} P" if target else "-",
                a <= target if target else None,
            )
        )
    return rows


async def delay_rows(plan: Plan) -> list[Result]:
    ours = await completion_delays(plan, _sidecar)
    naive = await completion_delays(plan, _naive)
    return _delay_rows(plan, ours, naive)


async def measure(quick: bool) -> list[Result]:
    plan = QUICK if quick else FULL
    return await cycle_rows(plan) + await delay_rows(plan)


def run(quick: bool) -> list[Result]:
    return asyncio.run(measure(quick))


if __name__ == "__main__":
    print(table(run(quick="--quick" in sys.argv)))
