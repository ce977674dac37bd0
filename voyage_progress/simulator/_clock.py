"""Simulated time: real time scaled by ``speed``, plus whatever a test adds by hand; and the
dates the API shows for it, which stay with the wall clock at any speed."""

from __future__ import annotations

import bisect
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True)
class _Stretch:
    """From simulated second ``simulated`` (dated ``dated`` seconds after the origin) on,
    ``rate`` seconds of date pass per simulated second."""

    simulated: float
    dated: float
    rate: float

    def date(self, simulated: float) -> float:
        return self.dated + (simulated - self.simulated) * self.rate


class SimClock:
    """The simulator's clock.

    ``speed`` simulated seconds pass per real second (``speed=0`` stops time so that only
    ``advance`` moves it, which is what deterministic tests want).

    Dates (``now``, ``date_of``) are compressed: while the clock runs, a simulated second is
    dated ``1 / speed`` seconds, so the dates keep pace with the wall clock at any speed and a
    batch is never dated in the future (at ``--speed 100`` a 15-minute batch is dated over the
    9 s it really took). Time moved by ``advance`` is dated one for one: the dates then run that
    far ahead of the wall clock, as asked. The clock starts at the real current time.
    """

    def __init__(self, speed: float = 1.0, start: datetime | None = None) -> None:
        if speed < 0:
            raise ValueError(f"speed must be 0 or more, not {speed}")
        self.speed = speed
        self._origin = start or datetime.now(UTC)
        self._mono_origin = time.monotonic()
        self._advanced = 0.0
        self._stretches = [_Stretch(0.0, 0.0, _date_rate(speed))]
        self._starts = [0.0]  # each stretch's ``simulated``, for bisect

    def elapsed(self) -> float:
        """Simulated seconds since the clock started."""
        return (time.monotonic() - self._mono_origin) * self.speed + self._advanced

    def now(self) -> datetime:
        return self.date_of(self.elapsed())

    def date_of(self, simulated: float) -> datetime:
        """The date of simulated second ``simulated`` (past, or ahead at the current pace)."""
        stretch = self._stretches[max(0, bisect.bisect_right(self._starts, simulated) - 1)]
        return self._origin + timedelta(seconds=stretch.date(simulated))

    def advance(self, seconds: float) -> None:
        """Move simulated time forward (never back: batches do not un-finish)."""
        if seconds < 0:
            raise ValueError("the simulated clock only moves forward")
        now = self.elapsed()
        self._pace_from(now, 1.0)
        self._advanced += seconds
        self._pace_from(now + seconds, _date_rate(self.speed))

    def set_speed(self, speed: float) -> None:
        """Change the speed from now on, without a jump in simulated time."""
        if speed < 0:
            raise ValueError(f"speed must be 0 or more, not {speed}")
        self._advanced = self.elapsed()
        self._mono_origin = time.monotonic()
        self.speed = speed
        self._pace_from(self._advanced, _date_rate(speed))

    def real_seconds(self, simulated: float) -> float:
        """How long ``simulated`` seconds take in real time (``inf`` when time is stopped)."""
        return simulated / self.speed if self.speed > 0 else float("inf")

    def _pace_from(self, simulated: float, rate: float) -> None:
        """Date simulated time from ``simulated`` on at ``rate``: a new stretch, unless the
        last one already runs at that rate (a stopped clock advanced again and again, or one
        at speed 1, never needs a second)."""
        last = self._stretches[-1]
        if rate == last.rate:
            return
        stretch = _Stretch(simulated, last.date(simulated), rate)
        if simulated == last.simulated:
            self._stretches[-1] = stretch
        else:
            self._stretches.append(stretch)
            self._starts.append(simulated)


def _date_rate(speed: float) -> float:
    """Seconds of date per simulated second while the clock runs at ``speed``: real time.
    A stopped clock moves only by ``advance``, dated one for one."""
    return 1.0 / speed if speed > 0 else 1.0
