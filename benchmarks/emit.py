"""Emit cost: OSC messages per second through the sidecar's sender, against python-osc.

What is measured. ``OscSender.send_message`` (started on a running asyncio loop, one
destination) and python-osc's ``SimpleUDPClient.send_message`` each send the same list of
messages to the same UDP socket on 127.0.0.1, one call per message: encoding and the system
call, which is what the sidecar pays for every message it emits.

The messages are what the sidecar sends for a hundred batches in flight, made by the sidecar's
own functions (``voyage_progress.outputs.osc._messages``) from batches of an in-process simulator moved to
different points of their lives (validating, running, finalizing, ended; ``normal``,
``partial_failures``, ``long_finalizing``, ``quick``, ``late_counts``, ``stall`` and
``fail_validation``): for each of the slots 0–99 its 19 ``/voyage/batch/{slot}/...`` messages
(ids, labels, statuses as ``s``; counts and flags as ``i``; progress, rate, ETAs as ``f``) and
the 7 ``/voyage/all/...`` ones sent with them, the 8 ``/voyage/sidecar/...`` health messages,
and ``/voyage/event`` messages (``ssi``) for the watches and the ends.

How. Both senders run on the same message list (sent 12 times per round; twice in the quick
version), in interleaved rounds (ours, python-osc, ours, python-osc, ...; 11 rounds, 3 quick) so
that drift of the machine (frequency scaling, other load) falls on both; each figure is the
median over the rounds, timed with ``time.perf_counter()``, the garbage collector run before
each timed block. The receiving socket is real, with a 4 MB buffer, and is read by another
process, as a receiver on the same machine (TouchDesigner, Max) is: the sending process pays only
for sending; the table says how many of the datagrams sent it received. Between timed blocks
the benchmark waits, untimed, for the receiver to catch up.

On loopback the system call delivers the datagram into the receiver's socket, so its cost (a
few microseconds, the same for both senders) is most of ``send_message``'s. Rows that put the
main figure in context, measured in the same rounds:

- encoding alone: ``encode_message`` against ``OscMessageBuilder(...).build()``, no socket;
- the ceiling: a bare connected ``socket.send`` of the already encoded datagrams, which no
  sender can beat;
- a receiver thread blocked in ``recv`` instead (the kernel then wakes it for every datagram,
  inside the sender's system call, and the two threads contend for the GIL): a constant cost
  added to both senders, which brings their ratio down.

Also measured: bundles per second (the sidecar sends one bundle per batch change: its 26
messages), encoded by ``encode_bundle`` and sent by ``OscSender.send_datagram`` as the outbox
does, against python-osc's ``OscBundleBuilder`` + ``OscMessageBuilder`` +
``SimpleUDPClient.send``, the same way; and byte identity: every message
of the list encoded by ``encode_message`` and every bundle by ``encode_bundle``, compared with
python-osc's builders' datagrams.

``python -m benchmarks.emit [--quick]`` prints the table.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import multiprocessing
import socket
import statistics
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.udp_client import SimpleUDPClient

from benchmarks._report import Result, table
from voyage_progress.core.events import BatchProgressEvent
from voyage_progress.core.frame import BatchSnapshot, Event, EventKind, Health, Summary
from voyage_progress.core.metrics import BatchProgressMetrics
from voyage_progress.core.models import BatchJob, BatchStatus
from voyage_progress.outputs.osc import NAMESPACE, Destination, OscSender, encode_bundle, encode_message
from voyage_progress.outputs.osc._codec import Arg, Message
from voyage_progress.outputs.osc._messages import (
    batch_messages,
    event_message,
    health_messages,
    summary_messages,
)
from voyage_progress.simulator import Simulator, run_simulator
from voyage_progress.watcher import WatchedBatch

NAME = "emit"
PREFIX = "/voyage"
SLOTS = 100
SCENARIOS = (
    "normal",
    "partial_failures",
    "long_finalizing",
    "quick",
    "late_counts",
    "stall",
    "fail_validation",
)
RECEIVE_BUFFER = 4 * 1024 * 1024
DRAIN_EVERY = 0.001

T = TypeVar("T")


@dataclass
class Traffic:
    """What the sidecar sends for a hundred batches: single messages, and the batch bundles."""

    messages: list[Message]
    bundles: list[list[Message]]


@dataclass
class Plan:
    rounds: int
    message_reps: int
    bundle_reps: int


QUICK = Plan(rounds=3, message_reps=2, bundle_reps=3)
FULL = Plan(rounds=11, message_reps=12, bundle_reps=20)


# -- the receiving socket ---------------------------------------------------------------------------


class Drain:
    """A UDP socket on 127.0.0.1 that a background thread empties every millisecond, or, with
    ``blocking``, reads as each datagram arrives (blocked in ``recv``: a wake-up per datagram)."""

    def __init__(self, blocking: bool = False) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with contextlib.suppress(OSError):  # else the system's default; the received count shows any loss
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05 if blocking else 0.0)
        self.port: int = self.sock.getsockname()[1]
        self.received = 0
        self._stop = threading.Event()
        run = self._run_blocking if blocking else self._run
        self._thread = threading.Thread(target=run, name="emit-drain", daemon=True)
        self._thread.start()

    def _run_blocking(self) -> None:
        buffer = bytearray(65536)
        receive = self.sock.recv_into
        while not self._stop.is_set():
            try:
                receive(buffer)
                self.received += 1
            except TimeoutError:
                pass

    def _run(self) -> None:
        buffer = bytearray(65536)
        receive = self.sock.recv_into
        while not self._stop.wait(DRAIN_EVERY):
            try:
                while True:
                    receive(buffer)
                    self.received += 1
            except BlockingIOError:
                pass

    def catch_up(self, expected: int, timeout: float = 5.0) -> None:
        """Wait until ``expected`` datagrams arrived, or until none arrive for a while."""
        deadline = time.monotonic() + timeout
        last, quiet_since = self.received, time.monotonic()
        while self.received < expected and time.monotonic() < deadline:
            time.sleep(0.002)
            if self.received != last:
                last, quiet_since = self.received, time.monotonic()
            elif time.monotonic() - quiet_since > 0.2:
                return

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


def _drain_in_process(port_out: Any, received: Any, stop: Any) -> None:
    """The receiving side in a process of its own: what TouchDesigner or Max is."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.05)
    port_out.send(sock.getsockname()[1])
    buffer = bytearray(65536)
    count = 0
    while not stop.is_set():
        try:
            sock.recv_into(buffer)
            count += 1
            if count % 256 == 0:
                received.value = count
        except TimeoutError:
            received.value = count


