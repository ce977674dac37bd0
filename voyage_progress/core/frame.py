"""What every output is given: one typed picture of the sidecar's state per flush.

The watcher keeps mutable state per batch. The sidecar projects each batch, when it changes,
into a frozen :class:`BatchSnapshot` (the one place where "what a batch looks like to a
receiver" is decided), and hands every output one :class:`Frame` per flush: every batch, their
sum, the sidecar's health, and what happened since the previous frame, in order.
"""

from __future__ import annotations

import enum
import functools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .._defaults import DEFAULT_PROVIDER
from .events import BatchProgressEvent
from .models import BatchStatus
from .text import clean_label, clean_text

__all__ = [
    "STATUS_ERROR",
    "STATUS_PENDING",
    "BatchSnapshot",
    "Event",
    "EventKind",
    "Frame",
    "Health",
    "Receipt",
    "Summary",
]

#: ``status`` of a batch that is watched but has not been read yet.
STATUS_PENDING = "pending"
#: ``status`` of a batch that cannot be read (unknown id, no access); ``error`` says why.
STATUS_ERROR = "error"


class EventKind(enum.StrEnum):
    """One-shot news: of the sidecar (start, shutdown) or of one batch."""

    START = "start"
    SHUTDOWN = "shutdown"
    WATCH = "watch"
    UNWATCH = "unwatch"
    COMPLETE = "complete"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    ERROR = "error"
    AT_RISK = "at_risk"

    @classmethod
    def end_of(cls, status: BatchStatus) -> EventKind | None:
        """The event that says a batch ended with ``status``; None while it has not ended."""
        return _ENDS.get(status)

    @property
    def is_end(self) -> bool:
        return self in _ENDS.values()


_ENDS = {
    BatchStatus.COMPLETED: EventKind.COMPLETE,
    BatchStatus.FAILED: EventKind.FAILED,
    BatchStatus.CANCELLED: EventKind.CANCELLED,
    BatchStatus.EXPIRED: EventKind.EXPIRED,
}


@dataclass(frozen=True, slots=True)
class BatchSnapshot:
    """One watched batch as every output shows it.

    Unknown figures: ``rate`` and ``elapsed`` are None, the ETAs ``inf`` (as in the events of
    the progress API). Two snapshots compare equal when a receiver would see nothing change at
    once: the figures that move on every poll (rate, ETAs, elapsed, when it was read) are left
    out of the comparison.
    """

    batch_id: str
    slot: int
    label: str = ""
    #: The API's status, or the sidecar's own ``pending`` (not read yet) and ``error``.
    status: str = STATUS_PENDING
    #: Why it failed, is ending, or cannot be read; "" when nothing is wrong.
    error: str = ""
    total: int = 0
    completed: int = 0
    failed: int = 0
    progress: float = 0.0
    is_complete: bool = False
    is_failed: bool = False
    #: It will not change any more: it ended, or it cannot be read.
    is_terminal: bool = False
    anomalies: int = 0
    #: No progress for several times the usual wait between count changes.
    stalled: bool = False
    #: The ETA band's high end passes the deadline (or the deadline has passed).
    at_risk: bool = False
    rate: float | None = field(default=None, compare=False)
    eta: float = field(default=math.inf, compare=False)
    eta_low: float = field(default=math.inf, compare=False)
    eta_high: float = field(default=math.inf, compare=False)
    elapsed: float | None = field(default=None, compare=False)
    #: The ETA comes from past batches (before the first progress), not from this one's rate.
    eta_from_history: bool = field(default=False, compare=False)
    #: Seconds until the completion window ends (negative once passed; ``inf`` unknown or ended).
    deadline: float = field(default=math.inf, compare=False)
    #: When it was last read, on the sidecar's monotonic clock (None: never).
    read_at: float | None = field(default=None, compare=False)
    #: Whose batch it is (``voyage``, ``openai``, ``anthropic``...).
    provider: str = DEFAULT_PROVIDER

    @classmethod
    def of(
        cls,
        batch_id: str,
        slot: int,
        label: str = "",
        *,
        provider: str = DEFAULT_PROVIDER,
        event: BatchProgressEvent | None = None,
        error: str | None = None,
        anomalies: int = 0,
        read_at: float | None = None,
    ) -> BatchSnapshot:
        """The batch as shown: from its latest event (None: not read yet) and the error that
        keeps it from being read, if any. The label, the status and the error are the API's or
        the network's text: cleaned and cut here, once for every output (see ``text``)."""
        unreadable = error is not None
        label = clean_label(label)
        if event is None:
            status = STATUS_ERROR if unreadable else STATUS_PENDING
            error = clean_text(error or "")
            return cls(
                batch_id,
                slot,
                label,
                status,
                error,
                is_terminal=unreadable,
                anomalies=anomalies,
                provider=provider,
            )
        return cls(
            batch_id,
            slot,
            label,
            status=clean_text(event.status.value),
            error=clean_text(error or event.error_message or ""),
            total=event.total,
            completed=event.completed,
            failed=event.failed,
            progress=event.progress,
            is_complete=event.is_complete,
            is_failed=event.is_failed,
            is_terminal=event.is_terminal or unreadable,
            anomalies=anomalies,
            rate=event.rate if event.rate > 0 else (0.0 if event.is_terminal else None),
            eta=event.eta_seconds,
            eta_low=event.eta_low,
            eta_high=event.eta_high,
            elapsed=event.elapsed_seconds,
            stalled=event.stalled,
            at_risk=event.at_risk,
            eta_from_history=event.eta_from_history,
            deadline=event.deadline_seconds,
            read_at=read_at,
            provider=provider,
        )

    @property
    def percent(self) -> float:
        return self.progress * 100.0

    @property
    def done(self) -> int:
        """Requests the batch is done with: completed or failed."""
        return self.completed + self.failed

    @property
    def phase(self) -> int:
        """The status as a small integer; the sidecar's own statuses are ``unknown``'s."""
        return BatchStatus(self.status).phase

    @property
    def is_active(self) -> bool:
        return not self.is_terminal


