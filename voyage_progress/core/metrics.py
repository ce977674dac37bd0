"""Rate and ETA from ``(time, processed count)`` samples.

No I/O and no clock: every figure is computed from the samples alone, relative to the latest
sample's time, so a recorded trace replays through it exactly as it ran live (``benchmarks/eta.py``
does that on hundreds of traces, against tqdm's and rich's estimators).

Batch counts are chunky: they stay still for seconds or a minute, then jump. So the rate is
measured between the moments the count *changed* (not between polls, which would see the rate
sag between updates and the ETA saw-tooth), over at least ``window_seconds`` and the last
``window_size`` changes; the rate clock starts at the first observed progress, never at
submission, so a long queue does not drag it down. Between changes the ETA counts down from the
last one. When no change comes for twice the usual gap, the batch is stalling and the ETA
grows with the wait.

The ETA shown is a held end time: it moves earlier freely, but later only when the new estimate
leaves the noise band (a few percent, wider while few requests have been counted, plus the
usual gap between count changes). So it never rises while throughput is steady,
and a real slowdown still shows at once.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["UNKNOWN_ETA", "BatchProgressMetrics"]

#: The ETA when none can be given: a float that prints (``inf``), never None.
UNKNOWN_ETA = math.inf

#: Samples kept in ``samples`` (the latest ones). The estimator keeps what it needs on its own,
#: so this only bounds the memory of a sidecar that watches a hundred batches for days.
MAX_SAMPLES = 256
#: A rise of the ETA smaller than this share of it is noise, not news.
STEADY_TOLERANCE = 0.04
#: Times the count's resolution (1 / requests counted in the window) that is noise too.
RESOLUTION_NOISE = 2.0
#: The share of the total a first count may have and still give a rate on its own: a larger
#: one means the counts were hidden until late (or refresh rarely), not that work just began.
FIRST_JUMP_SHARE = 0.25
#: A wait this many times the usual gap between count changes is a stall.
STALL_GAPS = 2.0
#: The band: spread of recent rates, scaled with the horizon; calibrated for ~80 % coverage.
BAND_SPREAD = 1.0
BAND_PRIOR_SIGMA = 0.35
BAND_HISTORY_SECONDS = 1800.0
BAND_RATES = 200


@dataclass
class BatchProgressMetrics:
    """Rate, ETA and an ETA band for one batch, from its samples."""

    start_time: datetime
    samples: list[tuple[datetime, int]] = field(default_factory=list)
    window_size: int = 10
    window_seconds: float = 300.0
    _tracker: _Tracker = field(init=False, repr=False, compare=False)
    _consumed: int = field(default=0, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._tracker = _Tracker(self.window_seconds, self.window_size)

    def add_sample(self, timestamp: datetime, completed: int) -> None:
        """Record that ``completed`` requests were done at ``timestamp``.

        A sample older than the latest is ignored (a late, out-of-order answer says nothing new);
        one with the latest timestamp replaces it.
        """
        if self.samples:
            last_time, _ = self.samples[-1]
            if timestamp < last_time:
                return
            if timestamp == last_time:
                self.samples[-1] = (timestamp, completed)
                self._replay()
                return
        self.samples.append((timestamp, completed))
        if len(self.samples) > MAX_SAMPLES:
            self._sync()  # the tracker takes every sample before the oldest are let go
            dropped = len(self.samples) - MAX_SAMPLES
            del self.samples[:dropped]
            self._consumed -= dropped

    def calculate_rate(self) -> float:
        """Requests per second over the window; 0.0 until two count changes were seen."""
        self._sync()
        return self._tracker.rate()[0]

    def calculate_eta(self, total: int, completed: int) -> float:
        """Seconds from the latest sample until ``total`` is reached; ``inf`` when unknown."""
        if total <= 0:
            return UNKNOWN_ETA
        if completed >= total:
            return 0.0
        self._sync()
        return self._tracker.eta(total, completed)

    def calculate_eta_band(self, total: int, completed: int) -> tuple[float, float]:
        """A low and a high ETA around ``calculate_eta`` (the true value is inside ~80 % of the time)."""
        eta = self.calculate_eta(total, completed)
        if eta == 0.0 or not math.isfinite(eta):
            return eta, eta
        spread = min(3.0, self._tracker.spread() * math.sqrt(1.0 + eta / self.window_seconds))
        return eta * math.exp(-spread), eta * math.exp(spread)

    def elapsed_seconds(self) -> float:
        """Seconds from ``start_time`` to the latest sample (0.0 without samples)."""
        if not self.samples:
            return 0.0
        return max(0.0, (self.samples[-1][0] - self.start_time).total_seconds())

    def _sync(self) -> None:
        """Feed the tracker the samples it has not seen (samples may be given to the constructor)."""
        for timestamp, completed in self.samples[self._consumed :]:
            self._tracker.add((timestamp - self.start_time).total_seconds(), completed)
        self._consumed = len(self.samples)

    def _replay(self) -> None:
        self._tracker = _Tracker(self.window_seconds, self.window_size)
        self._consumed = 0


class _Tracker:
    """What the samples say, kept up to date one sample at a time. Times are seconds after
    ``start_time``."""

    def __init__(self, window_seconds: float, window_changes: int) -> None:
        self.window_seconds = window_seconds
        self.window_changes = max(1, window_changes)
        self.last_idle: float | None = None  # the latest sample before any progress
        self.time = -math.inf
        self.count = 0
        self.changes: deque[tuple[float, int]] = deque()  # (time, count) where the count moved
        self.change_gap = 0.0  # usual seconds between changes (moving average)
        self.poll_gap = 0.0  # usual seconds between samples
        # (time, seconds, rate) between changes, for the band: the last half hour, at most BAND_RATES
        self.rates: deque[tuple[float, float, float]] = deque(maxlen=BAND_RATES)
        self.held: tuple[int, float, float] | None = None  # (total, end time, when) of the last ETA

    def add(self, time: float, count: int) -> None:
        if time <= self.time:
            return
        if self.time > -math.inf:
            self.poll_gap = _average(self.poll_gap, time - self.time, 0.2)
        if not self.changes:
            if count > 0:
                self.changes.append((time, count))
            else:
                self.last_idle = time
        elif count != self.count:
            self._changed(time, count)
        self.time, self.count = time, count

    def _changed(self, time: float, count: int) -> None:
        last_time, last_count = self.changes[-1]
        gap = time - last_time
        self.change_gap = _average(self.change_gap, gap, 0.3)
        if count > last_count:
            self.rates.append((time, gap, (count - last_count) / gap))
            while self.rates[0][0] < time - BAND_HISTORY_SECONDS:
                self.rates.popleft()
        self.changes.append((time, count))
        # the oldest change goes once the next one already spans the window: ``rate`` never
        # reaches past that one
        while (
            len(self.changes) > self.window_changes + 1 and self.changes[1][0] <= time - self.window_seconds
        ):
            self.changes.popleft()

    def rate(self) -> tuple[float, float]:
        """The rate and its resolution (1 / requests counted in its window)."""
        if not self.changes:
            return 0.0, 1.0
        last_time, last_count = self.changes[-1]
        if len(self.changes) == 1:
            # One jump only: as if it all happened since the previous poll. Optimistic, and short
            # lived: the next change gives a measured rate. (``eta`` uses it only for a small jump.)
            if self.last_idle is None:
                return 0.0, 1.0
            return last_count / (last_time - self.last_idle), 1.0
        reference = self.changes[0]
        needed = min(self.window_changes, len(self.changes) - 1)
        for back, (time, count) in enumerate(reversed(self.changes)):
            if back >= needed and last_time - time >= self.window_seconds:
                reference = (time, count)
                break
        counted = last_count - reference[1]
        span = last_time - reference[0]
        if counted <= 0 or span <= 0:
            return 0.0, 1.0
        return counted / span, 1.0 / counted

    def eta(self, total: int, completed: int) -> float:
        rate, resolution = self.rate()
        if len(self.changes) == 1 and self.changes[0][1] > FIRST_JUMP_SHARE * total:
            rate = 0.0  # a first count this large was hidden before: no rate until it moves again
        if rate <= 0:
            self.held = None
            return UNKNOWN_ETA
        remaining = total - completed
        waited = self.time - self.changes[-1][0]
        usual = max(self.change_gap, self.poll_gap)
        stalled = len(self.changes) > 1 and waited > STALL_GAPS * usual
        if stalled:  # the rate fades with the wait
            estimate = remaining / (rate * STALL_GAPS * usual / waited)
        else:
            estimate = max(remaining / rate - waited, 0.0)
        end = self.time + estimate
        if self.held is not None and self.held[0] == total and not stalled:
            end = self._steady(end, resolution)
        self.held = (total, end, self.time)
        return max(end - self.time, 0.0)

    def _steady(self, end: float, resolution: float) -> float:
        """The new end time, unless moving it later is within the noise: then it may move later
        only by the time that passed, so the ETA counts down (or holds)."""
        assert self.held is not None
        _, held_end, held_at = self.held
        if end <= held_end:
            return end
        relative = max(STEADY_TOLERANCE, RESOLUTION_NOISE * resolution) * max(held_end - self.time, 0.0)
        noise = relative + self.change_gap  # counts move in steps: so does the end they imply
        if end - held_end > noise:
            return end  # a real slowdown
        return min(end, held_end + (self.time - held_at))

    def spread(self) -> float:
        """How much the rate has varied lately: the time-weighted deviation of log rates."""
        measured = [(seconds, math.log(rate)) for _, seconds, rate in self.rates if rate > 0]
        if len(measured) < 3:
            return BAND_SPREAD * BAND_PRIOR_SIGMA
        weight = sum(seconds for seconds, _ in measured)
        mean = sum(seconds * value for seconds, value in measured) / weight
        variance = sum(seconds * (value - mean) ** 2 for seconds, value in measured) / weight
        return BAND_SPREAD * max(0.05, math.sqrt(variance))


def _average(previous: float, value: float, weight: float) -> float:
    return value if previous == 0 else (1 - weight) * previous + weight * value
