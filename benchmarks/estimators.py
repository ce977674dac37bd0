"""The ETA estimators compared, all behind ``BatchProgressMetrics``'s interface:
``add_sample(timestamp, completed)``, then ``calculate_eta(total, completed)`` at each poll.

The baselines are the estimators people reach for, reproduced from their libraries' code:

- tqdm's exponential moving average (``smoothing=0.3``): the rate is EMA(items) / EMA(seconds)
  over updates that made progress, with tqdm's bias correction. Measured from submission (the
  bar is created when the batch is submitted, so the first update spans the queue phase) and
  from first progress (the bar is created when counts first move).
- rich's window (``speed_estimate_period`` 30 s, its default, and 600 s): the speed is the sum
  of the progress samples in the window, but the first, over the window's span; no ETA with
  fewer than two samples in the window.
- the spec's moving average over the last 10 samples (the first estimator of voyage-progress).
"""

from __future__ import annotations

import math
from collections import deque
from datetime import datetime

from voyage_progress import BatchProgressMetrics

__all__ = ["ESTIMATORS", "RichWindow", "SpecMovingAverage", "TqdmEMA"]

INF = math.inf


def _seconds(t: datetime) -> float:
    return t.timestamp()


class _EMA:
    """tqdm.std.EMA."""

    def __init__(self, smoothing: float) -> None:
        self.alpha = smoothing
        self.last = 0.0
        self.calls = 0

    def __call__(self, x: float | None = None) -> float:
        beta = 1 - self.alpha
        if x is not None:
            self.last = self.alpha * x + beta * self.last
            self.calls += 1
        return self.last / (1 - beta**self.calls) if self.calls else self.last


class TqdmEMA:
    def __init__(
        self, start_time: datetime, from_first_progress: bool = False, smoothing: float = 0.3
    ) -> None:
        self.from_first_progress = from_first_progress
        self.last_t: float | None = None if from_first_progress else _seconds(start_time)
        self.last_n = 0
        self.dn, self.dt = _EMA(smoothing), _EMA(smoothing)

    def add_sample(self, timestamp: datetime, completed: int) -> None:
        t = _seconds(timestamp)
        if self.last_t is None:  # the bar starts here
            if completed > 0:
                self.last_t, self.last_n = t, completed
            return
        delta_n, delta_t = completed - self.last_n, t - self.last_t
        if delta_n > 0 and delta_t > 0:
            self.dn(delta_n)
            self.dt(delta_t)
            self.last_t, self.last_n = t, completed

    def calculate_eta(self, total: int, completed: int) -> float:
        if completed >= total:
            return 0.0
        dt = self.dt()
        rate = self.dn() / dt if dt else 0.0
        return (total - completed) / rate if rate > 0 else INF


class RichWindow:
    def __init__(self, start_time: datetime, period: float = 30.0) -> None:
        self.period = period
        self.samples: deque[tuple[float, int]] = deque()
        self.completed = 0

    def add_sample(self, timestamp: datetime, completed: int) -> None:
        now = _seconds(timestamp)
        advanced = completed - self.completed
        self.completed = completed
        while self.samples and self.samples[0][0] < now - self.period:
            self.samples.popleft()
        if advanced > 0:
            self.samples.append((now, advanced))

    def calculate_eta(self, total: int, completed: int) -> float:
        if completed >= total:
            return 0.0
        if not self.samples:
            return INF
        span = self.samples[-1][0] - self.samples[0][0]
        if span == 0:
            return INF
        speed = sum(advanced for _, advanced in list(self.samples)[1:]) / span
        return math.ceil((total - completed) / speed) if speed else INF


class SpecMovingAverage:
    """The spec's estimator: the slope over the last ``window_size`` samples."""

    def __init__(self, start_time: datetime, window_size: int = 10) -> None:
        self.window: deque[tuple[float, int]] = deque(maxlen=window_size)

    def add_sample(self, timestamp: datetime, completed: int) -> None:
        self.window.append((_seconds(timestamp), completed))

    def calculate_eta(self, total: int, completed: int) -> float:
        if completed >= total:
            return 0.0
        if len(self.window) < 2:
            return INF
        (t0, c0), (t1, c1) = self.window[0], self.window[-1]
        rate = (c1 - c0) / (t1 - t0) if t1 > t0 else 0.0
        return (total - completed) / rate if rate > 0 else INF


class Oracle:
    """Not an estimator: it is told the true current rate (``set_truth``) and assumes it lasts.
    Its error is what even perfect knowledge of the present leaves: the future's surprises."""

    told = "current"

    def __init__(self, start_time: datetime) -> None:
        self.rate = 0.0

    def add_sample(self, timestamp: datetime, completed: int) -> None:
        return

    def set_truth(self, rate: float) -> None:
        self.rate = rate

    def calculate_eta(self, total: int, completed: int) -> float:
        return (total - completed) / self.rate if self.rate > 0 else INF


class FutureOracle(Oracle):
    """Told the true mean rate from now to the end: what remains of its error is the counts'
    own graininess (the reported count lags the work done), the floor for any estimator."""

    told = "future"


def _ours(start_time: datetime) -> BatchProgressMetrics:
    return BatchProgressMetrics(start_time=start_time, samples=[])


#: name -> factory(start_time); the first is ours.
ESTIMATORS = {
    "voyage-progress": _ours,
    "tqdm EMA 0.3, from submission": lambda s: TqdmEMA(s, from_first_progress=False),
    "tqdm EMA 0.3, from first progress": lambda s: TqdmEMA(s, from_first_progress=True),
    "rich window 30 s": lambda s: RichWindow(s, 30.0),
    "rich window 600 s": lambda s: RichWindow(s, 600.0),
    "spec 10-sample moving average": SpecMovingAverage,
}
