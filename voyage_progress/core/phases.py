"""The phases around the work: the queue before it, finalizing after it, and the deadline.

``BatchProgressMetrics`` times the requests. A batch is not done when its last request is: it
still has to be *finalized* (result files written) before it completes, and before its first
request it waits in a queue (validating, then waiting for capacity). Both are learned here from
the batches seen to complete, per model, from the batch objects' own timestamps
(``created_at``, ``in_progress_at``, ``finalizing_at``, ``completed_at``), with a prior for
finalizing until then. ``PhaseHistory`` is a plain value: the sidecar keeps it in its state file.

The rules, in ``phase_eta``:

- before the first progress, the ETA comes from history: the rest of the usual queue, the
  requests at the usual rate for the model, and the usual finalizing; its band is wide, and the
  event says it comes from history;
- while requests run, the ETA is the requests' ETA plus the usual finalizing;
- while finalizing, the ETA is the rest of the usual finalizing; past it, a share of the time
  already spent (a phase that overran is likely to run on): never 0 while the batch is active.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .metrics import BAND_Z
from .models import BatchJob, BatchStatus

__all__ = ["Durations", "PhaseEstimate", "PhaseHistory", "deadline_of", "phase_eta"]

#: Durations kept per model and phase (the latest ones).
MAX_KEPT = 20
#: Finalizing is learned as a share of the time the requests took (result files grow with the
#: batch); before any batch was seen to complete, a tenth, give or take a factor of e.
FINALIZING_PRIOR_SHARE = 0.1
#: Finalizing takes at least this many seconds.
FINALIZING_MINIMUM = 1.0
PRIOR_LOG_SPREAD = 1.0
#: The prior counts as this many observed batches.
PRIOR_WEIGHT = 1.0
#: A phase that has run past its usual length is expected to last this share of its age more.
OVERRUN_SHARE = 0.25
#: The queue estimate's band is at least this wide (log units) each side: a guess from history.
HISTORY_MIN_SPREAD = 0.7
#: The key of durations learned across every model.
ANY_MODEL = "*"

_WINDOW = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass
class Durations:
    """The latest durations of one phase (seconds), and what they say: a log-normal's median
    and spread, pulled toward a prior while they are few."""

    seconds: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        if value > 0 and math.isfinite(value):
            self.seconds.append(value)
            del self.seconds[:-MAX_KEPT]

    def log_mean_spread(self, prior: float | None) -> tuple[float, float] | None:
        """Mean and standard deviation of the log durations; None with neither data nor prior."""
        logs = [math.log(value) for value in self.seconds]
        if not logs and prior is None:
            return None
        weight = PRIOR_WEIGHT if prior is not None else 0.0
        prior_log = math.log(prior) if prior is not None else 0.0
        count = len(logs) + weight
        mean = (sum(logs) + weight * prior_log) / count
        squares = sum((value - mean) ** 2 for value in logs) + weight * PRIOR_LOG_SPREAD**2
        return mean, math.sqrt(squares / count)


@dataclass
class PhaseHistory:
    """What the batches seen to complete took, per model: queue seconds, finalizing as a share
    of the processing time, and requests per second of processing."""

    queue: dict[str, Durations] = field(default_factory=dict)
    finalizing: dict[str, Durations] = field(default_factory=dict)
    rate: dict[str, Durations] = field(default_factory=dict)
    seen: list[str] = field(default_factory=list)  # batch ids already learned from (the latest)

    def learn(self, job: BatchJob) -> bool:
        """Learn from a completed batch, once per batch id. True when something was learned."""
        if job.status is not BatchStatus.COMPLETED or job.id in self.seen:
            return False
        created, started, finalizing, completed = (
            job.created_at,
            job.in_progress_at,
            job.finalizing_at,
            job.completed_at,
        )
        learned = False
        for model in (job.model or ANY_MODEL, ANY_MODEL) if job.model else (ANY_MODEL,):
            if created and started:
                learned |= _add(self.queue, model, (started - created).total_seconds())
            if started and finalizing and completed and finalizing > started:
                share = (completed - finalizing) / (finalizing - started)
                learned |= _add(self.finalizing, model, share)
            total = job.request_counts.total
            if started and finalizing and total:
                learned |= _add(self.rate, model, total / max((finalizing - started).total_seconds(), 1e-3))
        if learned:
            self.seen.append(job.id)
            del self.seen[: -MAX_KEPT * 10]
        return learned

    def _durations(self, table: dict[str, Durations], model: str | None) -> Durations:
        own = table.get(model or ANY_MODEL)
        return own if own is not None and own.seconds else table.get(ANY_MODEL, Durations())

    def finalizing_estimate(self, model: str | None, processing: float) -> tuple[float, float]:
        """Log mean and spread of finalizing seconds, for requests that took ``processing``
        seconds (a prior until a batch was seen to complete)."""
        stats = self._durations(self.finalizing, model).log_mean_spread(FINALIZING_PRIOR_SHARE)
        assert stats is not None
        log_share, spread = stats
        return math.log(max(FINALIZING_MINIMUM, processing * math.exp(log_share))), spread

    def queue_estimate(self, model: str | None) -> tuple[float, float] | None:
        return self._durations(self.queue, model).log_mean_spread(None)

    def rate_estimate(self, model: str | None) -> tuple[float, float] | None:
        return self._durations(self.rate, model).log_mean_spread(None)

    def to_dict(self) -> dict[str, Any]:
        return {
            name: {model: durations.seconds for model, durations in table.items()}
            for name, table in (("queue", self.queue), ("finalizing", self.finalizing), ("rate", self.rate))
        } | {"seen": list(self.seen)}

    @classmethod
    def from_dict(cls, data: Any) -> PhaseHistory:
        """The history saved by ``to_dict``; anything unreadable in it is left out."""
        history = cls()
        if not isinstance(data, dict):
            return history
        for name in ("queue", "finalizing", "rate"):
            table = data.get(name)
            if not isinstance(table, dict):
                continue
            for model, values in table.items():
                if isinstance(model, str) and isinstance(values, list):
                    durations = Durations()
                    for value in values:
                        if isinstance(value, int | float) and not isinstance(value, bool):
                            durations.add(float(value))
                    getattr(history, name)[model] = durations
        seen = data.get("seen")
        if isinstance(seen, list):
            history.seen = [item for item in seen if isinstance(item, str)]
        return history


def _add(table: dict[str, Durations], model: str, value: float) -> bool:
    if not (value > 0 and math.isfinite(value)):
        return False
    table.setdefault(model, Durations()).add(value)
    return True


@dataclass(frozen=True)
class PhaseEstimate:
    """The ETA to completion, its band, and whether it comes from history (before the first
    progress) rather than this batch's own rate."""

    eta: float
    low: float
    high: float
    from_history: bool = False


