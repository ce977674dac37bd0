"""A ceiling on requests per second, held over every window, not on average.

An API key is shared: by the sidecar, by the scripts that submit batches, by a colleague's
notebook. A sidecar that retries through an outage must not be what pushes the key over its
rate limit, so every HTTP attempt (retries included) first takes a place in the budget.

The budget is a sliding window: at most ``limit`` requests in any ``window`` seconds, where
``limit / window`` is the rate asked for (5/s is 5 in any second; 0.5/s is 1 in any two
seconds; 2.5/s is 2 in any second, never more than asked). The window is held a little long,
so that the jitter between when a request leaves and when the server counts it never shows the
server one request too many.
"""

from __future__ import annotations

import asyncio
import collections
import math
import time
from collections.abc import Awaitable, Callable

__all__ = ["RequestBudget"]

#: How much longer than the nominal window the budget holds each place.
_MARGIN = 1.02


class RequestBudget:
    def __init__(
        self,
        per_second: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not per_second > 0 or math.isinf(per_second):
            raise ValueError(f"the request budget must be a positive number per second, not {per_second!r}")
        self.per_second = per_second
        self.limit = max(1, math.floor(per_second))
        self.window = max(1.0, self.limit / per_second) * _MARGIN
        self.waited = 0.0
        self.delayed = 0
        self._clock = clock
        self._sleep = sleep
        self._sent: collections.deque[float] = collections.deque(maxlen=self.limit)
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        """Wait (if needed) until one more request keeps within the budget, and count it."""
        async with self._lock:
            if len(self._sent) == self.limit:
                wait = self._sent[0] + self.window - self._clock()
                if wait > 0:
                    self.delayed += 1
                    self.waited += wait
                    await self._sleep(wait)
            self._sent.append(self._clock())
