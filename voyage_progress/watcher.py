"""Many batches, one scheduler.

Each watched batch wants polling at its own pace: slowly while validating, at the user's
interval while running, faster when it is about to finish. A cycle starts when the first batch
is due, and refreshes every due batch with ``GET /batches?limit=100`` pages (one request for up
to a hundred in-flight batches), falling back to ``GET /batches/{id}`` for those the pages did
not show. A batch stops being polled once its end has been seen. An answer that cannot be used
is that batch's anomaly, never the end of a cycle for the others.

The watcher knows providers only as ``BatchAPI`` (get and list batches), and nothing of
outputs: it keeps the state and calls its listeners. ``WatchedBatch.snapshot`` is how that
state is shown.

It may poll several providers at once (Voyage, OpenAI and Anthropic batches of one show): each
batch belongs to one, each provider is polled on its own, and one that fails (a revoked key, an
outage) is paused and retried on its own while the others go on.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ._defaults import COMPLETION_WINDOW_HOURS, DEFAULT_PROVIDER
from .core.errors import (
    TRANSIENT_ERRORS,
    APIError,
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
)
from .core.events import BatchProgressEvent
from .core.frame import BatchSnapshot, EventKind
from .core.metrics import BatchProgressMetrics
from .core.models import BatchJob, BatchStatus, Page, RequestCounts
from .core.phases import PhaseHistory
from .core.slots import Slots
from .core.text import check_batch_id, clean_label, clean_text, one_line
from .providers import BatchAPI

__all__ = ["Intervals", "Listeners", "WatchEntry", "WatchedBatch", "Watcher", "WatcherHealth"]

logger = logging.getLogger("voyage_progress.watcher")

PAGE_SIZE = 100
#: The most list pages one cycle reads, whether for due batches or in search of in-flight ones
#: (a search that needs more pages goes on in the next cycles).
MAX_LIST_PAGES = 3
#: How long after its creation a batch may still be in flight: the completion window (Voyage's, or
#: a provider's own ``window_hours``), and an hour more for finalizing or cancelling and for a
#: server clock that runs behind ours.
IN_FLIGHT_AT_MOST = timedelta(hours=COMPLETION_WINDOW_HOURS + 1)
#: The longest health message: one line on a screen, one small OSC string.
_MAX_HEALTH_MESSAGE = 200
#: Seconds a wait may overrun before it means the clock jumped (a machine woke from sleep, a
#: paused process resumed).
CLOCK_JUMP = 30.0
#: Seconds past a request's deadline that a poll cycle may go without any answer before
#: ``api_ok`` says so while the cycle still waits: room for a retry's backoff and the budget.
SILENCE_MARGIN = 2.0
#: A batch already read that the API then says does not exist (404) is only given up after
#: this many 404s in a row, spread over at least this many seconds: one replica that has not
#: heard of it, or a deploy, must not end its tracking for good.
GONE_AFTER_NOT_FOUND = 5
GONE_AFTER_SECONDS = 180.0


@dataclass
class WatchEntry:
    """What is kept of a watched batch across restarts (the state file holds these)."""

    batch_id: str
    slot: int
    label: str = ""
    #: Found by watching every in-flight batch, not asked for by id.
    auto: bool = False
    #: The end event, once it is out: a restart does not say it again (None: not said yet).
    end_said: EventKind | None = None
    #: Whose batch it is: a name of ``voyage_progress.providers.PROVIDERS``.
    provider: str = DEFAULT_PROVIDER

    def entry(self) -> WatchEntry:
        """Just what is kept across restarts, as a copy of its own (to save it elsewhere)."""
        return WatchEntry(**{f.name: getattr(self, f.name) for f in dataclasses.fields(WatchEntry)})


@dataclass
class WatchedBatch(WatchEntry):
    """What the sidecar knows of one batch."""

    job: BatchJob | None = None
    event: BatchProgressEvent | None = None
    error: str | None = None
    metrics: BatchProgressMetrics | None = None
    last_read: float | None = None
    next_due: float = 0.0
    ended_at: float | None = None
    anomalies: int = 0
    not_found: int = 0
    not_found_since: float | None = None
    at_risk_reported: bool = False
    #: The batch as every output shows it, as of its latest change (see ``snapshot``).
    shown: BatchSnapshot = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.shown = self.snapshot()

    @property
    def status(self) -> BatchStatus | None:
        return self.job.status if self.job else None

    @property
    def done_polling(self) -> bool:
        """Its end has been seen (or it cannot be read at all): no more requests for it."""
        return self.error is not None or (self.job is not None and self.job.status.is_terminal)

    @property
    def is_active(self) -> bool:
        return not self.done_polling

    def snapshot(self) -> BatchSnapshot:
        """The batch as every output shows it, from what is known of it now."""
        return BatchSnapshot.of(
            self.batch_id,
            self.slot,
            self.label,
            provider=self.provider,
            event=self.event,
            error=self.error,
            anomalies=self.anomalies,
            read_at=self.last_read,
        )


@dataclass
class WatcherHealth:
    api_ok: bool = False
    message: str = "not polled yet"
    last_success: float | None = None
    consecutive_failures: int = 0
    auth_failed: bool = False
    requests: int = 0
    cycles: int = 0
    last_cycle_requests: int = 0


@dataclass
class Intervals:
    """Polling pace: ``poll`` while running, slower while validating, faster near the end."""

    poll: float = 5.0
    minimum: float = 1.0
    maximum: float = 60.0

    def __post_init__(self) -> None:
        if not 0 < self.minimum <= self.poll <= self.maximum:
            raise ValueError(
                f"poll intervals must satisfy 0 < min ({self.minimum:g}) <= poll ({self.poll:g}) "
                f"<= max ({self.maximum:g})"
            )

    def for_batch(self, batch: WatchedBatch) -> float:
        status = batch.status
        if status is BatchStatus.VALIDATING:
            wanted = 2 * self.poll
        elif status is BatchStatus.FINALIZING or (
            status is BatchStatus.IN_PROGRESS and batch.event and batch.event.eta_seconds < 2 * self.poll
        ):
            wanted = self.poll / 2
        else:
            wanted = self.poll
        return min(self.maximum, max(self.minimum, wanted))


@dataclass
class Discovery:
    """How far the search for in-flight batches (``all_active``) has gone.

    A search reads the list from the newest batch down and ends at a batch too old to be in
    flight, at the end of the list, or at the batch the previous search began with: every batch
    below that one was looked at then (those in flight are watched, and one that had ended does
    not start again). A cycle reads at most ``MAX_LIST_PAGES`` pages, so a search that needs
    more goes on from ``cursor`` in the next cycles; each of them reads the newest page first,
    for the batches created meanwhile."""

    cursor: str | None = None
    began_with: str | None = None
    known_below: str | None = None

    def begin(self, first_page: Page[BatchJob]) -> None:
        self.began_with = first_page.data[0].id if first_page.data else None

    def advance(self, page: Page[BatchJob], too_old: datetime) -> None:
        """Move past ``page``: the search is over, or goes on after its last batch."""
        if _search_ends(page, self.known_below, too_old):
            self.cursor, self.known_below = None, self.began_with
        else:
            self.cursor = _next_page(page)


@dataclass
class Listeners:
    """What the watcher tells the rest of the sidecar."""

    #: A batch changed as a receiver sees it (``shown``); not when only its ETA moved.
    on_update: Callable[[WatchedBatch], None] = lambda batch: None
    on_event: Callable[[EventKind, WatchedBatch], None] = lambda kind, batch: None
    on_watchlist: Callable[[], None] = lambda: None


@dataclass
class Watcher:
    """Polls ``client``: one provider (every batch goes to it), or several by name (a batch goes
    to its ``provider``'s)."""

    client: BatchAPI | Mapping[str, BatchAPI]
    intervals: Intervals = field(default_factory=Intervals)
    all_active: bool = False
    retire_after: float | None = None
    listeners: Listeners = field(default_factory=Listeners)
    clock: Callable[[], float] = time.monotonic
    health: WatcherHealth = field(default_factory=WatcherHealth)
    batches: dict[str, WatchedBatch] = field(default_factory=dict)
    #: The providers polled, by name.
    providers: dict[str, BatchAPI] = field(init=False)
    #: How long the phases around the work took, learned from the batches seen to complete.
    history: PhaseHistory = field(default_factory=PhaseHistory)
    #: Each provider's search for in-flight batches, when it is due, and its pause after a failure.
    _discovery_due: dict[str, float] = field(default_factory=dict)
    _discovery: dict[str, Discovery] = field(default_factory=dict)
    _paused_until: dict[str, float] = field(default_factory=dict)
    #: Each provider's Retry-After: no request to it before then, refresh or not.
    _not_before: dict[str, float] = field(default_factory=dict)
    #: What is wrong with each provider that failed its latest poll, and how many times in a row.
    _problems: dict[str, tuple[str, bool]] = field(default_factory=dict)
    _failures: dict[str, int] = field(default_factory=dict)
    _slots: Slots = field(default_factory=Slots)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _origin: tuple[float, datetime] = (0.0, datetime.min)
    _only: BatchAPI | None = field(init=False, default=None)
    _last_answer: float = 0.0

    def __post_init__(self) -> None:
        self._origin = (self.clock(), datetime.now(UTC))
        if isinstance(self.client, Mapping):
            self.providers = dict(self.client)
        else:
            self._only = self.client
            self.providers = {str(getattr(self.client, "name", DEFAULT_PROVIDER)): self.client}
        if not self.providers:
            raise ValueError("a watcher needs at least one provider")

    @property
    def default_provider(self) -> str:
        """The provider of a batch watched without saying whose: the first one."""
        return next(iter(self.providers))

    def api_for(self, provider: str) -> BatchAPI | None:
        """The provider that reads batches of ``provider``: the one polled under that name (a
        watcher of one client: that client); None when it is not polled."""
        return self._only if self._only is not None else self.providers.get(provider)

    def wall_time(self) -> datetime:
        """Now, as a date, but counted on the watcher's monotonic clock: rates and ETAs are
        immune to the system clock jumping (NTP, daylight saving, a user fixing the time)."""
        started, at = self._origin
        return at + timedelta(seconds=self.clock() - started)

    # -- the watch list ---------------------------------------------------------------------------

    def watch(
        self,
        batch_id: str,
        label: str = "",
        *,
        slot: int | None = None,
        auto: bool = False,
        end_said: EventKind | None = None,
        provider: str | None = None,
    ) -> WatchedBatch:
        """Add a batch of ``provider`` (the default one when None), or relabel it; it keeps its
        slot for as long as it is watched. A batch of a provider not polled cannot be read.
        Raises ``ValueError`` for an id that is not a batch id (see ``voyage_progress.core.text``)."""
        check_batch_id(batch_id)
        label = clean_label(label)
        existing = self.batches.get(batch_id)
        if existing is not None:
            if label and label != existing.label:
                existing.label = label
                self._show(existing)
                self.listeners.on_watchlist()
            return existing
        batch = WatchedBatch(
            batch_id,
            self._slots.take(slot),
            label,
            auto=auto,
            end_said=end_said,
            provider=provider or self.default_provider,
        )
        self.batches[batch_id] = batch
        self.listeners.on_event(EventKind.WATCH, batch)
        self.listeners.on_watchlist()
        if self.api_for(batch.provider) is None:
            self._unreadable(batch, f"no {batch.provider} key: its batches are not polled")
        self.wake()
        return batch

    def unwatch(self, batch_id: str) -> WatchedBatch | None:
        batch = self.batches.pop(batch_id, None)
        if batch is not None:
            self._slots.give_back(batch.slot)
            self.listeners.on_event(EventKind.UNWATCH, batch)
            self.listeners.on_watchlist()
        return batch

    def refresh(self) -> None:
        """Poll every batch that is still moving, now."""
        for batch in self.batches.values():
            batch.next_due = 0.0
        self._discovery_due.clear()
        self._paused_until = dict(self._not_before)
        self.wake()

    def wake(self) -> None:
        self._wake.set()

    def by_slot(self) -> list[WatchedBatch]:
        return sorted(self.batches.values(), key=lambda b: b.slot)

    # -- scheduling -------------------------------------------------------------------------------

    def next_cycle_at(self) -> float:
        return min((self._next_for(name) for name in self.providers), default=math.inf)

    def _next_for(self, provider: str) -> float:
        """When ``provider`` is next due: its first batch, or its search for new ones, unless
        it is paused after a failure."""
        due = [b.next_due for b in self._batches_of(provider) if b.is_active]
        if self.all_active:
            due.append(self._discovery_due.get(provider, 0.0))
        return max(self._paused_until.get(provider, 0.0), min(due, default=math.inf))

    def _batches_of(self, provider: str) -> list[WatchedBatch]:
        batches = self.batches.values()
        return list(batches) if self._only is not None else [b for b in batches if b.provider == provider]

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop`` is set."""
        while not stop.is_set():
            due = self.next_cycle_at()
            delay = due - self.clock()
            if delay > 0:
                self._wake.clear()
                waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
                woken, _ = await asyncio.wait(
                    waits, timeout=None if math.isinf(delay) else delay, return_when=asyncio.FIRST_COMPLETED
                )
                for waiter in waits:
                    waiter.cancel()
                if not woken:  # the wait ran its course: it is ``due`` now, or the clock jumped
                    self._notice_clock_jump(late=self.clock() - due)
                continue
            await self.poll_once()
            self._retire_ended()

    async def poll_once(self) -> int:
        """One cycle: refresh every due batch, provider by provider. Returns the number of
        requests it took."""
        now = self.clock()
        requests_before = self.health.requests
        for name, api in self.providers.items():
            if self._paused_until.get(name, 0.0) > now:
                continue
            due = [b for b in self._batches_of(name) if b.is_active and b.next_due <= now]
            discover = self.all_active and self._discovery_due.get(name, 0.0) <= now
            if due or discover:
                await self._poll_provider(name, api, due, discover)
        self.health.cycles += 1
        self.health.last_cycle_requests = self.health.requests - requests_before
        return self.health.last_cycle_requests

    async def _poll_provider(self, name: str, api: BatchAPI, due: list[WatchedBatch], discover: bool) -> None:
        started = self._last_answer = self.clock()
        watchdog = asyncio.ensure_future(self._flag_silence(name))
        try:
            if discover or len(due) > 1:
                due = await self._refresh_from_list(name, api, due, discover)
            await self._look_up(api, due, until=started + self.intervals.poll)
        except TRANSIENT_ERRORS as exc:
            self._failed(name, exc)
        except (AuthenticationError, PermissionDeniedError) as exc:
            self._failed(name, exc, auth=True)
        except APIError as exc:  # any other refusal of the list (a 400, a 404): try again later
            self._failed(name, exc)
        else:
            self._succeeded(name)
        finally:
            watchdog.cancel()

    def silence_limit(self, provider: str | None = None) -> float:
        """Seconds a poll of ``provider`` (None: the slowest one) may go without an answer
        before ``api_ok`` goes to 0."""
        apis = [self.providers[provider]] if provider is not None else list(self.providers.values())
        return max(3 * self.intervals.poll, max(api.timeout for api in apis) + SILENCE_MARGIN)

    async def _flag_silence(self, provider: str) -> None:
        """While ``provider`` is polled: once no answer has come for ``silence_limit`` seconds
        (a server that drips its answers, a request retried after each deadline), say so at once
        rather than when the poll finally fails."""
        limit = self.silence_limit(provider)
        while (left := self._last_answer + limit - self.clock()) > 0:
            await asyncio.sleep(left)
        if self._failures.get(provider, 0) == 0:
            silent = self.clock() - self._last_answer
            message = f"API not answering: no answer for {silent:.0f} s, still waiting"
            self._problems[provider] = (message, False)
            self._sum_up()
            whose = f"{provider}: " if len(self.providers) > 1 else ""
            logger.warning("%sthe API has not answered for %.0f s; still waiting", whose, silent)

    async def _refresh_from_list(
        self, name: str, api: BatchAPI, due: list[WatchedBatch], discover: bool
    ) -> list[WatchedBatch]:
        """Update from ``api``'s list pages, the newest first, then those a search for in-flight
        batches still has to read (see ``Discovery``), or those that may show the due batches
        not seen yet; returns the due batches the pages did not show."""
        missing = {b.batch_id: b for b in due}
        search = self._discovery.setdefault(name, Discovery()) if discover else None
        resuming = search is not None and search.cursor is not None
        too_old = self.wall_time() - _in_flight_at_most(api)
        page = await self._read_page(name, api, None, missing, discover)
        if search is not None and not resuming:
            search.begin(page)
            search.advance(page, too_old)
        after = _next_page(page)
        for _ in range(MAX_LIST_PAGES - 1):
            if search is not None and search.cursor is not None:
                # taken before the read: a cursor the server refuses starts the search afresh
                after, search.cursor = search.cursor, None
                page = await self._read_page(name, api, after, missing, discover)
                search.advance(page, too_old)
            elif missing and after is not None:
                page = await self._read_page(name, api, after, missing, discover)
            else:
                break
            after = _next_page(page)
        if discover:
            self._discovery_due[name] = self.clock() + self.intervals.poll
        return list(missing.values())

    async def _read_page(
        self, name: str, api: BatchAPI, after: str | None, missing: dict[str, WatchedBatch], discover: bool
    ) -> Page[BatchJob]:
        """One list page, applied to the batches it shows (and, when discovering, watching those
        in flight as ``name``'s); the due batches it showed are taken out of ``missing``."""
        self.health.requests += 1
        page = await api.list_batches(limit=PAGE_SIZE, after=after)
        self._last_answer = self.clock()
        for job in page.data:
            watched = self.batches.get(job.id)
            if watched is None and discover and job.status.is_in_flight:
                watched = self.watch(job.id, job.metadata.get("label", ""), auto=True, provider=name)
            if watched is not None and watched.is_active:
                self._apply(watched, job)
                missing.pop(job.id, None)
        return page

    async def _look_up(self, api: BatchAPI, due: list[WatchedBatch], until: float) -> None:
        """Read one by one the due batches that no page showed, the longest waiting first, until
        the listed ones are due again: thousands of unknown ids are looked up a few at a time
        between polls of the others, not all before the next one."""
        for batch in sorted(due, key=lambda b: b.next_due):
            if self.clock() >= until:
                break
            await self._refresh_one(api, batch)

    async def _refresh_one(self, api: BatchAPI, batch: WatchedBatch) -> None:
        self.health.requests += 1
        try:
            job = await api.get_batch(batch.batch_id)
        except NotFoundError:
            self._last_answer = self.clock()
            if batch.job is None or self._gone(batch):
                self._unreadable(batch, "batch not found")
            return
        except PermissionDeniedError as exc:
            self._unreadable(batch, f"no access ({exc.status_code})")
            return
        self._last_answer = self.clock()
        self._apply(batch, job)

    def _gone(self, batch: WatchedBatch) -> bool:
        """A batch already read is now not found: gone once that has held long enough
        (``GONE_AFTER_NOT_FOUND`` answers over ``GONE_AFTER_SECONDS``); till then its last known
        state stays and it is asked for again at its usual pace."""
        now = self.clock()
        if batch.not_found_since is None:
            batch.not_found_since = now
            logger.warning(
                "batch %s: not found (404) although it was read before; asking again before giving up",
                batch.batch_id,
            )
        batch.not_found += 1
        if batch.not_found >= GONE_AFTER_NOT_FOUND and now - batch.not_found_since >= GONE_AFTER_SECONDS:
            return True
        batch.next_due = now + self.intervals.for_batch(batch)
        return False

    # -- applying what was read -------------------------------------------------------------------

    def _apply(self, batch: WatchedBatch, job: BatchJob) -> None:
        try:
            self._apply_answer(batch, job)
        except Exception as exc:  # one answer that cannot be used is this batch's anomaly, not the cycle's
            batch.next_due = self.clock() + self.intervals.for_batch(batch)
            self._anomaly(batch, f"ignored an answer that could not be applied ({one_line(exc)})")

    def _apply_answer(self, batch: WatchedBatch, job: BatchJob) -> None:
        now = self.clock()
        batch.not_found, batch.not_found_since = 0, None
        checked = self._checked(batch, job)
        if checked is None:  # not believed: keep what is known, read it again at the next poll
            batch.next_due = now + self.intervals.for_batch(batch)
            return
        job = checked
        wall = self.wall_time()
        if batch.metrics is None:
            batch.metrics = BatchProgressMetrics(start_time=_start_time(job, wall))
        if job.in_progress_at is not None and job.in_progress_at <= wall:
            batch.metrics.set_processing_start(job.in_progress_at)
        batch.metrics.add_sample(wall, job.request_counts.processed)
        batch.job = job
        batch.error = None
        batch.last_read = now
        if not batch.label and job.metadata.get("label"):
            batch.label = clean_label(job.metadata["label"])
        self.history.learn(job)  # saved with the watch list, which the end below changes
        batch.event = BatchProgressEvent.from_job(job, wall, batch.metrics, self.history)
        batch.next_due = now + self.intervals.for_batch(batch)
        just_ended = job.status.is_terminal and batch.ended_at is None
        if just_ended:
            batch.ended_at = now
        self._show(batch)
        if batch.event.at_risk and not batch.at_risk_reported:
            batch.at_risk_reported = True
            self.listeners.on_event(EventKind.AT_RISK, batch)
        end = EventKind.end_of(job.status)
        if just_ended and end is not None and batch.end_said != end:
            # said once it is out (the listeners set ``end_said``); a batch that ended is not
            # polled again, so this is the only time its end comes up in this life
            self.listeners.on_event(end, batch)

    def _checked(self, batch: WatchedBatch, job: BatchJob) -> BatchJob | None:
        """The batch as it may be shown, or None for an answer that cannot be believed.

        Counts never go backwards and a total, once known, stays. An answer that contradicts
        itself or what was already seen (more requests done than exist, no status, a status
        that goes back, an end with fewer requests done than already seen) is not applied. An
        unknown status is shown as it is. Each of these is an anomaly: counted, logged once."""
        previous = batch.job
        counts, before = job.request_counts, previous.request_counts if previous else RequestCounts()
        problem = _implausible(job, previous)
        if problem is None and job.status.is_terminal and counts.processed < before.processed:
            problem = "an end with fewer requests done than already seen"
        if problem is not None:
            self._anomaly(batch, f"ignored an answer with {problem}: {clean_text(job.status.value)} {counts}")
            return None
        fixed = RequestCounts(
            counts.total or before.total,
            max(counts.completed, before.completed),
            max(counts.failed, before.failed),
        )
        if fixed.total and fixed.processed > fixed.total:
            self._anomaly(batch, f"ignored counts {counts} that do not add up with those seen before")
            return None
        if fixed != counts:
            self._anomaly(batch, f"counts {counts} went backwards; kept {fixed}")
            job = dataclasses.replace(job, request_counts=fixed)
        if not job.status.is_known:
            self._anomaly(batch, f"unknown status {clean_text(job.status.value)!r}")
        elif job.malformed:
            self._anomaly(batch, "malformed " + ", ".join(job.malformed))
        return job

    def _anomaly(self, batch: WatchedBatch, what: str) -> None:
        batch.anomalies += 1
        if batch.anomalies == 1:
            logger.warning(
                "batch %s: %s (further anomalies of this batch are counted, not logged)", batch.batch_id, what
            )

    def _show(self, batch: WatchedBatch) -> None:
        """Project the batch anew, and tell the listeners when a receiver would see it change."""
        shown = batch.snapshot()
        changed = shown != batch.shown
        batch.shown = shown
        if changed:
            self.listeners.on_update(batch)

    def _unreadable(self, batch: WatchedBatch, reason: str) -> None:
        batch.error = reason
        batch.last_read = self.clock()
        self._show(batch)
        self.listeners.on_event(EventKind.ERROR, batch)

    def _notice_clock_jump(self, late: float) -> None:
        """A wait that overran by far: the clock jumped while nothing ran. What the batches did
        meanwhile is unknown, so each batch's rate is measured afresh from its next read on (its
        ETA is unknown until its count moves again) rather than counting the jump as time spent
        on little work. Every batch is overdue: the next cycle polls them at once."""
        if late <= CLOCK_JUMP:
            return
        logger.warning(
            "the clock jumped %.0f s ahead (the machine slept, or the process was paused); "
            "rates and ETAs are measured afresh",
            late,
        )
        for batch in self.batches.values():
            if batch.metrics is not None:
                batch.metrics = BatchProgressMetrics(start_time=batch.metrics.start_time)
        # Dates are counted on the monotonic clock from an anchor on the system's: after a jump
        # the two no longer agree, and a date an hour off would count the hour as work done
        # (the finalizing phase is a share of the time the requests took). Anchor again.
        self._origin = (self.clock(), datetime.now(UTC))

    def _retire_ended(self) -> None:
        if self.retire_after is None:
            return
        now = self.clock()
        for batch in list(self.batches.values()):
            if batch.ended_at is not None and now - batch.ended_at >= self.retire_after:
                self.unwatch(batch.batch_id)

    # -- health -----------------------------------------------------------------------------------

    def _succeeded(self, provider: str) -> None:
        self._problems.pop(provider, None)
        self._failures[provider] = 0
        self.health.last_success = self.clock()
        self._sum_up()

    def _failed(self, provider: str, exc: Exception, auth: bool = False) -> None:
        failures = self._failures[provider] = self._failures.get(provider, 0) + 1
        transient = isinstance(exc, TRANSIENT_ERRORS)
        what = "invalid API key" if auth else "API unreachable" if transient else "API error"
        self._problems[provider] = (f"{what}: {exc}", auth)
        backoff = min(self.intervals.maximum, self.intervals.poll * 2 ** min(failures, 6))
        delay = random.uniform(self.intervals.minimum, max(self.intervals.minimum, backoff))
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:  # honoured up to the slowest polling the user asked for
            retry_after = min(retry_after, self.intervals.maximum)
            delay = max(delay, retry_after)
            self._not_before[provider] = self.clock() + retry_after
        self._paused_until[provider] = self.clock() + delay
        self._sum_up()
        whose = f"{provider}: " if len(self.providers) > 1 else ""
        logger.warning("%spoll failed (%d in a row), next try in %.0f s: %s", whose, failures, delay, exc)

    def _sum_up(self) -> None:
        """The health of all providers in one: ok only while none is failing; the message names
        each one that is (by name, when there are several)."""
        health, problems = self.health, self._problems
        health.api_ok = not problems
        health.auth_failed = any(auth for _, auth in problems.values())
        health.consecutive_failures = max(self._failures.values(), default=0)
        if len(self.providers) == 1:
            message = next(iter(problems.values()))[0] if problems else "ok"
        else:
            message = "; ".join(f"{name}: {text}" for name, (text, _) in problems.items()) or "ok"
        health.message = clean_text(message, _MAX_HEALTH_MESSAGE)

    def loop_failed(self, exc: BaseException) -> None:
        """The polling loop itself failed (a bug): health says so until a cycle succeeds."""
        self.health.api_ok = False
        self.health.message = clean_text(f"polling failed: {one_line(exc)}", _MAX_HEALTH_MESSAGE)

    def poll_age(self) -> float | None:
        last = self.health.last_success
        return None if last is None else max(0.0, self.clock() - last)


def _implausible(job: BatchJob, previous: BatchJob | None) -> str | None:
    """Why an answer contradicts itself or what was seen before, if it does."""
    counts = job.request_counts
    unreadable = [name for name in job.malformed if name.startswith(("status", "request_counts"))]
    if unreadable:
        return "unreadable " + ", ".join(unreadable)
    if counts.total and counts.processed > counts.total:
        return "more requests done than the batch holds"
    if previous is None:
        return None
    if counts.total and previous.request_counts.total and counts.total != previous.request_counts.total:
        return "a different total"
    old, new = previous.status, job.status
    if old.is_known and new.is_known and not old.is_terminal and new.phase < old.phase:
        return "a status that went back"
    return None


def _next_page(page: Page[BatchJob]) -> str | None:
    """The ``after`` of the page that follows ``page``; None at the end of the list."""
    if not page.has_more or not page.data:
        return None
    return page.last_id or page.data[-1].id


def _search_ends(page: Page[BatchJob], known_below: str | None, too_old: datetime) -> bool:
    """The list ends here, or goes on only with batches that need no looking at."""
    return _next_page(page) is None or any(
        job.id == known_below or (job.created_at is not None and job.created_at < too_old)
        for job in page.data
    )


def _in_flight_at_most(api: BatchAPI) -> timedelta:
    """How long after its creation a batch of ``api``'s may still be in flight: its window
    (``window_hours``, where the provider has one of its own), and the hour more."""
    window = getattr(api, "window_hours", None)
    if not isinstance(window, (int, float)):
        return IN_FLIGHT_AT_MOST
    return timedelta(hours=window + 1)


def _start_time(job: BatchJob, now: datetime) -> datetime:
    """When the batch was created, unless the server's clock runs ahead of ours (a sped-up
    simulator): then when we first saw it."""
    created = job.created_at
    return created if created is not None and created <= now else now
