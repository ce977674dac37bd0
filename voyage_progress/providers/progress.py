"""The spec's progress API: an async generator of events, and a wait with a callback.

Both work with any provider (they need only ``get_batch``) and poll nothing else:
``stream_batch_progress(AnthropicBatchClient(), "msgbatch_...")`` is the same stream as the
client's own method. A failed
poll (already retried by the provider) does not end the stream: the next poll comes after the
usual interval, and only a run of ``max_poll_failures`` failures raises. Errors that retrying
cannot fix (401, 404) raise at once.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from datetime import UTC, datetime

from .._defaults import DEFAULT_MAX_POLL_FAILURES, DEFAULT_MAX_WAIT, DEFAULT_POLL_INTERVAL
from ..core.errors import TRANSIENT_ERRORS, BatchWaitTimeout, PollingError
from ..core.events import BatchProgressEvent
from ..core.metrics import BatchProgressMetrics
from ..core.models import BatchJob
from . import BatchAPI

logger = logging.getLogger("voyage_progress")

Sleep = Callable[[float], Awaitable[None]]


def _check_interval(poll_interval: float) -> None:
    if not poll_interval > 0:
        raise ValueError(f"poll_interval must be a positive number of seconds, not {poll_interval!r}")


async def stream_batch_progress(
    client: BatchAPI,
    batch_id: str,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    include_metrics: bool = True,
    *,
    max_poll_failures: int = DEFAULT_MAX_POLL_FAILURES,
    sleep: Sleep = asyncio.sleep,
) -> AsyncGenerator[BatchProgressEvent, None]:
    _check_interval(poll_interval)
    loop = asyncio.get_running_loop()
    metrics: BatchProgressMetrics | None = None
    failures = 0
    while True:
        poll_started = loop.time()
        try:
            job = await client.get_batch(batch_id)
        except TRANSIENT_ERRORS as exc:
            failures += 1
            if failures >= max_poll_failures:
                raise PollingError(batch_id, failures, exc) from exc
            logger.warning("batch %s: poll failed (%d in a row), trying again: %s", batch_id, failures, exc)
        else:
            failures = 0
            now = datetime.now(UTC)
            if include_metrics:
                if metrics is None:
                    metrics = BatchProgressMetrics(start_time=now)
                if job.in_progress_at is not None and job.in_progress_at <= now:
                    metrics.set_processing_start(job.in_progress_at)  # dates a first count
                metrics.add_sample(now, job.request_counts.processed)
            yield BatchProgressEvent.from_job(job, now, metrics)
            if job.status.is_terminal:
                return
        await sleep(max(0.0, poll_started + poll_interval - loop.time()))


async def wait_for_batch_completion_with_progress(
    client: BatchAPI,
    batch_id: str,
    on_progress: Callable[[BatchProgressEvent], object] | None = None,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    max_wait: float = DEFAULT_MAX_WAIT,
    *,
    sleep: Sleep = asyncio.sleep,
) -> BatchJob:
    _check_interval(poll_interval)
    if not max_wait > 0:
        raise ValueError(f"max_wait must be a positive number of seconds, not {max_wait!r}")
    last: BatchProgressEvent | None = None
    deadline = asyncio.timeout(max_wait)
    try:
        async with deadline:
            stream = stream_batch_progress(client, batch_id, poll_interval, include_metrics=True, sleep=sleep)
            async with aclosing(stream):
                async for event in stream:
                    last = event
                    if on_progress is not None:
                        result = on_progress(event)
                        if inspect.isawaitable(result):
                            await result
    except TimeoutError:
        if not deadline.expired():
            raise
        raise BatchWaitTimeout(batch_id, max_wait, last.status.value if last else None) from None
    assert last is not None and last.job is not None  # the stream only ends after a terminal event
    return last.job
