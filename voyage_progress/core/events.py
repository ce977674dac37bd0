"""What a poll of a batch tells: the progress event of the spec, and milestone crossings."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Optional

from .metrics import UNKNOWN_ETA, BatchProgressMetrics
from .models import BatchJob, BatchStatus
from .phases import PhaseHistory, deadline_of, phase_eta

__all__ = ["BatchProgressEvent", "Milestones"]


@dataclass(slots=True)
class BatchProgressEvent:
    """One observation of a batch. The first twelve fields are the spec's, in its order.

    ``completed`` and ``failed`` are the API's counts; ``percent`` and ``progress`` count both,
    because a failed request is one the batch is done with. Rate and ETA are in requests per
    second and seconds; an unknown ETA is ``inf``, and so is the ETA of a batch that ended
    without completing (failed, cancelled, expired): 0.0 would say its work is done.

    The ETA runs to completion: the requests, then finalizing (``voyage_progress._phases``), so
    an active batch never has an ETA of 0. Before the first progress it can only come from past
    batches (``eta_from_history``). ``stalled``: no progress for several usual waits.
    ``deadline_seconds``: until the completion window ends (``inf`` unknown); ``at_risk``: the
    band's high end passes it (or it has passed).
    """

    batch_id: str
    status: BatchStatus
    total: int
    completed: int
    failed: int
    percent: float
    rate: float
    eta_seconds: float
    is_complete: bool
    is_failed: bool
    timestamp: datetime
    error_message: Optional[str] = None  # noqa: UP045 - the spec's own spelling
    progress: float = 0.0
    eta_low: float = UNKNOWN_ETA
    eta_high: float = UNKNOWN_ETA
    elapsed_seconds: float = 0.0
    is_terminal: bool = False
    job: BatchJob | None = field(default=None, repr=False, compare=False)
    stalled: bool = False
    at_risk: bool = False
    eta_from_history: bool = False
    deadline_seconds: float = UNKNOWN_ETA

    @property
    def phase(self) -> int:
        """The status as the OSC namespace's small integer."""
        return self.status.phase

    @property
    def eta_known(self) -> bool:
        return math.isfinite(self.eta_seconds)

    @classmethod
    def from_job(
        cls,
        job: BatchJob,
        timestamp: datetime,
        metrics: BatchProgressMetrics | None = None,
        history: PhaseHistory | None = None,
    ) -> BatchProgressEvent:
        """The event for ``job`` as seen at ``timestamp``; rate and ETA only with ``metrics``,
        the phases' durations from ``history`` (a prior without it)."""
        counts = job.request_counts
        status = job.status
        fraction = 1.0 if status is BatchStatus.COMPLETED else counts.fraction
        rate, eta, eta_low, eta_high, elapsed = 0.0, UNKNOWN_ETA, UNKNOWN_ETA, UNKNOWN_ETA, 0.0
        stalled = from_history = False
        if status is BatchStatus.COMPLETED:  # failed, cancelled, expired: it will never be done
            eta = eta_low = eta_high = 0.0
        if metrics is not None:
            elapsed = metrics.elapsed_seconds()
            if not status.is_terminal:
                rate = metrics.calculate_rate()
                requests = metrics.calculate_eta(counts.total, counts.processed)
                low, high = metrics.calculate_eta_band(counts.total, counts.processed)
                stalled = status is BatchStatus.IN_PROGRESS and metrics.is_stalled()
                estimate = phase_eta(
                    job, timestamp, history or PhaseHistory(), (requests, low, high), counts.processed > 0
                )
                eta, eta_low, eta_high = estimate.eta, estimate.low, estimate.high
                from_history = estimate.from_history
        deadline, at_risk = _deadline(job, timestamp, eta_high)
        return cls(
            batch_id=job.id,
            status=status,
            total=counts.total,
            completed=counts.completed,
            failed=counts.failed,
            percent=fraction * 100.0,
            rate=rate,
            eta_seconds=eta,
            is_complete=status is BatchStatus.COMPLETED,
            is_failed=status.is_failure,
            timestamp=timestamp,
            error_message=_error_message(job),
            progress=fraction,
            eta_low=eta_low,
            eta_high=eta_high,
            elapsed_seconds=elapsed,
            is_terminal=status.is_terminal,
            job=job,
            stalled=stalled,
            at_risk=at_risk,
            eta_from_history=from_history,
            deadline_seconds=deadline,
        )


def _deadline(job: BatchJob, now: datetime, eta_high: float) -> tuple[float, bool]:
    """Seconds until the batch is due (``inf`` unknown or ended), and whether it is at risk:
    the band's high end passes the deadline, or the deadline has passed."""
    due = deadline_of(job)
    if due is None or job.status.is_terminal:
        return UNKNOWN_ETA, False
    left = (due - now).total_seconds()
    return left, left < 0 or (math.isfinite(eta_high) and eta_high > left)


def _error_message(job: BatchJob) -> str | None:
    if job.error_message:
        return job.error_message
    status = job.status
    if status is BatchStatus.FAILED:
        return "batch failed"
    if status is BatchStatus.EXPIRED:
        return "batch expired before all requests were processed"
    if status in (BatchStatus.CANCELLING, BatchStatus.CANCELLED):
        return f"batch {status.value}"
    counts = job.request_counts
    if status is BatchStatus.COMPLETED and counts.total and counts.failed >= counts.total:
        return "every request failed; see the error file"
    return None


class Milestones:
    """Reports each multiple of ``step`` percent once, when progress reaches or passes it.

    Floats rarely land on exact multiples (``event.percent % 10 == 0`` misses most of them), and
    batch counts jump: one poll can cross several milestones, and all of them are reported.

    >>> milestones = Milestones(step=10)
    >>> milestones.crossed(23.5)
    [10, 20]
    >>> milestones.crossed(24.0)
    []
    """

    def __init__(self, step: float = 10.0) -> None:
        if not 0 < step <= 100:
            raise ValueError(f"step must be in (0, 100], not {step}")
        self.step = step
        self._reached = 0

    def crossed(self, percent: float) -> list[float | int]:
        """The milestones newly reached at ``percent``, in increasing order."""
        if not math.isfinite(percent):
            return []
        reached = int(min(percent, 100.0) // self.step + 1e-9)
        new = [self._as_number((n + 1) * self.step) for n in range(self._reached, reached)]
        self._reached = max(self._reached, reached)
        return new

    @staticmethod
    def _as_number(value: float) -> float | int:
        return int(value) if float(value).is_integer() else value
