"""Simulated time: real time scaled by ``speed``, plus whatever a test adds by hand."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


class SimClock:
    """The simulator's clock.

    ``speed`` simulated seconds pass per real second (``speed=0`` stops time so that only
    ``advance`` moves it, which is what deterministic tests want). The clock starts at the
    real current time, so timestamps look like today's.
    """

    def __init__(self, speed: float = 1.0, start: datetime | None = None) -> None:
        if speed < 0:
            raise ValueError(f"speed must be 0 or more, not {speed}")
        self.speed = speed
        self._origin = start or datetime.now(UTC)
        self._mono_origin = time.monotonic()
        self._advanced = 0.0

    def elapsed(self) -> float:
        """Simulated seconds since the clock started."""
        return (time.monotonic() - self._mono_origin) * self.speed + self._advanced

    def now(self) -> datetime:
        return self._origin + timedelta(seconds=self.elapsed())

    def advance(self, seconds: float) -> None:
        """Move simulated time forward (never back: batches do not un-finish)."""
        if seconds < 0:
            raise ValueError("the simulated clock only moves forward")
        self._advanced += seconds

    def set_speed(self, speed: float) -> None:
        """Change the speed from now on, without a jump in simulated time."""
        if speed < 0:
            raise ValueError(f"speed must be 0 or more, not {speed}")
        self._advanced = self.elapsed()
        self._mono_origin = time.monotonic()
        self.speed = speed

    def real_seconds(self, simulated: float) -> float:
        """How long ``simulated`` seconds take in real time (``inf`` when time is stopped)."""
        return simulated / self.speed if self.speed > 0 else float("inf")
