"""The sidecar: the composition root that wires the watcher to its outputs.

Watcher → OSC (a bundle per batch change, the full state every couple of seconds, a heartbeat
every second, one-shot events), → the terminal (live bars or log lines), → the state file. The
control port feeds commands back into the watcher. Nothing here may end the process on a bad
answer from the API: the watcher keeps the last known state and says what is wrong.

Nor may anything a peer sends wear it down: what waits to be sent is bounded by what is watched
(see ``Outbox``), refreshes merge (one poll cycle and one full state at a time, however many
arrive), the watch list and the cancels in flight are capped (a refusal is said on OSC, in
``/sidecar/message``), and the state file is saved at most once a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from .._defaults import (
    DEFAULT_CONTROL_HOST,
    DEFAULT_CONTROL_PORT,
    DEFAULT_OSC_HOST,
    DEFAULT_OSC_PORT,
    DEFAULT_OSC_PREFIX,
    MAX_CANCELS_IN_FLIGHT,
    MAX_WATCHED_BATCHES,
)
from ..core.text import one_line
from ..outputs.osc._codec import Message
from ..outputs.osc._control import ControlCommand, ControlServer
from ..outputs.osc._messages import batch_messages, event_message, health_messages, summary_messages
from ..outputs.osc._outbox import Outbox
from ..outputs.osc._sender import Destination, OscSender
from ..outputs.terminal import SidecarView
from ..providers.voyage import VoyageBatchClient
from ..watcher import END_EVENTS, Intervals, Listeners, WatchedBatch, Watcher
from ._state import SaveSchedule, StateFile, WatchEntry

__all__ = ["Sidecar", "SidecarConfig"]

logger = logging.getLogger("voyage_progress.sidecar")

#: Seconds a refused control command stays in ``/sidecar/message``: a few heartbeats, so that a
#: receiver sees it.
NOTICE_SECONDS = 10.0
#: Seconds between two log lines about refused control commands (the others are counted).
REFUSAL_LOG_EVERY = 60.0


@dataclass
class SidecarConfig:
    batch_ids: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    all_active: bool = False
    destinations: list[Destination] = field(
        default_factory=lambda: [Destination(DEFAULT_OSC_HOST, DEFAULT_OSC_PORT)]
    )
    prefix: str = DEFAULT_OSC_PREFIX
    intervals: Intervals = field(default_factory=Intervals)
    control_host: str = DEFAULT_CONTROL_HOST
    control_port: int | None = DEFAULT_CONTROL_PORT
    allowed_peers: list[str] = field(default_factory=list)
    allow_cancel: bool = False
    state_file: Path | None = None
    retire_after: float | None = None
    heartbeat_interval: float = 1.0
    full_state_interval: float = 2.0
    multicast_ttl: int = 1
    max_watched: int = MAX_WATCHED_BATCHES
    max_cancels_in_flight: int = MAX_CANCELS_IN_FLIGHT


class Sidecar:
    """Runs until ``stop`` is set; see ``run``."""

    def __init__(
        self, config: SidecarConfig, client: VoyageBatchClient, view: SidecarView | None = None
    ) -> None:
        self.config = config
        self.client = client
        self.view = view or SidecarView("none")
        self.epoch = random.randint(1, 2**31 - 1)
        self.heartbeat = 0
        self.running = False
        self.sender = OscSender(config.destinations, multicast_ttl=config.multicast_ttl)
        self.outbox = Outbox(self.sender)
        self.state = StateFile(config.state_file) if config.state_file else None
        self.saves = SaveSchedule(self.state, self._entries) if self.state else None
        self.watcher = Watcher(
            client,
            intervals=config.intervals,
            all_active=config.all_active,
            retire_after=config.retire_after,
            listeners=Listeners(on_update=self._batch_changed, on_event=self._event, on_watchlist=self._save),
        )
        self.control: ControlServer | None = None
        self._stop: asyncio.Event | None = None
        self._restoring = False
        self._pending: list[tuple[list[Message] | WatchedBatch, Callback | None]] = []
        self._pending_batches: set[str] = set()
        self._summary: list[Message] = []
        self._ends_sent: dict[str, str] = {}
        self._flush_scheduled = False
        self._shown: dict[str, tuple[object, ...]] = {}
        self._full_state_sending = False
        self._full_state_wanted = False
        self._last_full_state = -math.inf
        self._refreshed_in_cycle: int | None = None
        self._cancels = 0
        self.refused = 0
        self._notice: tuple[str, float] | None = None
        self._refusal_logged_at = -math.inf
        self.started = asyncio.Event()

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Read the state file and take it, then open every socket (errors here are the user's
        to fix: a state file that cannot be read or that another sidecar holds, a port in use, a
        bad host); nothing is sent before."""
        entries = self.state.load() if self.state else []
        if self.state is not None:
            self.watcher.history = self.state.history
        if self.state:
            self.state.lock()
        try:
            await self._open_sockets()
        except BaseException:
            if self.state:
                self.state.unlock()
            raise
        self.running = True
        self._send([event_message(self.config.prefix, "start")])
        self._restore(entries)
        self.started.set()

    async def _open_sockets(self) -> None:
        await self.sender.start()
        if self.config.control_port is not None:
            self.control = ControlServer(
                self._command,
                prefix=self.config.prefix,
                host=self.config.control_host,
                port=self.config.control_port,
                allowed_peers=self.config.allowed_peers,
                allow_cancel=self.config.allow_cancel,
            )
            try:
                await self.control.start()
            except BaseException:
                await self.sender.aclose()
                raise

    async def run(self, stop: asyncio.Event) -> None:
        """Start, watch until ``stop`` is set (or ``/control/shutdown`` arrives), then announce the
        shutdown on OSC."""
        self._stop = stop
        await self.start()
        try:
            with self.view.live(self.render_state):
                tasks = [
                    asyncio.create_task(
                        _supervised("polling", self.watcher.run, stop, self.watcher.loop_failed),
                        name="watcher",
                    ),
                    asyncio.create_task(_supervised("heartbeat", self._heartbeats, stop), name="heartbeat"),
                ]
                try:
                    await stop.wait()
                finally:
                    for task in tasks:
                        task.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            await self.shutdown()

    async def wait_all_ended(self) -> None:
        """Return once every watched batch has ended and its end was sent (or it cannot be read)."""
        batches = self.watcher.batches
        while not batches or any(b.reported_end is None and b.error is None for b in batches.values()):
            await asyncio.sleep(0.1)

    async def shutdown(self) -> None:
        if self.running:
            self.running = False
            self._send(self._health())  # in line: the last word, after every batch's state
            self._send([event_message(self.config.prefix, "shutdown")])
        if self.control is not None:
            await self.control.aclose()
        self._flush()
        await self.outbox.drain()
        if self.saves is not None:
            await self.saves.flush()
        await self.sender.aclose()
        if self.state is not None:
            self.state.unlock()

    def _restore(self, entries: list[WatchEntry]) -> None:
        self._restoring = True
        try:
            for entry in entries:
                if entry.reported_end:
                    self._ends_sent[entry.batch_id] = entry.reported_end
                self.watcher.watch(
                    entry.batch_id,
                    entry.label,
                    slot=entry.slot,
                    auto=entry.auto,
                    reported_end=entry.reported_end,
                )
            for batch_id in self.config.batch_ids:
                self.watcher.watch(batch_id, self.config.labels.get(batch_id, ""))
        finally:
            self._restoring = False
        if self.saves is not None:
            self.saves.save_now()

    # -- outputs ----------------------------------------------------------------------------------

    def _send(self, item: list[Message] | WatchedBatch, sent: Callback | None = None) -> None:
        """Queue a bundle, or a batch, whose state goes to the outbox when the queue is flushed
        (soon, in order): a poll cycle that moves a hundred batches computes the summary once,
        not a hundred times. ``sent`` is called once the bundle is on the wire."""
        if isinstance(item, WatchedBatch):
            if item.batch_id in self._pending_batches:
                return
            self._pending_batches.add(item.batch_id)
        self._pending.append((item, sent))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        pending, self._pending = self._pending, []
        self._pending_batches.clear()
        if any(isinstance(item, WatchedBatch) for item, _ in pending):
            self._summary = summary_messages(self.config.prefix, self.watcher.batches.values())
        for item, sent in pending:
            if isinstance(item, WatchedBatch):
                self.outbox.put_state(item.batch_id, functools.partial(self._bundle, item))
            else:
                self.outbox.put(item, sent)

    def _bundle(self, batch: WatchedBatch) -> list[Message]:
        """A batch's bundle as it leaves: its latest state, and the latest summary."""
        return batch_messages(self.config.prefix, batch, self._age(batch)) + self._summary

    def _batch_changed(self, batch: WatchedBatch) -> None:
        self.view.batch_changed(batch)
        shown = _visible(batch)
        if self._shown.get(batch.batch_id) != shown:  # else only its ETA moved: the full state carries it
            self._shown[batch.batch_id] = shown
            self._send(batch)

    def _event(self, kind: str, batch: WatchedBatch) -> None:
        if kind == "unwatch":
            self._shown.pop(batch.batch_id, None)
            self._ends_sent.pop(batch.batch_id, None)
            self._flush()  # its last state goes ahead of the event, and stays as it is
            self.outbox.seal(batch.batch_id)
        is_end = kind in END_EVENTS.values()
        sent = functools.partial(self._end_sent, batch.batch_id, kind) if is_end else None
        self._send([event_message(self.config.prefix, kind, batch.batch_id, batch.slot)], sent)
        self.view.event(kind, batch)

    def _end_sent(self, batch_id: str, kind: str) -> None:
        """A batch's end is on the wire: only now may a restarted sidecar take it as said. (Saved
        when it was decided, a kill before the datagram left would lose it for good.)"""
        self._ends_sent[batch_id] = kind
        self._save()

    def _health(self) -> list[Message]:
        health = self.watcher.health
        message = health.message
        if self._notice is not None and self.watcher.clock() < self._notice[1]:
            message = f"{message}; {self._notice[0]}"
        return health_messages(
            self.config.prefix,
            heartbeat=self.heartbeat,
            epoch=self.epoch,
            running=self.running,
            api_ok=health.api_ok,
            poll_age=self.watcher.poll_age(),
            watching=len(self.watcher.batches),
            message=message,
        )

    def send_full_state(self) -> None:
        """Every batch and the summary, so that a receiver that starts late catches up. One
        pass at a time: asked for while one is on its way, the next starts once it has left
        (ten thousand batches take longer to send than the period of the full state)."""
        if self._full_state_sending:
            self._full_state_wanted = True
            return
        self._full_state_sending, self._full_state_wanted = True, False
        self._last_full_state = self.watcher.clock()
        for batch in self.watcher.by_slot():
            self._send(batch)
        self._flush()
        self.outbox.when_sent(self._full_state_sent)

    def _full_state_sent(self) -> None:
        self._full_state_sending = False
        if self._full_state_wanted:
            self.send_full_state()

    async def _heartbeats(self, stop: asyncio.Event) -> None:
        clock = self.watcher.clock
        next_beat = clock()
        last_health = self.watcher.health.message
        while not stop.is_set():
            self.heartbeat += 1
            self.outbox.put_urgent(self._health())
            due = clock() - self._last_full_state >= self.config.full_state_interval - 1e-3
            if due and not self._full_state_sending:  # a slow pass delays the next, never queues it
                self.send_full_state()
            health = self.watcher.health
            if health.message != last_health:
                self.view.health_changed(health.api_ok, health.message)
                last_health = health.message
            # on time, without catching up: after a jump of the clock (a machine waking from
            # sleep) the beats it skipped are not all sent at once
            next_beat = max(next_beat + self.config.heartbeat_interval, clock())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.0, next_beat - clock()))

    def _age(self, batch: WatchedBatch) -> float | None:
        """Seconds since the batch was read, on the watcher's clock (it set ``last_read``)."""
        return None if batch.last_read is None else max(0.0, self.watcher.clock() - batch.last_read)

    def _save(self) -> None:
        if self.saves is not None and not self._restoring:
            self.saves.changed()

    def _entries(self) -> list[WatchEntry]:
        return [
            WatchEntry(b.batch_id, b.slot, b.label, b.auto, self._ends_sent.get(b.batch_id))
            for b in self.watcher.by_slot()
        ]

    def render_state(self) -> tuple[list[WatchedBatch], dict[str, object]]:
        health = self.watcher.health
        return self.watcher.by_slot(), {
            "api_ok": health.api_ok,
            "message": health.message,
            "poll_age": self.watcher.poll_age(),
            "requests": health.requests,
            "destinations": [f"{d.host}:{d.port}" for d in self.config.destinations],
            "control": f"{self.control.host}:{self.control.port}" if self.control else None,
            "epoch": self.epoch,
        }

    # -- control input --------------------------------------------------------------------------

    def _command(self, command: ControlCommand) -> Awaitable[None] | None:
        logger.info("control from %s:%s: %s %s", *command.peer, command.kind, command.batch_id or "")
        batch_id = command.batch_id
        if command.kind == "watch" and batch_id:
            self._watch(batch_id, command.label or "")
        elif command.kind == "unwatch" and batch_id:
            self.watcher.unwatch(batch_id)
        elif command.kind == "refresh":
            self._refresh()
            self.send_full_state()
        elif command.kind == "shutdown":
            if self._stop is not None:
                self._stop.set()
        elif command.kind == "cancel" and batch_id:
            if self._cancels >= self.config.max_cancels_in_flight:
                self._refuse("cancel", batch_id, f"{self._cancels} cancels are already under way")
                return None
            self._cancels += 1
            return self._cancel(batch_id)
        return None

    def _watch(self, batch_id: str, label: str) -> None:
        watching = len(self.watcher.batches)
        if watching >= self.config.max_watched and batch_id not in self.watcher.batches:
            self._refuse("watch", batch_id, f"the watch list is full ({watching} batches)")
            return
        self.watcher.watch(batch_id, label)

    def _refresh(self) -> None:
        """Poll every batch now; a storm of refreshes is one per poll cycle (each costs a pass
        over every batch), and never polls sooner than a ``Retry-After`` allows."""
        cycle = self.watcher.health.cycles
        if self._refreshed_in_cycle != cycle:
            self._refreshed_in_cycle = cycle
            self.watcher.refresh()

    async def _cancel(self, batch_id: str) -> None:
        try:
            await self.client.cancel_batch(batch_id)
        except Exception as exc:  # a refused cancel must not end the sidecar
            self.view.message(f"cancel {batch_id} refused: {exc}")
        finally:
            self._cancels -= 1
        self._refresh()

    def _refuse(self, kind: str, batch_id: str, why: str) -> None:
        """Say on OSC (in ``/sidecar/message``, for a few heartbeats) and in the log (at most
        once a minute) that a control command was not obeyed."""
        self.refused += 1
        text = f"control refused {kind} {batch_id}: {why}; {self.refused} refused so far"
        now = self.watcher.clock()
        self._notice = (text, now + NOTICE_SECONDS)
        if now - self._refusal_logged_at >= REFUSAL_LOG_EVERY:
            self._refusal_logged_at = now
            logger.warning("%s; further refusals are counted, and logged once a minute", text)


Loop = Callable[[asyncio.Event], Awaitable[None]]
Callback = Callable[[], None]


def _visible(batch: WatchedBatch) -> tuple[object, ...]:
    """What a receiver would see change at once (not the ETA, which moves every poll)."""
    job, event = batch.job, batch.event
    counts = job.request_counts if job else None
    return (
        batch.slot,
        batch.label,
        batch.error,
        job.status.value if job else None,
        counts.total if counts else None,
        counts.completed if counts else None,
        counts.failed if counts else None,
        event.error_message if event else None,
        batch.anomalies,
        event.stalled if event else False,
        event.at_risk if event else False,
    )


async def _supervised(
    name: str, run: Loop, stop: asyncio.Event, failed: Callable[[Exception], None] | None = None
) -> None:
    """Run a loop of the sidecar; should it ever fail, log why (in the line itself: a log
    handler may show no traceback), tell ``failed``, and start it again: a show goes on with a
    sidecar that hiccuped, not with one that quietly stopped sending."""
    while not stop.is_set():
        try:
            await run(stop)
            return
        except Exception as exc:
            logger.exception("the %s loop failed (%s); restarting it in a second", name, one_line(exc))
            if failed is not None:
                failed(exc)
            await asyncio.sleep(1.0)