class ProcessDrain(Drain):
    """A UDP socket read by another process, as a receiver on the same machine is: the sender's
    process pays only for sending."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._count = context.Value("q", 0, lock=False)
        self._halt = context.Event()
        parent, child = context.Pipe()
        self._process = context.Process(
            target=_drain_in_process, args=(child, self._count, self._halt), daemon=True
        )
        self._process.start()
        self.port = parent.recv()

    @property  # type: ignore[override]
    def received(self) -> int:
        return int(self._count.value)

    def close(self) -> None:
        self._halt.set()
        self._process.join(5)
        if self._process.is_alive():
            self._process.kill()


# -- the messages -----------------------------------------------------------------------------------


def _read(batch: WatchedBatch, sim: Simulator, now: datetime) -> None:
    """What the watcher does with a poll's answer, minus the scheduling."""
    job = BatchJob.from_dict(sim.batch(batch.batch_id))
    if batch.metrics is None:
        batch.metrics = BatchProgressMetrics(start_time=job.created_at or now)
    batch.metrics.add_sample(now, job.request_counts.processed)
    batch.job = job
    batch.event = BatchProgressEvent.from_job(job, now, batch.metrics)


async def _batches() -> list[WatchedBatch]:
    """A hundred batches created 8 simulated seconds apart, then read every 30 s for 5 minutes."""
    async with run_simulator(speed=0, seed=11) as sim:
        batches = []
        for slot in range(SLOTS):
            scenario = SCENARIOS[slot % len(SCENARIOS)]
            label = f"{scenario} corpus {slot}"
            batch_id = sim.add_batch(40 * (slot % 10) + 37 * (slot // 10) + 60, scenario, label=label)
            batches.append(WatchedBatch(batch_id, slot, label=label))
            sim.advance(8.0)
        for _ in range(10):
            sim.advance(30.0)
            now = sim.clock.now()
            for batch in batches:
                _read(batch, sim, now)
    return batches


def _bundle(batch: BatchSnapshot, summary: Summary) -> list[Message]:
    return batch_messages(PREFIX, batch, 0.4) + summary_messages(PREFIX, summary)


async def sidecar_traffic() -> Traffic:
    batches = [batch.snapshot() for batch in await _batches()]
    health = health_messages(
        PREFIX,
        Health(
            heartbeat=3600,
            epoch=1_843_771_202,
            running=True,
            api_ok=True,
            poll_age=0.42,
            watching=len(batches),
            message="ok",
        ),
    )
    events = [event_message(PREFIX, Event(EventKind.WATCH, b)) for b in batches]
    ends = [(EventKind.end_of(BatchStatus(b.status)), b) for b in batches]
    events += [event_message(PREFIX, Event(kind, b)) for kind, b in ends if kind is not None]
    summary = Summary.of(batches)
    bundles = [_bundle(batch, summary) for batch in batches]
    messages = health + events + [message for bundle in bundles for message in bundle]
    return Traffic(messages, bundles)


def _namespace_coverage(messages: list[Message]) -> str:
    """How many of the namespace's sent addresses the list uses (the control input is not sent)."""
    sent = {a.path for group, addresses in NAMESPACE.items() if group != "control" for a in addresses}
    used = {address.removeprefix(PREFIX) for address, _ in messages}
    used |= {"/batch/{slot}/" + a.rsplit("/", 1)[1] for a in used if a.startswith("/batch/")}
    return f"{len(sent & used)}/{len(sent)}"


# -- python-osc's datagrams ---------------------------------------------------------------------------


def python_osc_message(address: str, args: Sequence[object]) -> OscMessage:
    builder = OscMessageBuilder(address=address)
    for arg in args:
        builder.add_arg(arg)  # type: ignore[arg-type]
    return builder.build()


def python_osc_bundle(messages: Sequence[Message]) -> OscBundle:
    builder = OscBundleBuilder(IMMEDIATELY)
    for address, args in messages:
        builder.add_content(python_osc_message(address, args))
    return builder.build()


def byte_identity(traffic: Traffic) -> Result:
    messages = sum(
        encode_message(a, args) == python_osc_message(a, args).dgram for a, args in traffic.messages
    )
    bundles = sum(encode_bundle(b) == python_osc_bundle(b).dgram for b in traffic.bundles)
    same = messages == len(traffic.messages) and bundles == len(traffic.bundles)
    return Result(
        NAME,
        f"byte-identical: {'yes' if same else 'no'} "
        f"({len(traffic.messages)} messages, {len(traffic.bundles)} bundles)",
        f"{messages + bundles}/{len(traffic.messages) + len(traffic.bundles)} identical",
        "python-osc builders",
        "-",
        "all identical",
        same,
    )


# -- timing -------------------------------------------------------------------------------------------


@dataclass
class Job:
    """A timed block: ``work()`` returns how many messages or bundles it handled; ``datagrams``
    says whether each of them left as a datagram (encoding alone sends nothing)."""

    work: Callable[[], int]
    datagrams: bool = True


def _per_message(
    each: Callable[[str, Sequence[Arg]], object], messages: list[Message], reps: int, datagrams: bool = True
) -> Job:
    def work() -> int:
        for _ in range(reps):
            for address, args in messages:
                each(address, args)
        return reps * len(messages)

    return Job(work, datagrams)


def _per_item(each: Callable[[T], object], items: Sequence[T], reps: int) -> Job:
    def work() -> int:
        for _ in range(reps):
            for item in items:
                each(item)
        return reps * len(items)

    return Job(work)


@dataclass
class Side:
    """One job's rates (one per round) and the datagrams it sent and the receiver got."""

    rates: list[float] = field(default_factory=list)
    sent: int = 0
    received: int = 0

    @property
    def median(self) -> float:
        return statistics.median(self.rates)


def _time(job: Job, drain: Drain, side: Side) -> None:
    gc.collect()
    before = drain.received
    start = time.perf_counter()
    count = job.work()
    elapsed = time.perf_counter() - start
    side.rates.append(count / elapsed)
    if job.datagrams:
        drain.catch_up(before + count)
        side.sent += count
        side.received += drain.received - before


def interleaved(jobs: dict[str, Job], drain: Drain, rounds: int) -> dict[str, Side]:
    """ABAB...: each round times every job once, in the same order; each figure is a median."""
    for job in jobs.values():
        job.work()  # warm the caches (encoding layouts, python-osc's imports), untimed
    drain.catch_up(drain.received + 10**9, timeout=0.5)
    sides = {name: Side() for name in jobs}
    for _ in range(rounds):
        for name, job in jobs.items():
            _time(job, drain, sides[name])
    return sides


# -- the table ----------------------------------------------------------------------------------------


def _rate_row(metric: str, unit: str, ours: Side, theirs: Side, target: float | None = None) -> Result:
    """The ratio of the medians, and the range of the ratios of the rounds (ours / theirs in each)."""
    ratio = ours.median / theirs.median
    rounds = [a / b for a, b in zip(ours.rates, theirs.rates, strict=True)]
    return Result(
        NAME,
        metric,
        f"{ours.median:,.0f} {unit}",
        f"{theirs.median:,.0f} {unit}",
        f"{ratio:.2f}× (rounds {min(rounds):.2f}–{max(rounds):.2f})",
        f"≥ {target:g}× python-osc" if target else "-",
        ratio >= target if target else None,
    )


def _floor_row(ours: Side, floor: Side) -> Result:
    """Our rate against the system call alone: what is left to gain in Python."""
    return Result(
        NAME,
        "send_message against bare socket.send of its encoded datagrams (the ceiling)",
        f"{ours.median:,.0f} msg/s",
        f"{floor.median:,.0f} msg/s",
        f"{ours.median / floor.median:.2f}×",
        "-",
    )


def _delivery_row(what: str, ours: Side, theirs: Side, checked: bool = True) -> Result:
    """Whether the receiver got everything; for the receiver blocked in ``recv`` (a thread of the
    sending process, fighting it for the GIL) losses say more about that receiver than the sender."""

    def share(side: Side) -> str:
        return f"{side.received:,}/{side.sent:,} ({100 * side.received / side.sent:.2f} %)"

    complete = ours.received == ours.sent and theirs.received == theirs.sent
    return Result(
        NAME,
        f"datagrams received / sent ({what})",
        share(ours),
        share(theirs),
        "-",
        "all" if checked else "-",
        complete if checked else None,
    )


def _connected(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect(("127.0.0.1", port))
    return sock


@contextlib.asynccontextmanager
async def _senders(port: int) -> AsyncIterator[tuple[OscSender, SimpleUDPClient]]:
    sender = OscSender([Destination("127.0.0.1", port)])
    client = SimpleUDPClient("127.0.0.1", port)
    await sender.start()
    try:
        yield sender, client
    finally:
        await sender.aclose()
        client.close()


async def _messages(traffic: Traffic, drain: Drain, plan: Plan) -> dict[str, Side]:
    messages, reps = traffic.messages, plan.message_reps
    encoded = [encode_message(address, args) for address, args in messages]
    async with _senders(drain.port) as (sender, client):
        with contextlib.closing(_connected(drain.port)) as bare:
            jobs = {
                "ours": _per_message(sender.send_message, messages, reps),
                "python-osc": _per_message(client.send_message, messages, reps),
                "encode ours": _per_message(encode_message, messages, reps, datagrams=False),
                "encode python-osc": _per_message(python_osc_message, messages, reps, datagrams=False),
                "floor": _per_item(bare.send, encoded, reps),
            }
            return interleaved(jobs, drain, plan.rounds)


async def _bundles(traffic: Traffic, drain: Drain, plan: Plan) -> dict[str, Side]:
    async with _senders(drain.port) as (sender, client):
        jobs = {
            "ours": _per_item(
                lambda b: sender.send_datagram(encode_bundle(b)), traffic.bundles, plan.bundle_reps
            ),
            "python-osc": _per_item(
                lambda b: client.send(python_osc_bundle(b)), traffic.bundles, plan.bundle_reps
            ),
        }
        return interleaved(jobs, drain, plan.rounds)


async def _blocked_receiver(traffic: Traffic, plan: Plan) -> dict[str, Side]:
    drain = Drain(blocking=True)
    try:
        async with _senders(drain.port) as (sender, client):
            jobs = {
                "ours": _per_message(sender.send_message, traffic.messages, plan.message_reps),
                "python-osc": _per_message(client.send_message, traffic.messages, plan.message_reps),
            }
            return interleaved(jobs, drain, plan.rounds)
    finally:
        drain.close()


async def measure(quick: bool) -> list[Result]:
    plan = QUICK if quick else FULL
    traffic = await sidecar_traffic()
    drain = ProcessDrain()
    try:
        messages = await _messages(traffic, drain, plan)
        bundles = await _bundles(traffic, drain, plan)
    finally:
        drain.close()
    blocked = await _blocked_receiver(traffic, plan)
    mix = f"{len(traffic.messages)}-message mix, {_namespace_coverage(traffic.messages)} addresses"
    return [
        _rate_row(
            f"messages/s, send_message ({mix})", "msg/s", messages["ours"], messages["python-osc"], target=2.0
        ),
        _rate_row("bundles/s, 26-message batch bundle", "bundles/s", bundles["ours"], bundles["python-osc"]),
        _rate_row(
            "messages/s, encoding alone (no socket)",
            "msg/s",
            messages["encode ours"],
            messages["encode python-osc"],
        ),
        _floor_row(messages["ours"], messages["floor"]),
        _rate_row(
            "messages/s, receiver thread blocked in recv in the sending process",
            "msg/s",
            blocked["ours"],
            blocked["python-osc"],
        ),
        _delivery_row("messages", messages["ours"], messages["python-osc"]),
        _delivery_row("bundles", bundles["ours"], bundles["python-osc"]),
        _delivery_row("receiver blocked in recv", blocked["ours"], blocked["python-osc"], checked=False),
        byte_identity(traffic),
    ]


def run(quick: bool) -> list[Result]:
    return asyncio.run(measure(quick))


if __name__ == "__main__":
    print(table(run(quick="--quick" in sys.argv)))
