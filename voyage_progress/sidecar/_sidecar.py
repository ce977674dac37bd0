"""The sidecar: the composition root. Watcher → one frame per flush → every output; commands
from the outputs → the watcher.

Watched batches are projected into snapshots as they change; a flush (soon after a change, and
on every heartbeat) gives every output one frame. The state file keeps the watch list, and
a batch's end once every output has it out. Nothing here may end the process on a bad answer
from the API: the watcher keeps the last known state and says what is wrong.

Nor may anything a peer sends wear it down: refreshes merge (one poll cycle at a time, however
many arrive), the watch list and the cancels in flight are capped (a refusal is said in the
health message, ``/sidecar/message`` on OSC), and the state file is saved at most once a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .._defaults import (
    DEFAULT_CONTROL_HOST,
    DEFAULT_CONTROL_PORT,
    DEFAULT_HTTP_HOST,
    DEFAULT_HTTP_PORT,
    DEFAULT_OSC_HOST,
    DEFAULT_OSC_PORT,
    DEFAULT_OSC_PREFIX,
    MAX_CANCELS_IN_FLIGHT,
    MAX_WATCHED_BATCHES,
)
from ..core.commands import Command, CommandKind
from ..core.frame import BatchSnapshot, Event, EventKind, Frame, Health, Receipt
from ..core.text import one_line
from ..outputs import Output, open_outputs
from ..outputs.osc import Destination
from ..outputs.terminal import SidecarView
from ..providers import BatchAPI, BatchRef, parse_batch_ref
from ..watcher import Intervals, Listeners, WatchedBatch, WatchEntry, Watcher
from ._state import SaveSchedule, StateFile

__all__ = ["Sidecar", "SidecarConfig"]

logger = logging.getLogger("voyage_progress.sidecar")

#: Seconds a refused control command stays in the health message: a few heartbeats, so that a
#: receiver sees it.
NOTICE_SECONDS = 10.0
#: Seconds between two log lines about refused control commands (the others are counted).
REFUSAL_LOG_EVERY = 60.0


@dataclass(frozen=True)
class SidecarConfig:
    """Everything the sidecar is told, decided once: ``voyage-progress watch``'s options."""

    #: Batches to watch: ids, or ``provider:ID`` (an id's shape says its provider, see
    #: ``voyage_progress.providers.parse_batch_ref``).
    batch_ids: Sequence[str] = ()
    #: Labels by batch id (as given in ``batch_ids``, or the bare id).
    labels: dict[str, str] = field(default_factory=dict)
    #: The provider of ids whose shape says none (None: the first provider the sidecar polls).
    provider: str | None = None
    all_active: bool = False
    destinations: Sequence[Destination] = (Destination(DEFAULT_OSC_HOST, DEFAULT_OSC_PORT),)
    prefix: str = DEFAULT_OSC_PREFIX
    intervals: Intervals = field(default_factory=Intervals)
    control_host: str = DEFAULT_CONTROL_HOST
    control_port: int | None = DEFAULT_CONTROL_PORT
    allowed_peers: Sequence[str] = ()
    allow_cancel: bool = False
    state_file: Path | None = None
    retire_after: float | None = None
    heartbeat_interval: float = 1.0
    full_state_interval: float = 2.0
    multicast_ttl: int = 1
    max_watched: int = MAX_WATCHED_BATCHES
    max_cancels_in_flight: int = MAX_CANCELS_IN_FLIGHT
    #: The outputs by name (``voyage_progress.outputs.OUTPUTS``); the view is always one more.
    outputs: Sequence[str] = ("osc",)
    #: The HTTP server of the ``oscquery`` and ``web`` outputs; None: not listening. Optional:
    #: when the port is in use, say so and go on without HTTP (the command line's default port).
    http_host: str = DEFAULT_HTTP_HOST
    http_port: int | None = DEFAULT_HTTP_PORT
    http_optional: bool = False
    #: Announce OSCQuery on mDNS when the HTTP server listens beyond loopback; on loopback too
    #: with ``mdns_on_loopback`` (for tests: nothing else on the network can use it there).
    mdns: bool = True
    mdns_on_loopback: bool = False


