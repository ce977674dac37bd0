"""How a simulated batch unfolds: pure functions of simulated time, no I/O.

A batch's life is a ``Plan``: a validating delay, a rate profile (segments of uneven speed, a
burst, an optional stall), counts the server refreshes only every few seconds (so they jump), a
share of failed requests, a finalizing tail, and the 12-hour window. ``Plan.snapshot(t)`` says
where the batch stands ``t`` simulated seconds after its creation; nothing is stored per tick,
so a batch can be asked about any moment, in any order, and answers the same.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
import random
from dataclasses import dataclass, field

__all__ = ["DEFAULT_SCENARIO", "SCENARIOS", "WINDOW_SECONDS", "Plan", "Scenario", "Snapshot"]

#: Voyage's completion window, ``"12h"``.
WINDOW_SECONDS = 12 * 3600.0


@dataclass(frozen=True)
class Scenario:
    """The shape of a batch's life, in simulated seconds."""

    name: str
    description: str
    validating: float = 45.0
    processing: float = 900.0
    finalizing: float = 60.0
    failure_rate: float = 0.002
    fail_validation: bool = False
    stall_at: float | None = None
    stall_for: float = 0.0
    cancel_at: float | None = None
    cancelling: float = 45.0
    update_period: float = 10.0
    rate_spread: float = 0.5
    counts_hidden_until: float = 0.0
    expiry_status: str = "finalizing"
    #: Each of the ten segments runs at this times the rate of the one before (a drift).
    rate_trend: float = 1.0
    #: From this share of the work on, the rate is cut to ``throttle_factor`` (and stays cut).
    throttle_at: float | None = None
    throttle_factor: float = 0.3
    #: Processing as a multiple of the time the window leaves after validating, so that the
    #: scenario runs out of any provider's window (12 h for Voyage, 24 h for OpenAI and
    #: Anthropic); ``processing`` is ignored when set.
    outlasts_window: float | None = None

    def fitted(self, window: float) -> Scenario:
        """The scenario in a window of ``window`` seconds."""
        if self.outlasts_window is None:
            return self
        return dataclasses.replace(self, processing=(window - self.validating) * self.outlasts_window)


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("normal", "validates, runs at an uneven rate with a burst, finalizes, completes"),
        Scenario(
            "fail_validation",
            "input validation fails; the batch ends as failed",
            validating=30.0,
            fail_validation=True,
        ),
        Scenario(
            "partial_failures", "completes, with 15 % of its requests in the error file", failure_rate=0.15
        ),
        Scenario("all_failed", "completes with every request failed: no output file", failure_rate=1.0),
        Scenario("long_finalizing", "all requests done, then ten minutes of finalizing", finalizing=600.0),
        Scenario("stall", "stalls for five minutes at 40 %, then resumes", stall_at=0.4, stall_for=300.0),
        Scenario(
            "cancel",
            "cancelled from elsewhere at 35 %; cancelling takes two minutes",
            cancel_at=0.35,
            cancelling=120.0,
        ),
        Scenario(
            "expire",
            "too slow for the window: unfinished requests fail as batch_expired (OpenAI's and "
            "Anthropic's dialects end it as expired)",
            outlasts_window=1 / 0.6,
            update_period=60.0,
        ),
        Scenario(
            "expire_openai",
            "like expire, but ends as 'expired' the way OpenAI-style servers do",
            outlasts_window=1 / 0.6,
            update_period=60.0,
            expiry_status="expired",
        ),
        Scenario(
            "late_counts",
            "counts stay at 0 until 70 % of the work is done, then jump",
            counts_hidden_until=0.7,
        ),
        Scenario("slowing", "the rate falls by a sixth every tenth of the time", rate_trend=0.85),
        Scenario(
            "throttled",
            "runs at an even rate, then is throttled to a third from 50 % on",
            rate_spread=0.15,
            throttle_at=0.5,
            throttle_factor=1 / 3,
        ),
        Scenario(
            "volatile", "the rate jumps by a factor of two or more from segment to segment", rate_spread=1.0
        ),
        Scenario(
            "sparse_counts",
            "counts refreshed every two minutes only, with a stall of three minutes at 60 %",
            update_period=120.0,
            stall_at=0.6,
            stall_for=180.0,
        ),
        Scenario(
            "quick",
            "a short batch: seconds of validating, a minute of work",
            validating=5.0,
            processing=60.0,
            finalizing=5.0,
            update_period=3.0,
        ),
    )
}

DEFAULT_SCENARIO = "normal"


@dataclass(frozen=True)
class Snapshot:
    """Where a batch stands at one moment. Times are simulated seconds after creation."""

    status: str
    total: int
    completed: int
    failed: int
    expired: int = 0
    times: dict[str, float] = field(default_factory=dict)

    @property
    def processed(self) -> int:
        return self.completed + self.failed


def failed_among(processed: int, failure_rate: float) -> int:
    """How many of the first ``processed`` requests failed (failures spread evenly)."""
    return min(processed, math.floor(processed * failure_rate + 1e-9))


def request_fails(index: int, failure_rate: float) -> bool:
    """Whether request ``index`` (0-based, input order) is one of the failed ones."""
    return failed_among(index + 1, failure_rate) > failed_among(index, failure_rate)


