"""Slot numbers for watched batches: the lowest free one, or the one asked for while it is free.

Found from a heap of the numbers given back, not by a scan of every watched batch: watching ten
thousand batches (a state file, a flood of control messages) costs ten thousand small steps,
not fifty million.
"""

from __future__ import annotations

import heapq

__all__ = ["Slots"]


class Slots:
    def __init__(self) -> None:
        self._taken: set[int] = set()
        self._free: list[int] = []  # a heap of numbers below ``_end``; some may have been taken since
        self._end = 0

    def take(self, wanted: int | None = None) -> int:
        """``wanted`` if it is free, else the lowest free number."""
        if wanted is not None and wanted >= 0 and wanted not in self._taken:
            for number in range(self._end, wanted):
                heapq.heappush(self._free, number)
            self._end = max(self._end, wanted + 1)
            slot = wanted
        else:
            slot = self._lowest_free()
        self._taken.add(slot)
        return slot

    def give_back(self, slot: int) -> None:
        if slot in self._taken:
            self._taken.discard(slot)
            heapq.heappush(self._free, slot)

    def _lowest_free(self) -> int:
        while self._free:
            slot = heapq.heappop(self._free)
            if slot not in self._taken:
                return slot
        self._end += 1
        return self._end - 1