class Sidecar:
    """Runs until ``stop`` is set; see ``run``. ``client`` is the provider polled, or several by
    name. ``outputs`` replaces those ``config.outputs`` names; ``view`` (the terminal) is an
    output too."""

    def __init__(
        self,
        config: SidecarConfig,
        client: BatchAPI | Mapping[str, BatchAPI],
        view: SidecarView | None = None,
        *,
        outputs: Sequence[Output] | None = None,
    ) -> None:
        self.config = config
        self.client = client
        self.view = view or SidecarView("none")
        if outputs is None:
            outputs = open_outputs(config.outputs, config)
        self.outputs: list[Output] = [*outputs, self.view]
        self.epoch = random.randint(1, 2**31 - 1)
        self.heartbeat = 0
        self.running = False
        self.state = StateFile(config.state_file) if config.state_file else None
        self.saves = SaveSchedule(self.state, self._entries) if self.state else None
        self.watcher = Watcher(
            client,
            intervals=config.intervals,
            all_active=config.all_active,
            retire_after=config.retire_after,
            listeners=Listeners(on_update=self._changed, on_event=self._event, on_watchlist=self._save),
        )
        self._stop: asyncio.Event | None = None
        self._restoring = False
        self._news: list[BatchSnapshot | Event] = []
        self._flush_scheduled = False
        self._opened: list[Output] = []
        self._last_full_state = -math.inf
        self._refreshed_in_cycle: int | None = None
        self._cancels = 0
        self.refused = 0
        self._notice: tuple[str, float] | None = None
        self._refusal_logged_at = -math.inf
        self.started = asyncio.Event()

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Read the state file and take it, then start every output (errors here are the user's
        to fix: a state file that cannot be read or that another sidecar holds, a port in use, a
        bad host); nothing is sent before."""
        entries = self.state.load() if self.state else []
        if self.state is not None:
            self.watcher.history = self.state.history
        if self.state:
            self.state.lock()
        try:
            for output in self.outputs:
                await output.start(self._command)
                self._opened.append(output)
        except BaseException:
            await self._close_outputs()
            if self.state:
                self.state.unlock()
            raise
        self.running = True
        self._announce(EventKind.START)
        self._restore(entries)
        self.started.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Start, watch until ``stop`` is set (or a shutdown command arrives), then announce the
        shutdown."""
        self._stop = stop
        await self.start()
        try:
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
        """Return once every watched batch has ended and its end is out (or it cannot be read)."""
        batches = self.watcher.batches
        while not batches or any(b.end_said is None and b.error is None for b in batches.values()):
            await asyncio.sleep(0.1)

    async def shutdown(self) -> None:
        if self.running:
            self.running = False
            self._announce(EventKind.SHUTDOWN)
            self._flush(beat=True)
        else:
            self._flush()
        await self._close_outputs()
        if self.saves is not None:
            await self.saves.flush()
        if self.state is not None:
            self.state.unlock()

    async def _close_outputs(self) -> None:
        opened, self._opened = self._opened, []
        for output in opened:
            try:
                await output.aclose()
            except Exception:  # one output failing to close must not keep the others open
                logger.exception("closing an output failed")

    def _restore(self, entries: list[WatchEntry]) -> None:
        self._restoring = True
        try:
            for entry in entries:
                self.watcher.watch(
                    entry.batch_id,
                    entry.label,
                    slot=entry.slot,
                    auto=entry.auto,
                    end_said=entry.end_said,
                    provider=entry.provider,
                )
            labels = self.config.labels
            for text in self.config.batch_ids:
                ref = self._ref(text)
                label = labels.get(text) or labels.get(ref.batch_id, "")
                self.watcher.watch(ref.batch_id, label, provider=ref.provider)
        finally:
            self._restoring = False
        if self.saves is not None:
            self.saves.save_now()

    # -- from the watcher -----------------------------------------------------------------------

    def _changed(self, batch: WatchedBatch) -> None:
        """A batch a receiver would see change is news (one whose ETA alone moved is not: every
        frame carries it, and the full state sends it)."""
        self._news.append(batch.shown)
        self._schedule_flush()

    def _event(self, kind: EventKind, batch: WatchedBatch) -> None:
        self._news.append(Event(kind, batch.shown))
        self._schedule_flush()

    def _announce(self, kind: EventKind) -> None:
        self._news.append(Event(kind))
        self._schedule_flush()

    # -- to the outputs -------------------------------------------------------------------------

    def _schedule_flush(self) -> None:
        """A flush soon (in order, after whatever else is running now): a poll cycle that moves
        a hundred batches makes one frame, not a hundred."""
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self, *, beat: bool = False, full: bool = False) -> None:
        self._flush_scheduled = False
        news, self._news = tuple(self._news), []
        if not (news or beat or full):
            return
        ends = [
            (item.batch.batch_id, item.kind)
            for item in news
            if isinstance(item, Event) and item.kind.is_end and item.batch is not None
        ]
        receipt = Receipt(lambda: self._ends_said(ends)) if ends else None
        frame = Frame(
            at=self.watcher.clock(),
            health=self._health(),
            news=news,
            beat=beat,
            full=full,
            receipt=receipt,
            watched=self._shown,
        )
        for output in self._opened:
            try:
                output.publish(frame)
            except Exception:  # a broken output must not silence the others
                logger.exception("an output failed to publish")
        if receipt is not None:
            receipt.seal()

    def _shown(self) -> list[BatchSnapshot]:
        return [batch.shown for batch in self.watcher.by_slot()]

    def _ends_said(self, ends: list[tuple[str, EventKind]]) -> None:
        """The ends are out: only now may a restarted sidecar take them as said. (Saved when
        they were decided, a kill before the datagrams left would lose them for good.) Saved at
        once: left for the next save, up to a second later, a kill meanwhile would make the next
        sidecar send them again."""
        for batch_id, kind in ends:
            batch = self.watcher.batches.get(batch_id)
            if batch is not None:
                batch.end_said = kind
        self._save(at_once=True)

    def _health(self) -> Health:
        health = self.watcher.health
        message = health.message
        if self._notice is not None and self.watcher.clock() < self._notice[1]:
            message = f"{message}; {self._notice[0]}"
        return Health(
            heartbeat=self.heartbeat,
            epoch=self.epoch,
            running=self.running,
            api_ok=health.api_ok,
            message=message,
            poll_age=self.watcher.poll_age(),
            watching=len(self.watcher.batches),
            requests=health.requests,
            endpoints=tuple(where for output in self._opened for where in output.endpoints),
        )

    def send_full_state(self) -> None:
        """Every batch and the summary, so that a receiver that starts late catches up."""
        self._flush(full=True)

    async def _heartbeats(self, stop: asyncio.Event) -> None:
        clock = self.watcher.clock
        next_beat = clock()
        while not stop.is_set():
            self.heartbeat += 1
            full = clock() - self._last_full_state >= self.config.full_state_interval - 1e-3
            if full:
                self._last_full_state = clock()
            self._flush(beat=True, full=full)
            # on time, without catching up: after a jump of the clock (a machine waking from
            # sleep) the beats it skipped are not all sent at once
            next_beat = max(next_beat + self.config.heartbeat_interval, clock())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.0, next_beat - clock()))

    def _save(self, *, at_once: bool = False) -> None:
        if self.saves is not None and not self._restoring:
            self.saves.changed(at_once=at_once)

    def _entries(self) -> list[WatchEntry]:
        """The watch list as saved: copies, for a save in another thread."""
        return [batch.entry() for batch in self.watcher.by_slot()]

    # -- commands -------------------------------------------------------------------------------

    def _ref(self, text: str) -> BatchRef:
        """The batch ``text`` names: by its ``provider:`` prefix, its shape, or the default."""
        return parse_batch_ref(text, self.config.provider or self.watcher.default_provider)

    def _command(self, command: Command) -> Awaitable[None] | None:
        """Obey a command at once; only a cancel, which waits for the API, returns the rest of
        its work (so a flood of commands is not a flood of tasks)."""
        logger.info("control from %s:%s: %s %s", *command.peer, command.kind, command.batch_id or "")
        ref = None
        if command.batch_id:
            try:
                ref = self._ref(command.batch_id)
            except ValueError as exc:  # a bad id from the network is not the sidecar's end
                logger.warning("control %s ignored: %s", command.kind, exc)
                return None
        if command.kind is CommandKind.WATCH and ref:
            self._watch(ref, command.label or "")
        elif command.kind is CommandKind.UNWATCH and ref:
            self.watcher.unwatch(ref.batch_id)
        elif command.kind is CommandKind.REFRESH:
            self._refresh()
            self.send_full_state()
        elif command.kind is CommandKind.SHUTDOWN:
            if self._stop is not None:
                self._stop.set()
        elif command.kind is CommandKind.CANCEL and ref:
            if self._cancels >= self.config.max_cancels_in_flight:
                self._refuse("cancel", ref.batch_id, f"{self._cancels} cancels are already under way")
                return None
            self._cancels += 1
            return self._cancel(ref)
        return None

    def _watch(self, ref: BatchRef, label: str) -> None:
        watching = len(self.watcher.batches)
        if watching >= self.config.max_watched and ref.batch_id not in self.watcher.batches:
            self._refuse("watch", ref.batch_id, f"the watch list is full ({watching} batches)")
            return
        self.watcher.watch(ref.batch_id, label, provider=ref.provider)

    def _refresh(self) -> None:
        """Poll every batch now; a storm of refreshes is one per poll cycle (each costs a pass
        over every batch), and never polls sooner than a ``Retry-After`` allows."""
        cycle = self.watcher.health.cycles
        if self._refreshed_in_cycle != cycle:
            self._refreshed_in_cycle = cycle
            self.watcher.refresh()

    async def _cancel(self, ref: BatchRef) -> None:
        watched = self.watcher.batches.get(ref.batch_id)
        api = self.watcher.api_for(watched.provider if watched else ref.provider)
        try:
            if api is None:
                raise LookupError(f"no {ref.provider} key: its batches are not polled")
            await api.cancel_batch(ref.batch_id)
        except Exception as exc:  # a refused cancel must not end the sidecar
            logger.warning("cancel %s refused: %s", ref.batch_id, exc)
        finally:
            self._cancels -= 1
        self._refresh()

    def _refuse(self, kind: str, batch_id: str, why: str) -> None:
        """Say in the health message (``/sidecar/message``, for a few heartbeats) and in the log
        (at most once a minute) that a command was not obeyed."""
        self.refused += 1
        text = f"control refused {kind} {batch_id}: {why}; {self.refused} refused so far"
        now = self.watcher.clock()
        self._notice = (text, now + NOTICE_SECONDS)
        if now - self._refusal_logged_at >= REFUSAL_LOG_EVERY:
            self._refusal_logged_at = now
            logger.warning("%s; further refusals are counted, and logged once a minute", text)


Loop = Callable[[asyncio.Event], Awaitable[None]]


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