@dataclass(frozen=True, slots=True)
class Summary:
    """The sum over every watched batch."""

    progress: float = 0.0
    #: Until the last active batch is done; with none active, 0.0 if every batch completed,
    #: else unknown (inf).
    eta: float = 0.0
    active: int = 0
    total: int = 0
    completed: int = 0
    failed: int = 0

    @classmethod
    def of(cls, batches: Iterable[BatchSnapshot]) -> Summary:
        total = completed = failed = active = 0
        eta = 0.0
        all_completed = True
        for batch in batches:
            if batch.is_active:
                active += 1
                eta = max(eta, batch.eta)
            elif not batch.is_complete:  # failed, cancelled, expired or unreadable
                all_completed = False
            total += batch.total
            completed += batch.completed
            failed += batch.failed
        progress = min(1.0, (completed + failed) / total) if total else 0.0
        return cls(progress, eta if active or all_completed else math.inf, active, total, completed, failed)

    @property
    def percent(self) -> float:
        return self.progress * 100.0


@dataclass(frozen=True, slots=True)
class Health:
    """The sidecar itself: alive, polling well, and where its outputs send and listen."""

    heartbeat: int = 0
    #: Random per sidecar start: a change means a restart.
    epoch: int = 0
    running: bool = False
    api_ok: bool = False
    message: str = "not polled yet"
    #: Seconds since the latest successful poll; None before the first.
    poll_age: float | None = None
    watching: int = 0
    requests: int = 0
    #: Where the outputs send or listen, for a person: ``OSC → 127.0.0.1:7000``...
    endpoints: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Event:
    """One-shot news; ``batch`` is None for the sidecar's own (start, shutdown)."""

    kind: EventKind
    batch: BatchSnapshot | None = None


class Receipt:
    """Says when a frame is out: once every output that sends it later than ``publish`` has.

    Such an output takes a ``hold()`` while publishing and calls what it returns once the frame
    has left; the sidecar seals the receipt once every output has been given the frame. ``done``
    runs once, after the seal and the last release, whichever comes last.
    """

    def __init__(self, done: Callable[[], None]) -> None:
        self._done = done
        self._holds = 1  # the sidecar's own, until it seals

    def hold(self) -> Callable[[], None]:
        self._holds += 1
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self._release()

        return release

    def seal(self) -> None:
        self._release()

    def _release(self) -> None:
        self._holds -= 1
        if self._holds == 0:
            self._done()


@dataclass(frozen=True)
class Frame:
    """What the sidecar knows at one moment, and what happened since the previous frame.

    ``batches`` and ``summary`` are made on first use, from ``watched``: an output that needs
    neither (most frames carry a few news only) costs nothing for a thousand batches watched.
    """

    #: The sidecar's monotonic clock, in seconds: ``at - batch.read_at`` is a batch's age.
    at: float
    health: Health
    #: Batches that changed visibly, and events, in the order they happened.
    news: tuple[BatchSnapshot | Event, ...] = ()
    #: A heartbeat: outputs that beat send the health now.
    beat: bool = False
    #: Time for the full state: outputs whose receivers may have missed some news resend all.
    full: bool = False
    #: For a frame whose news ends batches: sign it once the news is out (see ``Receipt``).
    receipt: Receipt | None = None
    #: Every watched batch, by slot, when asked for.
    watched: Callable[[], Iterable[BatchSnapshot]] = field(default=tuple, repr=False, compare=False)

    @functools.cached_property
    def batches(self) -> tuple[BatchSnapshot, ...]:
        """Every watched batch, by slot."""
        return tuple(self.watched())

    @functools.cached_property
    def summary(self) -> Summary:
        return Summary.of(self.batches)
