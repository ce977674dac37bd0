"""A provider as small as one can be: batches that move one step at each read, all in memory.

With its line in ``PROVIDERS`` (a test adds it), ``open_provider("fake")`` opens it and the
sidecar watches it like any other: the proof that a new provider is a module and a line.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from voyage_progress.core.errors import NotFoundError
from voyage_progress.core.models import BatchJob, BatchStatus, Page, RequestCounts

#: What a batch reports at its first, second... read; the last one for good.
STEPS = [
    (BatchStatus.VALIDATING, 0),
    (BatchStatus.IN_PROGRESS, 4),
    (BatchStatus.IN_PROGRESS, 8),
    (BatchStatus.COMPLETED, 10),
]
TOTAL = 10


class FakeProvider:
    """Knows every batch whose id starts with ``fake_``; any other is not found."""

    base_url = "memory://fake"
    timeout = 1.0

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.reads: Counter[str] = Counter()
        self.cancelled: list[str] = []
        self.closed = False

    async def get_batch(self, batch_id: str) -> BatchJob:
        if not batch_id.startswith("fake_"):
            raise NotFoundError(f"404 no batch {batch_id}", status_code=404)
        step = min(self.reads[batch_id], len(STEPS) - 1)
        self.reads[batch_id] += 1
        status, done = STEPS[step]
        return BatchJob(batch_id, status=status, request_counts=RequestCounts(TOTAL, done, 0))

    async def list_batches(self, *, limit: int = 100, after: str | None = None) -> Page[BatchJob]:
        return Page(())  # lists nothing: the watcher reads each batch on its own

    async def cancel_batch(self, batch_id: str) -> BatchJob:
        self.cancelled.append(batch_id)
        return BatchJob(batch_id, status=BatchStatus.CANCELLING)

    async def aclose(self) -> None:
        self.closed = True
