"""Realistic batch progress traces, as a poller sees them, from a fixed seed.

A trace is what polling a batch returns: at each poll, the processed count the API reports.
Underneath is a true progress curve, and between the two the things that make ETAs hard:

- a queue phase (validating, or waiting for capacity) with no progress at all;
- a rate that shifts between segments of minutes to an hour, throttled stretches, a burst;
- stalls of minutes with no progress;
- counts that move in chunks: the API refreshes them every few seconds to a minute, and some
  batches only show counts late;
- a finalizing tail after the last request (no progress, status not yet completed);
- sizes from 15 requests to 100,000 and poll intervals from 1 to 60 seconds, with jitter.

The truth an estimator is judged against is when the reported count reaches the total.
"""

from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass, field

__all__ = ["FAMILIES", "REALISTIC", "STALLS", "VOLATILE", "Trace", "Weather", "generate", "steady_trace"]

POLL_INTERVALS = (1.0, 2.0, 5.0, 5.0, 10.0, 15.0, 30.0, 60.0)


@dataclass(frozen=True)
class Trace:
    """Polls of one batch: ``polls[i] = (seconds since submission, processed count)``."""

    name: str
    total: int
    poll_interval: float
    polls: list[tuple[float, int]]
    done_at: float
    features: tuple[str, ...] = field(default=())
    rate_steps: tuple[tuple[float, float], ...] = field(default=(), repr=False)
    #: The true progress curve: ``(seconds since submission, requests processed)`` breakpoints.
    curve: tuple[tuple[float, float], ...] = field(default=(), repr=False)

    @property
    def in_progress_at(self) -> float:
        """When processing began (the batch's ``in_progress_at``): the end of the queue."""
        return self.rate_steps[0][0] if self.rate_steps else 0.0

    def true_remaining(self, t: float) -> float:
        return max(0.0, self.done_at - t)

    def true_rate(self, t: float) -> float:
        """The requests per second the batch was really processing at ``t`` (for the oracle)."""
        i = bisect.bisect_right([start for start, _ in self.rate_steps], t) - 1
        return self.rate_steps[i][1] if i >= 0 else 0.0

    def future_mean_rate(self, t: float) -> float:
        """The mean rate from ``t`` until the end (for the oracle that is told the future)."""
        remaining = self.true_remaining(t)
        if remaining <= 0 or not self.curve:
            return 0.0
        times = [time for time, _ in self.curve]
        i = bisect.bisect_right(times, t)
        if i == 0:
            done = 0.0
        elif i >= len(times):
            done = self.curve[-1][1]
        else:
            (t0, d0), (t1, d1) = self.curve[i - 1], self.curve[i]
            done = d0 + (d1 - d0) * (t - t0) / (t1 - t0)
        return max(self.total - done, 0.0) / remaining


def _log_uniform(rng: random.Random, low: float, high: float) -> float:
    return math.exp(rng.uniform(math.log(low), math.log(high)))


@dataclass(frozen=True)
class Weather:
    """How much a batch's rate moves: segment lengths, the size of a rate shift, how often a
    segment is throttled, bursts or stalls."""

    segment: tuple[float, float] = (300.0, 3600.0)
    shift: tuple[float, float] = (0.8, 1.25)
    level: tuple[float, float] = (0.5, 2.0)
    throttle: float = 0.10
    burst: float = 0.05
    stall: float = 0.06
    stall_length: tuple[float, float] = (60.0, 900.0)
    throttle_depth: tuple[float, float] = (0.3, 0.7)
    #: The share of batches whose counts are refreshed in bursts: a few quick updates, then
    #: minutes of silence (a backend that flushes its counters in batches).
    bursty_counts: float = 0.0


#: The default: a managed service whose throughput drifts and now and then throttles or stalls.
REALISTIC = Weather()
#: A stress test: the rate jumps by up to 60 % every few minutes.
VOLATILE = Weather(
    segment=(60.0, 3600.0), shift=(0.6, 1.6), level=(0.3, 3.0), throttle=0.12, burst=0.06, stall=0.07
)
#: A service under pressure: long stalls, deep throttled stretches, and counts that half of
#: the batches see refreshed in bursts.
STALLS = Weather(
    segment=(120.0, 2400.0),
    shift=(0.85, 1.18),
    throttle=0.22,
    burst=0.03,
    stall=0.15,
    stall_length=(120.0, 1800.0),
    throttle_depth=(0.1, 0.5),
    bursty_counts=0.5,
)
#: The trace families the ETA is judged on, each with its own seed.
FAMILIES = {
    "realistic": (REALISTIC, 20261124),
    "volatile": (VOLATILE, 20261125),
    "stalls": (STALLS, 20261126),
}


