"""A frame's parts as OSC messages, address by address of the namespace.

This is where the sidecar's state meets OSC: the namespace says what each address means, this
module says which figure goes there. Unknown numbers are sent as ``UNKNOWN`` (-1), never left
out, so a receiver always holds a complete, consistent set. The strings of a batch come cleaned
and cut in its snapshot (see ``voyage_progress.core.text``): what the API sends as a label, a
status or an error can neither act on a receiver's screen nor make a bundle too big to send.
"""

from __future__ import annotations

import math

from ..._version import __version__
from ...core.frame import BatchSnapshot, Event, Frame, Health, Summary
from ...core.text import clean_text
from ._codec import Arg, Message
from ._namespace import ALL, BATCH, EVENT, SIDECAR, UNKNOWN, OscAddress

__all__ = [
    "Value",
    "batch_messages",
    "batch_values",
    "event_args",
    "event_message",
    "frame_bundles",
    "health_messages",
    "health_values",
    "poll_age",
    "summary_messages",
    "summary_values",
]


def _seconds(value: float | None) -> float:
    return value if value is not None and math.isfinite(value) and value >= 0 else UNKNOWN


def _deadline(value: float) -> float:
    """Seconds to the deadline: 0 once passed, ``UNKNOWN`` when there is none."""
    return max(0.0, value) if math.isfinite(value) else UNKNOWN


Value = tuple[OscAddress, Arg]


def batch_values(batch: BatchSnapshot, poll_age: float | None) -> list[Value]:
    """Every ``/batch/{slot}/...`` address for one batch, with its value."""
    return [
        (BATCH.ID, batch.batch_id),
        (BATCH.LABEL, batch.label),
        (BATCH.PROVIDER, batch.provider),
        (BATCH.STATUS, batch.status),
        (BATCH.ERROR, batch.error),
        (BATCH.PHASE, batch.phase),
        (BATCH.PROGRESS, batch.progress),
        (BATCH.PERCENT, batch.percent),
        (BATCH.TOTAL, batch.total),
        (BATCH.COMPLETED, batch.completed),
        (BATCH.FAILED, batch.failed),
        (BATCH.RATE, UNKNOWN if batch.rate is None else batch.rate),
        (BATCH.ETA, _seconds(batch.eta)),
        (BATCH.ETA_LOW, _seconds(batch.eta_low)),
        (BATCH.ETA_HIGH, _seconds(batch.eta_high)),
        (BATCH.ETA_FROM_HISTORY, int(batch.eta_from_history)),
        (BATCH.STALLED, int(batch.stalled)),
        (BATCH.DEADLINE, _deadline(batch.deadline)),
        (BATCH.AT_RISK, int(batch.at_risk)),
        (BATCH.ELAPSED, _seconds(batch.elapsed)),
        (BATCH.POLL_AGE, _seconds(poll_age)),
        (BATCH.IS_COMPLETE, int(batch.is_complete)),
        (BATCH.IS_FAILED, int(batch.is_failed)),
        (BATCH.IS_TERMINAL, int(batch.is_terminal)),
        (BATCH.ANOMALIES, batch.anomalies),
    ]


def summary_values(summary: Summary) -> list[Value]:
    """``/all/...``: the sum over every watched batch."""
    return [
        (ALL.PROGRESS, summary.progress),
        (ALL.PERCENT, summary.percent),
        (ALL.ETA, _seconds(summary.eta)),
        (ALL.ACTIVE, summary.active),
        (ALL.TOTAL, summary.total),
        (ALL.COMPLETED, summary.completed),
        (ALL.FAILED, summary.failed),
    ]


def health_values(health: Health) -> list[Value]:
    """``/sidecar/...``: sent together every second."""
    return [
        (SIDECAR.HEARTBEAT, health.heartbeat),
        (SIDECAR.EPOCH, health.epoch),
        (SIDECAR.RUNNING, int(health.running)),
        (SIDECAR.API_OK, int(health.api_ok)),
        (SIDECAR.POLL_AGE, _seconds(health.poll_age)),
        (SIDECAR.WATCHING, health.watching),
        (SIDECAR.MESSAGE, clean_text(health.message)),
        (SIDECAR.VERSION, __version__),
    ]


def event_args(event: Event) -> list[Arg]:
    """``/event``'s arguments: kind, batch id, slot."""
    batch = event.batch
    batch_id, slot = (batch.batch_id, batch.slot) if batch is not None else ("", -1)
    return [event.kind.value, batch_id, slot]


def batch_messages(prefix: str, batch: BatchSnapshot, poll_age: float | None) -> list[Message]:
    """Every ``/batch/{slot}/...`` address for one batch."""
    slot = batch.slot
    return [(address.full(prefix, slot), [value]) for address, value in batch_values(batch, poll_age)]


def summary_messages(prefix: str, summary: Summary) -> list[Message]:
    """``/all/...``: the sum over every watched batch."""
    return [(address.full(prefix), [value]) for address, value in summary_values(summary)]


def health_messages(prefix: str, health: Health) -> list[Message]:
    """``/sidecar/...``: sent together every second."""
    return [(address.full(prefix), [value]) for address, value in health_values(health)]


def event_message(prefix: str, event: Event) -> Message:
    return (EVENT.EVENT.full(prefix), event_args(event))


def frame_bundles(prefix: str, frame: Frame, every_batch: bool | None = None) -> list[list[Message]]:
    """A frame's messages in the order the OSC output queues them: the health on a heartbeat,
    then the news (a bundle per changed batch, with the summary in it; a message per event), then
    every batch if ``every_batch`` (by default: on a full-state frame). The summary is made only
    for a frame that needs it: it costs a pass over every batch watched."""
    every_batch = frame.full if every_batch is None else every_batch
    bundles = [health_messages(prefix, frame.health)] if frame.beat else []
    has_batches = every_batch or any(not isinstance(item, Event) for item in frame.news)
    summary = summary_messages(prefix, frame.summary) if has_batches else []
    for item in frame.news:
        if isinstance(item, Event):
            bundles.append([event_message(prefix, item)])
        else:
            bundles.append(batch_messages(prefix, item, poll_age(frame, item)) + summary)
    if every_batch:
        bundles += [batch_messages(prefix, b, poll_age(frame, b)) + summary for b in frame.batches]
    return bundles


def poll_age(frame: Frame, batch: BatchSnapshot) -> float | None:
    """Seconds since ``batch`` was read, at the time of ``frame``; None if never."""
    return None if batch.read_at is None else max(0.0, frame.at - batch.read_at)
