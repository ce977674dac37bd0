"""Rate and ETA from ``(time, processed count)`` samples.

No I/O and no clock: every figure is computed from the samples alone (and the two times given
to the constructor: the batch's creation and, when known, its ``in_progress_at``), relative to
the latest sample's time, so a recorded trace replays through it exactly as it ran live
(``benchmarks/eta.py`` does that on three families of traces, against tqdm's, rich's and the
spec's estimators).

Batch counts are chunky: they stay still for seconds or a minute, then jump. So rates are
measured between the moments the count *changed* (not between polls, which would see the rate
sag between updates and the ETA saw-tooth), and the rate clock starts at the first observed
progress, never at submission, so a long queue does not drag it down.

One estimator for every regime:

- **Change points are detected, not smoothed over.** The history since the last change point
  is a *regime*. At every count change, the rate of the most recent stretch (at geometrically
  growing lengths) is compared with the rate of the rest of the regime; a difference beyond
  what the counts' own resolution explains (a poll's uncertainty at each end, requests finishing
  at random, counts moving in steps) starts a new regime at the best split. This is online
  change-point detection (Adams & MacKay 2007) with the run length cut at its most likely value.
  The *current* rate is the regime's latest stretch that is known to 10 %, pulled toward the
  long-run rate as much as it is unsure.
- **The horizon decides which rate to trust.** The long-run rate is the mean since the first
  progress, stalls and throttled stretches included. A rate that has held for ``t`` seconds is
  expected to hold for about as long again (a hazard of a change ``h = 1 / (2 t)``: on the traces
  the weight that the long-run rate deserves grows with the horizon over the history, and this
  is its shape). The expected mean rate over the next ``T`` seconds is then
  ``long + (current - long) * (1 - exp(-h T)) / (h T)``, and the ETA is the ``T`` at which it
  finishes the remaining work: a short horizon is mostly the current rate, a long one mostly
  the long-run mean.
- **Counts refreshed on a period.** The count reaches the total at a refresh, the first one after
  the work is done: when counts change on a regular period longer than the poll interval, the
  horizon is rounded up to whole periods. Between changes the ETA counts down, but not below the
  usual wait for the next change.
- **Stalls.** When no change comes for ``STALL_GAPS`` usual waits (the gap a random moment falls
  in: counts refreshed in bursts wait long between bursts), the batch is *stalled*: the
  countdown stops, and the ETA grows with the wait.

The ETA shown is a held end time: it moves earlier freely, but later only when the new estimate
leaves the noise band (a few percent, wider while few requests have been counted, plus the
usual gap between count changes). So it never rises while throughput is steady, and a real
slowdown still shows at once. The band is log-normal: the model's variance (the current rate's
error for the share of the horizon it governs, the spread between regimes for the rest) blended
with the batch's own record of how wrong its rate was over the same horizon after each earlier
change, apart for the two sides.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

__all__ = ["UNKNOWN_ETA", "BatchProgressMetrics"]

_Point = TypeVar("_Point", tuple[float, int], tuple[float, int, float])

#: The ETA when none can be given: a float that prints (``inf``), never None.
UNKNOWN_ETA = math.inf

#: Samples kept in ``samples`` (the latest ones). The estimator keeps what it needs on its own,
#: so this only bounds the memory of a sidecar that watches a hundred batches for days.
MAX_SAMPLES = 256
#: Change points kept per regime (the oldest are thinned out, never the newest): enough to look
#: back over hours at any poll interval, in bounded memory.
MAX_HISTORY = 240

# -- change points ---------------------------------------------------------------------------
#: Two stretches have different rates when their log ratio exceeds ``MIN_SHIFT`` by this many
#: standard errors (smaller shifts are not worth a new regime).
CHANGE_Z = 3.0
MIN_SHIFT = 0.08
#: Count changes the shortest stretch compared must span.
MIN_STRETCH_CHANGES = 3
#: The current rate is measured over the shortest recent stretch of the regime whose log rate
#: is known to within this (10 %): short enough to follow the present, long enough not to
#: chase the counts' graininess.
CURRENT_NOISE = 0.10
#: Prior spread (standard deviation of log rates) between regimes, its weight in regimes, and
#: the regimes kept to learn it.
PRIOR_SPREAD = 0.5
PRIOR_REGIMES = 2.0
MAX_REGIMES = 50

# -- the horizon -----------------------------------------------------------------------------
#: A rate that has held for ``t`` seconds is expected to hold for about ``REGIME_LIFE * t``
#: more (the hazard of a change is ``1 / (REGIME_LIFE * t)``): the longer the history, the
#: further ahead the present rate is trusted. The shape is read off the traces (the weight the
#: long-run rate deserves, regressed against the horizon over the history, on all three
#: families); the constant is a round number near the fit.
REGIME_LIFE = 2.0

# -- counts and waits ------------------------------------------------------------------------
#: Counts that change less often than this many polls are refreshed on a period of their own...
REFRESH_GAPS = 1.5
#: ...when the gaps between changes vary by less than this (coefficient of variation)...
REGULAR_GAPS = 0.3
#: ...and the count moves by at least this much at a time (counts moving one or two at a time
#: wait for requests, not for a refresh).
REFRESH_STEP = 3.0
#: The total shows at the first refresh after the work is done: the horizon is rounded up to
#: whole refresh periods, with this share of a period as a margin.
REFRESH_MARGIN = 0.1
#: Weight of the latest gap between changes (and between polls) in their moving averages.
GAP_WEIGHT = 0.2
#: The ETA while requests remain is at least this share of the usual wait for a change.
MIN_ETA_GAPS = 0.25
#: No change for this many usual waits is a stall...
STALL_GAPS = 3.0
#: ...and every second of it beyond adds this much to the ETA.
STALL_GROWTH = 0.5

# -- steadiness and the band -----------------------------------------------------------------
#: A move of the end time smaller than this share of the ETA is noise, not news...
STEADY_TOLERANCE = 0.04
#: ...and so is one within this many times the count's resolution (1 / requests counted).
RESOLUTION_NOISE = 2.0
#: Count changes after which the rate is measured (before, it is a guess: nothing to hold).
MEASURED_CHANGES = 2
#: The band trusts the batch's own forecast errors as if the model's variance were worth this
#: many of them.
FORECAST_PRIOR = 10.0
#: The band: z of the 10th/90th percentiles, a scale for what the log-normal model misses (its
#: tails are too thin: set so that the realistic and stall families both land within 80 +-10 %),
#: and the widest it gets (log units each side).
BAND_Z = 1.2816
BAND_SCALE = 1.5
MAX_BAND = 3.0
#: A share of the time stalled above this is taken as this (a batch that did little but stall).
MAX_STALL_SHARE = 0.9


@dataclass
class BatchProgressMetrics:
    """Rate, ETA and an ETA band for one batch, from its samples.

    ``processing_start``, when known (a batch's ``in_progress_at``), dates the start of the
    work: the first count is then a rate on its own (a two-request batch has an ETA once one of
    them is done); without it, the ETA waits for a second count. ``window_size`` and
    ``window_seconds`` are kept for compatibility: the estimator picks its stretches itself.
    """

    start_time: datetime
    samples: list[tuple[datetime, int]] = field(default_factory=list)
    window_size: int = 10
    window_seconds: float = 300.0
    processing_start: datetime | None = None
    _tracker: _Tracker = field(init=False, repr=False, compare=False)
    _consumed: int = field(default=0, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._tracker = self._new_tracker()

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
        """Requests per second now (the current regime's); 0.0 until a rate can be measured."""
        self._sync()
        return self._tracker.current_rate()

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
        low, high = self._tracker.band()
        return eta * math.exp(-low), eta * math.exp(high)

    def is_stalled(self) -> bool:
        """No count change for ``STALL_GAPS`` times the usual gap between changes."""
        self._sync()
        return self._tracker.stalled()

    def elapsed_seconds(self) -> float:
        """Seconds from ``start_time`` to the latest sample (0.0 without samples)."""
        if not self.samples:
            return 0.0
        return max(0.0, (self.samples[-1][0] - self.start_time).total_seconds())

    def set_processing_start(self, when: datetime) -> None:
        """Date the start of the work (see the class); replays the samples if it changed."""
        if when != self.processing_start:
            self.processing_start = when
            self._replay()

    def _new_tracker(self) -> _Tracker:
        start = self.processing_start
        offset = None if start is None else max(0.0, (start - self.start_time).total_seconds())
        return _Tracker(offset)

    def _sync(self) -> None:
        """Feed the tracker the samples it has not seen (samples may be given to the constructor)."""
        for timestamp, completed in self.samples[self._consumed :]:
            self._tracker.add((timestamp - self.start_time).total_seconds(), completed)
        self._consumed = len(self.samples)

    def _replay(self) -> None:
        self._tracker = self._new_tracker()
        self._consumed = 0


class _Tracker:
    """What the samples say, kept up to date one sample at a time. Times are seconds after
    ``start_time``."""

    def __init__(self, processing_start: float | None) -> None:
        self.processing_start = processing_start
        self.last_idle: float | None = None  # the latest sample before any progress
        self.time = -math.inf
        self.count = 0
        self.first: tuple[float, int] | None = None  # the first change: where the rate clock starts
        self.last: tuple[float, int] | None = None  # the latest change
        self.changes = 0
        self.history: deque[tuple[float, int]] = deque()  # change points of the current regime
        # (time, count, log of the current rate then) at every change, thinned: what the batch
        # did after each is how wrong the rate was, horizon by horizon (the band learns from it)
        self.forecasts: deque[tuple[float, int, float]] = deque()
        self.change_gap = 0.0  # usual seconds between changes (moving average)
        self.change_gap_squared = 0.0  # and of their squares: how irregular they are
        self.poll_gap = 0.0  # usual seconds between samples
        self.detected = 0  # change points found
        self.measured = (0.0, 0.0, math.inf, 0.0)  # ``rates``, as of the latest change
        self.stalled_seconds = 0.0  # in the stalls seen to end
        self.step = 0.0  # usual count moved per change (moving average): the count's graininess
        self.regimes: deque[tuple[float, float]] = deque(maxlen=MAX_REGIMES)  # (seconds, log rate)
        # the end time of the last ETA, as (total, end, when, changes seen)
        self.held: tuple[int, float, float, int] | None = None
        self.shown = math.inf  # the last ETA answered
        self.spreads = (0.0, 0.0)  # the band below and above the ETA, in log units

    # -- taking samples ---------------------------------------------------------------------------

    def add(self, time: float, count: int) -> None:
        if time <= self.time:
            return
        if self.time > -math.inf:
            self.poll_gap = _average(self.poll_gap, time - self.time, GAP_WEIGHT)
        if self.last is None:
            if count > 0:
                self.first = self.last = (time, count)
                self.history.append(self.last)
                self.changes = 1
            else:
                self.last_idle = time
        elif count != self.count:
            self._changed(time, count)
        self.time, self.count = time, count

    def _changed(self, time: float, count: int) -> None:
        assert self.last is not None
        gap = time - self.last[0]
        if self.changes > 1 and gap > STALL_GAPS * self.usual_wait():
            self.stalled_seconds += gap  # a stall that ended
        self.change_gap = _average(self.change_gap, gap, GAP_WEIGHT)
        self.change_gap_squared = _average(self.change_gap_squared, gap * gap, GAP_WEIGHT)
        self.step = _average(self.step, abs(count - self.last[1]), GAP_WEIGHT)
        self.last = (time, count)
        self.changes += 1
        self.history.append(self.last)
        self._detect()
        if len(self.history) > MAX_HISTORY:
            self.history = _thinned(self.history)
        self.measured = self._measure()
        current = self.measured[1]
        if current > 0:
            self.forecasts.append((time, count, math.log(current)))
            if len(self.forecasts) > MAX_HISTORY:
                self.forecasts = _thinned(self.forecasts)

    def _noise(self, span: float, counted: float) -> float:
        """Variance of a log rate measured over ``span`` seconds and ``counted`` requests: each
        end of the stretch is dated to within a poll and counted to within a step, and requests
        finish at random moments."""
        if span <= 0 or counted <= 0:
            return math.inf
        step = min(self.step, counted) / counted
        return (self.poll_gap / span) ** 2 + step * step / 4 + 1.0 / counted

    def _detect(self) -> None:
        """Start a new regime at the split of the regime that best explains a change of rate:
        the recent stretch against the rest, for stretches of geometrically growing lengths,
        then every split around the best of those."""
        points = self.history
        if len(points) < 2 * MIN_STRETCH_CHANGES + 1:
            return
        last = len(points) - 1 - MIN_STRETCH_CHANGES  # the earliest split that leaves a stretch
        backs, back = [], MIN_STRETCH_CHANGES
        while back <= last:
            backs.append(back)
            back = max(back + 1, int(back * 1.5))
        scores = [self._split_score(back) for back in backs]
        best = max(range(len(backs)), key=scores.__getitem__)
        if scores[best] <= CHANGE_Z:
            return
        around = range(
            backs[best - 1] if best else backs[0], min(last, backs[min(best + 1, len(backs) - 1)]) + 1
        )
        back = max(around, key=self._split_score)
        at = len(points) - 1 - back
        (start_time, start_count), (split_time, split_count) = points[0], points[at]
        rate = (split_count - start_count) / (split_time - start_time)
        self.regimes.append((split_time - start_time, math.log(rate)))
        for _ in range(at):
            points.popleft()
        self.detected += 1

    def _split_score(self, back: int) -> float:
        """How many standard errors beyond ``MIN_SHIFT`` the rate of the last ``back`` changes
        differs from the rate of the regime before them."""
        points = self.history
        (start_time, start_count), (end_time, end_count) = points[0], points[-1]
        split_time, split_count = points[-1 - back]
        recent_span, recent_count = end_time - split_time, end_count - split_count
        before_span, before_count = split_time - start_time, split_count - start_count
        if recent_count <= 0 or before_count <= 0:
            return 0.0
        shift = abs(math.log((recent_count / recent_span) / (before_count / before_span)))
        error = math.sqrt(self._noise(recent_span, recent_count) + self._noise(before_span, before_count))
        return (shift - MIN_SHIFT) / error

    # -- what they say ----------------------------------------------------------------------------

    def usual_wait(self) -> float:
        """The usual wait for the next change: the gap a moment picked at random falls in
        (counts refreshed in bursts wait long between bursts, however short the gaps within)."""
        waited = self.change_gap_squared / self.change_gap if self.change_gap > 0 else 0.0
        return max(waited, self.poll_gap)

    def stalled(self) -> bool:
        if self.last is None or self.changes < 2:
            return False
        return self.time - self.last[0] > STALL_GAPS * self.usual_wait()

    def _refresh_period(self) -> float:
        """The period counts are refreshed on, when it is regular and longer than the poll
        interval (0.0 otherwise). Before a second change, the first came a period after the
        work began."""
        if self.changes == 1:
            if self.processing_start is None or self.last_idle is None or self.first is None:
                return 0.0
            if self.first[1] < REFRESH_STEP:
                return 0.0
            gap = (self.first[0] + self.last_idle) / 2 - self.processing_start
            return gap if gap > REFRESH_GAPS * self.poll_gap else 0.0
        gap = self.change_gap
        if self.changes < 3 or gap <= REFRESH_GAPS * self.poll_gap or self.step < REFRESH_STEP:
            return 0.0
        return gap if self.change_gap_squared / (gap * gap) - 1 < REGULAR_GAPS**2 else 0.0

    def _first_rate(self) -> float:
        """One change seen: the first count over the time since the work began, which only the
        batch's ``in_progress_at`` tells (a guess from the polls alone was wrong by a quarter or
        more on the traces). The count moved somewhere between the two polls around it."""
        assert self.first is not None
        begun = self.processing_start
        if begun is None or self.last_idle is None:
            return 0.0
        first_time, first_count = self.first
        moved = (first_time + max(self.last_idle, begun)) / 2
        return first_count / (moved - begun) if moved > begun else 0.0

    def rates(self) -> tuple[float, float, float, float]:
        """The long-run rate, the current one, the current one's log variance, and the hazard
        of a change of regime per second (from the first count, what it alone can say)."""
        if self.first is None or self.last is None:
            return 0.0, 0.0, math.inf, 0.0
        if self.changes < 2:
            rate = self._first_rate()
            return rate, rate, PRIOR_SPREAD**2, 0.0
        return self.measured

    def _measure(self) -> tuple[float, float, float, float]:
        """``rates`` from the second count on: worked out at each count change, so that what a
        poll between changes is told does not depend on when it asks."""
        assert self.first is not None and self.last is not None
        first_time, first_count = self.first
        last_time, last_count = self.last
        long_run = (last_count - first_count) / (last_time - first_time)
        start_time, start_count = self.history[0]
        for back in range(MIN_STRETCH_CHANGES, len(self.history)):
            time, count = self.history[-1 - back]
            if self._noise(last_time - time, last_count - count) <= CURRENT_NOISE**2:
                start_time, start_count = time, count
                break
        span, counted = last_time - start_time, last_count - start_count
        between = self._between_regimes()
        current, variance = long_run, between
        if counted > 0:  # the stretch's rate, pulled toward the long-run one as much as it is unsure
            measured = self._noise(span, counted)
            weight = between / (between + measured)
            current = math.exp(weight * math.log(counted / span) + (1 - weight) * math.log(long_run))
            variance = weight * measured
        hazard = 1.0 / (REGIME_LIFE * (last_time - first_time))
        return long_run, current, variance, hazard

    def _between_regimes(self) -> float:
        """Variance of log rates between regimes: learned from this batch's, with a prior."""
        regimes = self.regimes
        if not regimes:
            return PRIOR_SPREAD**2
        weight = sum(seconds for seconds, _ in regimes)
        mean = sum(seconds * value for seconds, value in regimes) / weight
        variance = sum(seconds * (value - mean) ** 2 for seconds, value in regimes) / weight
        return (PRIOR_REGIMES * PRIOR_SPREAD**2 + len(regimes) * variance) / (PRIOR_REGIMES + len(regimes))

    def current_rate(self) -> float:
        return self.rates()[1]

    def eta(self, total: int, completed: int) -> float:
        long_run, current, variance, hazard = self.rates()
        if long_run <= 0 or current <= 0 or self.last is None:
            self.held = None
            return UNKNOWN_ETA
        last_time, last_count = self.last
        usual = self.usual_wait()
        held, steady = self.held, False
        if held is None or held[0] != total or held[3] != self.changes:
            # a new count: a new end time (held steady against the last one when within noise)
            remaining = total - max(completed, last_count)
            horizon, share = _horizon(remaining, long_run, current, hazard)
            self.spreads = self._spreads(horizon, variance, share)
            period = self._refresh_period()
            if period:
                # the total shows at a refresh, about half a poll before the poll that sees it
                steps = max(1.0, math.ceil(horizon / period + REFRESH_MARGIN))
                horizon = steps * period - 0.5 * self.poll_gap
            end = last_time + max(horizon, usual)  # and not before the next change is due
            if held is not None and held[0] == total and self.changes > MEASURED_CHANGES:
                end, steady = self._steady(end, held[1])
            held = (total, end, self.time, self.changes)
        end = held[1]
        waited = self.time - last_time
        if self.stalled():  # the countdown stopped when the stall began; the wait adds to it
            grace = STALL_GAPS * usual
            eta = max(end - last_time - grace, MIN_ETA_GAPS * usual) + STALL_GROWTH * (waited - grace)
        else:
            eta = max(end - self.time, MIN_ETA_GAPS * usual)
            if steady:
                eta = min(eta, self.shown)
        self.held, self.shown = held, eta
        return eta

    def _steady(self, end: float, held_end: float) -> tuple[float, bool]:
        """The new end time, and whether it is held: when it is later than the held one by less
        than the noise, the ETA may hold but not rise above the last one shown."""
        assert self.last is not None
        counted = max(1, self.last[1] - self.history[0][1])
        relative = max(STEADY_TOLERANCE, RESOLUTION_NOISE / counted) * max(held_end - self.time, 0.0)
        # a change is dated to within a poll: so is the end it implies
        noise = relative + self.poll_gap
        if end < held_end or end - held_end > noise:
            return end, False  # sooner, or news: a real slowdown
        return min(end, self.time + self.shown), True

    def band(self) -> tuple[float, float]:
        """How far below and above the ETA the band reaches, in log units (set with the end
        time). A stall under way widens the high side by the spread between regimes; a batch
        that spent a share ``s`` of its time in stalls may spend as much of what is left: the
        high end stretches by ``1 / (1 - s)``."""
        low, high = self.spreads
        if self.stalled():
            high = math.hypot(high, _spread(self._between_regimes()))
        if self.first is not None and self.last is not None and self.last[0] > self.first[0]:
            share = min(MAX_STALL_SHARE, self.stalled_seconds / (self.last[0] - self.first[0]))
            high -= math.log(1 - share)
        return low, min(MAX_BAND, high)

    def _spreads(self, horizon: float, measured: float, share: float) -> tuple[float, float]:
        """The band for ``horizon`` seconds ahead, in log units below and above.

        The model's variance (the current rate's error for the share of the horizon it
        governs, the spread between regimes for the rest) is blended with the batch's own
        record: how far the mean rate over ``horizon`` seconds after each earlier change fell
        above or below the rate estimated at that change."""
        between = self._between_regimes()
        model = share * measured + (1 - share) * between
        faster, slower, count = self._forecast_errors(horizon)
        weight = count / (count + FORECAST_PRIOR)
        low = (1 - weight) * model + weight * (2 * faster / count if count else 0.0)
        high = (1 - weight) * model + weight * (2 * slower / count if count else 0.0)
        return _spread(low), _spread(high)

    def _forecast_errors(self, horizon: float) -> tuple[float, float, int]:
        """Squared log errors of past rate estimates over ``horizon`` seconds, summed apart
        for the batch going faster and slower than estimated, and how many there were."""
        faster = slower = 0.0
        count = 0
        points = self.forecasts
        if self.last is None or len(points) < 2:
            return faster, slower, count
        last_time = self.last[0]
        times = [time for time, _, _ in points]
        for time, done, predicted in points:
            until = time + horizon
            if until > last_time:
                break
            i = max(1, bisect.bisect_left(times, until))
            (t0, c0, _), (t1, c1, _) = points[i - 1], points[i]
            reached = c0 + (c1 - c0) * (until - t0) / (t1 - t0)
            error = math.log(max(reached - done, 0.5) / horizon) - predicted
            if error > 0:
                faster += error * error
            else:
                slower += error * error
            count += 1
        return faster, slower, count


def _horizon(remaining: float, long_run: float, current: float, hazard: float) -> tuple[float, float]:
    """The ``T`` at which the expected mean rate over the next ``T`` seconds finishes
    ``remaining`` requests (see the module), and the share of it the current rate governs."""
    if remaining <= 0:
        return 0.0, 1.0

    def share(t: float) -> float:
        x = hazard * t
        return 1.0 if x < 1e-9 else (1 - math.exp(-x)) / x

    low, high = remaining / max(long_run, current), remaining / min(long_run, current)
    while high - low > 1e-6 * high:  # bisection: the work done by ``t`` grows with ``t``
        middle = (low + high) / 2
        if middle * (long_run + (current - long_run) * share(middle)) < remaining:
            low = middle
        else:
            high = middle
    return high, share(high)


def _spread(variance: float) -> float:
    return min(MAX_BAND, BAND_Z * BAND_SCALE * math.sqrt(variance))


def _thinned(points: deque[_Point]) -> deque[_Point]:
    """Every other point of the older half dropped (the first always stays)."""
    kept = list(points)
    half = len(kept) // 2
    return deque(kept[:1] + kept[1:half][1::2] + kept[half:])


def _average(previous: float, value: float, weight: float) -> float:
    return value if previous == 0 else (1 - weight) * previous + weight * value