NO_ESTIMATE = PhaseEstimate(math.inf, math.inf, math.inf)


def _remaining(log_mean: float, spread: float, elapsed: float) -> tuple[float, float, float]:
    """The rest of a phase whose durations are log-normal, ``elapsed`` seconds into it: its
    median and band. Past the usual length, a share of the age."""
    usual = math.exp(log_mean)
    rest = max(usual - elapsed, OVERRUN_SHARE * elapsed, 1.0)
    return rest, rest * math.exp(-BAND_Z * spread), rest * math.exp(BAND_Z * spread)


def phase_eta(
    job: BatchJob,
    now: datetime,
    history: PhaseHistory,
    requests: tuple[float, float, float],
    first_progress_seen: bool,
) -> PhaseEstimate:
    """The ETA to completion of an active batch: ``requests`` is the requests' ETA and band
    (``inf`` when unknown); see the module for the rules."""
    status, model = job.status, job.model
    started = job.in_progress_at or now
    if status is BatchStatus.FINALIZING:
        since = job.finalizing_at or now
        processing = max(0.0, (since - started).total_seconds())
        final_mean, final_spread = history.finalizing_estimate(model, processing)
        return PhaseEstimate(*_remaining(final_mean, final_spread, max(0.0, (now - since).total_seconds())))
    processing = max(0.0, (now - started).total_seconds()) + (
        requests[0] if math.isfinite(requests[0]) else 0.0
    )
    final_mean, final_spread = history.finalizing_estimate(model, processing)
    final = math.exp(final_mean)
    final_low, final_high = final * math.exp(-BAND_Z * final_spread), final * math.exp(BAND_Z * final_spread)
    eta, low, high = requests
    if math.isfinite(eta):
        return PhaseEstimate(eta + final, low + final_low, high + final_high)
    if first_progress_seen or status not in (BatchStatus.VALIDATING, BatchStatus.IN_PROGRESS):
        return NO_ESTIMATE
    return _from_history(job, now, history)


def _from_history(job: BatchJob, now: datetime, history: PhaseHistory) -> PhaseEstimate:
    """Before the first progress: the rest of the queue, the requests at the usual rate, and
    finalizing, all as past batches of the model went."""
    rate = history.rate_estimate(job.model)
    queue = history.queue_estimate(job.model)
    total = job.request_counts.total
    if rate is None or queue is None or not total:
        return NO_ESTIMATE
    queue_mean, queue_spread = queue
    if job.status is BatchStatus.VALIDATING:
        waited = max(0.0, (now - job.created_at).total_seconds()) if job.created_at else 0.0
        queue_rest = _remaining(queue_mean, queue_spread, waited)[0]
        processing_waited = 0.0
    else:
        queue_rest = 0.0
        processing_waited = (
            max(0.0, (now - job.in_progress_at).total_seconds()) if job.in_progress_at else 0.0
        )
    rate_mean, rate_spread = rate
    usual = total / math.exp(rate_mean)
    processing = max(usual - processing_waited, OVERRUN_SHARE * processing_waited, 1.0)
    final_mean, final_spread = history.finalizing_estimate(job.model, usual)
    eta = queue_rest + processing + math.exp(final_mean)
    spread = max(HISTORY_MIN_SPREAD, BAND_Z * math.sqrt(rate_spread**2 + queue_spread**2 + final_spread**2))
    return PhaseEstimate(eta, eta * math.exp(-spread), eta * math.exp(spread), from_history=True)


def deadline_of(job: BatchJob) -> datetime | None:
    """When the batch is due: ``expected_completion_at``, else ``created_at`` plus the window."""
    if job.expected_completion_at is not None:
        return job.expected_completion_at
    if job.created_at is None or not job.completion_window:
        return None
    match = _WINDOW.match(job.completion_window)
    if match is None:
        return None
    return job.created_at + timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])
