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
from ...core.frame import BatchSnapshot, Event, Health, Summary
from ...core.text import clean_text
from ._codec import Arg, Message
from ._namespace import ALL, BATCH, EVENT, SIDECAR, UNKNOWN, OscAddress

__all__ = ["batch_messages", "event_message", "health_messages", "summary_messages"]


def _seconds(value: float | None) -> float:
    return value if value is not None and math.isfinite(value) and value >= 0 else UNKNOWN


def _deadline(value: float) -> float:
    """Seconds to the deadline: 0 once passed, ``UNKNOWN`` when there is none."""
    return max(0.0, value) if math.isfinite(value) else UNKNOWN


def batch_messages(prefix: str, batch: BatchSnapshot, poll_age: float | None) -> list[Message]:
    """Every ``/batch/{slot}/...`` address for one batch."""
    values: list[tuple[OscAddress, Arg]] = [
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
    slot = batch.slot
    return [(address.full(prefix, slot), [value]) for address, value in values]


def summary_messages(prefix: str, summary: Summary) -> list[Message]:
    """``/all/...``: the sum over every watched batch."""
    return [
        (ALL.PROGRESS.full(prefix), [summary.progress]),
        (ALL.PERCENT.full(prefix), [summary.percent]),
        (ALL.ETA.full(prefix), [_seconds(summary.eta)]),
        (ALL.ACTIVE.full(prefix), [summary.active]),
        (ALL.TOTAL.full(prefix), [summary.total]),
        (ALL.COMPLETED.full(prefix), [summary.completed]),
        (ALL.FAILED.full(prefix), [summary.failed]),
    ]


def health_messages(prefix: str, health: Health) -> list[Message]:
    """``/sidecar/...``: sent together every second."""
    return [
        (SIDECAR.HEARTBEAT.full(prefix), [health.heartbeat]),
        (SIDECAR.EPOCH.full(prefix), [health.epoch]),
        (SIDECAR.RUNNING.full(prefix), [int(health.running)]),
        (SIDECAR.API_OK.full(prefix), [int(health.api_ok)]),
        (SIDECAR.POLL_AGE.full(prefix), [_seconds(health.poll_age)]),
        (SIDECAR.WATCHING.full(prefix), [health.watching]),
        (SIDECAR.MESSAGE.full(prefix), [clean_text(health.message)]),
        (SIDECAR.VERSION.full(prefix), [__version__]),
    ]


def event_message(prefix: str, event: Event) -> Message:
    batch = event.batch
    batch_id, slot = (batch.batch_id, batch.slot) if batch is not None else ("", -1)
    return (EVENT.EVENT.full(prefix), [event.kind.value, batch_id, slot])
