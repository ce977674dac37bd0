"""Rate and ETA from ``(time, processed count)`` samples.

No I/O and no clock: every figure is computed from the samples alone, relative to the latest
sample's timestamp, so a recorded trace replays through it exactly as it ran live.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["UNKNOWN_ETA", "BatchProgressMetrics"]

#: The ETA when none can be given: a float that prints (``inf``), never None.
UNKNOWN_ETA = math.inf

#: Samples kept per batch; enough for hours of polls, bounded for days of them.
MAX_SAMPLES = 4096


@dataclass
class BatchProgressMetrics:
    """Moving-average rate over the last ``window_size`` samples, and the ETA it implies."""

    start_time: datetime
    samples: list[tuple[datetime, int]] = field(default_factory=list)
    window_size: int = 10

    def add_sample(self, timestamp: datetime, completed: int) -> None:
        """Record that ``completed`` requests were done at ``timestamp``.

        A sample with the timestamp of the latest one replaces it; one older than the latest is
        ignored (a late, out-of-order poll answer says nothing new).
        """
        if self.samples:
            last_time, _ = self.samples[-1]
            if timestamp < last_time:
                return
            if timestamp == last_time:
                self.samples[-1] = (timestamp, completed)
                return
        self.samples.append((timestamp, completed))
        if len(self.samples) > MAX_SAMPLES:
            del self.samples[: len(self.samples) - MAX_SAMPLES]

    def _window(self) -> list[tuple[datetime, int]]:
        return self.samples[-max(2, self.window_size) :]

    def calculate_rate(self) -> float:
        """Requests per second over the window; 0.0 until two samples span some time."""
        window = self._window()
        if len(window) < 2:
            return 0.0
        return _slope(window[0], window[-1])

    def calculate_eta(self, total: int, completed: int) -> float:
        """Seconds from the latest sample until ``total`` is reached; ``inf`` when unknown."""
        remaining = total - completed
        if total <= 0:
            return UNKNOWN_ETA
        if remaining <= 0:
            return 0.0
        rate = self.calculate_rate()
        return remaining / rate if rate > 0 else UNKNOWN_ETA

    def calculate_eta_band(self, total: int, completed: int) -> tuple[float, float]:
        """A low and a high ETA, from the fastest and slowest halves of the window."""
        remaining = total - completed
        if total <= 0:
            return UNKNOWN_ETA, UNKNOWN_ETA
        if remaining <= 0:
            return 0.0, 0.0
        window = self._window()
        if len(window) < 3:
            eta = self.calculate_eta(total, completed)
            return eta, eta
        middle = len(window) // 2
        rates = (
            _slope(window[0], window[middle]),
            _slope(window[middle], window[-1]),
            self.calculate_rate(),
        )
        fastest, slowest = max(rates), min(rates)
        low = remaining / fastest if fastest > 0 else UNKNOWN_ETA
        high = remaining / slowest if slowest > 0 else UNKNOWN_ETA
        return low, high

    def elapsed_seconds(self) -> float:
        """Seconds from ``start_time`` to the latest sample (0.0 without samples)."""
        if not self.samples:
            return 0.0
        return max(0.0, (self.samples[-1][0] - self.start_time).total_seconds())


def _slope(first: tuple[datetime, int], last: tuple[datetime, int]) -> float:
    seconds = (last[0] - first[0]).total_seconds()
    if seconds <= 0:
        return 0.0
    return max(0.0, (last[1] - first[1]) / seconds)