def _rate_profile(
    rng: random.Random, duration: float, features: list[str], weather: Weather
) -> list[tuple[float, float]]:
    """Segments ``(length in seconds, relative rate)``; the total work is normalised later."""
    segments: list[tuple[float, float]] = []
    elapsed = 0.0
    level = 1.0
    while elapsed < duration:
        length = min(duration - elapsed, _log_uniform(rng, *weather.segment))
        roll = rng.random()
        if roll < weather.throttle:
            rate, name = level * rng.uniform(*weather.throttle_depth), "throttle"
        elif roll < weather.throttle + weather.burst:
            rate, name = level * rng.uniform(1.5, 2.5), "burst"
        elif roll < weather.throttle + weather.burst + weather.stall:
            rate, name = 0.0, "stall"
            length = min(length, rng.uniform(*weather.stall_length))
        else:
            level = max(weather.level[0], min(weather.level[1], level * _log_uniform(rng, *weather.shift)))
            rate, name = level, "shift"
        if name not in features:
            features.append(name)
        segments.append((length, rate))
        elapsed += length
    if all(rate == 0 for _, rate in segments):
        segments.append((60.0, 1.0))
    return segments


class _Curve:
    """True cumulative requests processed, from the start of processing."""

    def __init__(self, segments: list[tuple[float, float]], total: int) -> None:
        work = sum(length * rate for length, rate in segments)
        self.times, self.done = [0.0], [0.0]
        for length, rate in segments:
            self.times.append(self.times[-1] + length)
            self.done.append(self.done[-1] + total * length * rate / work)
        self.done[-1] = float(total)

    def at(self, t: float) -> float:
        if t <= 0:
            return 0.0
        i = bisect.bisect_right(self.times, t)
        if i >= len(self.times):
            return self.done[-1]
        t0, t1, d0, d1 = self.times[i - 1], self.times[i], self.done[i - 1], self.done[i]
        return d0 + (d1 - d0) * (t - t0) / (t1 - t0)

    @property
    def end(self) -> float:
        return self.times[-1]


def _trace(rng: random.Random, number: int, weather: Weather) -> Trace:
    features: list[str] = []
    total = round(_log_uniform(rng, 15, 100_000))
    interval = rng.choice(POLL_INTERVALS)
    queue = _log_uniform(rng, 5.0, 900.0)
    processing = _log_uniform(rng, 120.0, 8 * 3600.0)
    curve = _Curve(_rate_profile(rng, processing, features, weather), total)
    refresh = rng.choice((1.0, 5.0, 10.0, 10.0, 30.0, 60.0))  # how often the API refreshes counts
    chunk = max(1, round(total * rng.choice((0.0, 0.0, 0.002, 0.01))))  # requests finish in groups
    hidden_until = 0.0
    if rng.random() < 0.08:
        hidden_until = rng.uniform(0.3, 0.8)
        features.append("late_counts")
    finalizing = _log_uniform(rng, 5.0, 900.0)

    refreshes = None  # (the generator draws nothing here for families without bursty counts)
    if weather.bursty_counts and rng.random() < weather.bursty_counts:
        refreshes = _bursty_refreshes(rng, curve.end + 1.0)
        features.append("bursty_counts")

    def reported(t: float) -> int:
        if refreshes is not None:
            i = bisect.bisect_right(refreshes, t - queue) - 1
            shown_at = refreshes[i] if i >= 0 else -1.0
        else:
            shown_at = math.floor((t - queue) / refresh) * refresh
        done = int(curve.at(shown_at))
        if done < total:
            done -= done % chunk
        return 0 if done < hidden_until * total else done

    if refreshes is not None:
        done_at = queue + refreshes[bisect.bisect_left(refreshes, curve.end)]
    else:
        done_at = queue + math.ceil(curve.end / refresh) * refresh
    while reported(done_at) < total:
        done_at += refresh
    polls = []
    t = rng.uniform(0.0, interval)
    end = done_at + finalizing
    while t <= end:
        polls.append((t, reported(t)))
        t += interval * rng.uniform(0.9, 1.1)
    polls.append((end, total))
    steps = tuple(
        (queue + t0, (d1 - d0) / (t1 - t0))
        for t0, t1, d0, d1 in zip(curve.times, curve.times[1:], curve.done, curve.done[1:], strict=False)
    )
    points = tuple((queue + time, done) for time, done in zip(curve.times, curve.done, strict=True))
    return Trace(f"trace-{number}", total, interval, polls, done_at, tuple(features), steps, points)


def _bursty_refreshes(rng: random.Random, until: float) -> list[float]:
    """Times (from the start of processing) when the counts are refreshed: bursts of a few
    updates seconds apart, separated by one to five minutes of silence."""
    times, t = [0.0], 0.0
    while times[-1] < until:
        t += rng.uniform(60.0, 300.0)
        for _ in range(rng.randint(2, 5)):
            times.append(t)
            t += rng.uniform(2.0, 10.0)
    return times


def generate(count: int, seed: int = 20261124, weather: Weather = REALISTIC) -> list[Trace]:
    """``count`` traces; the same seed gives the same traces."""
    rng = random.Random(seed)
    return [_trace(random.Random(rng.getrandbits(64)), n, weather) for n in range(count)]


def steady_trace(
    total: int, rate: float, poll_times: list[float], start: float = 0.0
) -> list[tuple[float, int]]:
    """Polls of a batch processed at a constant ``rate`` from ``start`` (for property tests)."""
    return [(t, min(total, max(0, math.floor(rate * (t - start))))) for t in poll_times]