class Plan:
    """One batch's timeline, fixed at creation from its scenario, size and seed."""

    def __init__(self, scenario: Scenario, total: int, seed: int, window: float = WINDOW_SECONDS) -> None:
        scenario = scenario.fitted(window)
        self.scenario = scenario
        self.total = total
        self.window = window
        self._times, self._work = _work_curve(scenario, total, random.Random(seed))
        self.processing = self._times[-1]
        self.auto_cancel = (
            scenario.validating + self.time_to_reach(scenario.cancel_at * total)
            if scenario.cancel_at is not None
            else None
        )

    def work_at(self, t: float) -> float:
        """Requests processed ``t`` seconds after processing began (a smooth curve)."""
        if t <= 0:
            return 0.0
        i = bisect.bisect_right(self._times, t)
        if i >= len(self._times):
            return float(self.total)
        t0, t1 = self._times[i - 1], self._times[i]
        w0, w1 = self._work[i - 1], self._work[i]
        return w0 + (w1 - w0) * (t - t0) / (t1 - t0)

    def time_to_reach(self, work: float) -> float:
        """Seconds after processing began when ``work`` requests are done."""
        i = bisect.bisect_left(self._work, work)
        if i == 0:
            return 0.0
        if i >= len(self._work):
            return self._times[-1]
        t0, t1 = self._times[i - 1], self._times[i]
        w0, w1 = self._work[i - 1], self._work[i]
        return t0 + (t1 - t0) * (work - w0) / (w1 - w0)

    def reported_processed(self, t: float) -> int:
        """The count the server shows ``t`` seconds into processing: refreshed every
        ``update_period`` seconds, and hidden as 0 early on in the ``late_counts`` scenario."""
        period = self.scenario.update_period
        shown_at = math.floor(t / period) * period if period > 0 else t
        processed = int(self.work_at(shown_at))
        if processed < self.scenario.counts_hidden_until * self.total:
            return 0
        return processed

    def snapshot(self, t: float, cancelled_at: float | None = None) -> Snapshot:
        """The batch ``t`` seconds after creation; ``cancelled_at`` when a cancel was asked."""
        s = self.scenario
        v = s.validating
        if self.auto_cancel is not None:
            cancelled_at = self.auto_cancel if cancelled_at is None else min(cancelled_at, self.auto_cancel)
        run_end = min(v + self.processing, self.window)
        if s.fail_validation:
            run_end = v
        if cancelled_at is not None and cancelled_at < run_end and t >= cancelled_at:
            return self._cancelled(t, cancelled_at)
        if t < v:
            return Snapshot("validating", 0, 0, 0)
        if s.fail_validation:
            return Snapshot("failed", 0, 0, 0, times={"failed_at": v})
        times = {"in_progress_at": v}
        if t < run_end:
            return self._counts("in_progress", self.reported_processed(t - v), times)
        processed = int(self.work_at(run_end - v))
        expired = self.total - processed
        if expired and s.expiry_status == "expired":
            times["expired_at"] = run_end
            return self._counts("expired", processed, times, expired=expired)
        times["finalizing_at"] = run_end
        status = "finalizing"
        if t >= run_end + s.finalizing:
            status = "completed"
            times["completed_at"] = run_end + s.finalizing
        return self._counts(status, processed, times, expired=expired)

    def _cancelled(self, t: float, cancelled_at: float) -> Snapshot:
        v = self.scenario.validating
        times = {"cancelling_at": cancelled_at}
        processed = 0
        if cancelled_at >= v:
            times["in_progress_at"] = v
            processed = int(self.work_at(cancelled_at - v))
        status = "cancelling"
        if t >= cancelled_at + self.scenario.cancelling:
            status = "cancelled"
            times["cancelled_at"] = cancelled_at + self.scenario.cancelling
        if "in_progress_at" not in times:
            return Snapshot(status, 0, 0, 0, times=times)
        return self._counts(status, processed, times)

    def _counts(self, status: str, processed: int, times: dict[str, float], expired: int = 0) -> Snapshot:
        failed = failed_among(processed, self.scenario.failure_rate)
        return Snapshot(
            status, self.total, processed - failed, failed + expired, expired=expired, times=times
        )


def _work_curve(scenario: Scenario, total: int, rng: random.Random) -> tuple[list[float], list[float]]:
    """Breakpoints ``(times, work)`` of cumulative processed requests over processing time:
    ten segments of uneven rate, one of them a burst, and the scenario's stall."""
    segments = 10
    rates = [rng.lognormvariate(0.0, scenario.rate_spread) * scenario.rate_trend**i for i in range(segments)]
    rates[rng.randrange(segments)] *= 3.0
    span = scenario.processing / segments
    scale = total / (sum(rates) * span)
    times, work = [0.0], [0.0]
    for rate in rates:
        times.append(times[-1] + span)
        work.append(work[-1] + rate * scale * span)
    work[-1] = float(total)
    if scenario.throttle_at is not None:
        _throttle(times, work, scenario.throttle_at * total, scenario.throttle_factor)
    if scenario.stall_at is not None and scenario.stall_for > 0:
        _insert_stall(times, work, scenario.stall_at * total, scenario.stall_for)
    return times, work


def _throttle(times: list[float], work: list[float], at_work: float, factor: float) -> None:
    """From ``at_work`` requests on, every segment takes ``1 / factor`` times as long."""
    i = bisect.bisect_left(work, at_work)
    t0, t1, w0, w1 = times[i - 1], times[i], work[i - 1], work[i]
    at_time = t0 + (t1 - t0) * (at_work - w0) / (w1 - w0) if w1 > w0 else t0
    stretched = [at_time + (t - at_time) / factor for t in times[i:]]
    times[i:] = [at_time, *stretched]
    work[i:] = [at_work, *work[i:]]


def _insert_stall(times: list[float], work: list[float], at_work: float, duration: float) -> None:
    i = bisect.bisect_left(work, at_work)
    t0, t1, w0, w1 = times[i - 1], times[i], work[i - 1], work[i]
    at_time = t0 + (t1 - t0) * (at_work - w0) / (w1 - w0) if w1 > w0 else t0
    times[i:] = [at_time, at_time + duration, *(t + duration for t in times[i:])]
    work[i:] = [at_work, at_work, *work[i:]]
