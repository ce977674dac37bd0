"""The sidecar's state as OSC messages, address by address of the namespace.

This is where Voyage meets OSC: the namespace says what each address means, this module says
which figure goes there. Unknown numbers are sent as ``UNKNOWN`` (-1), never left out, so a
receiver always holds a complete, consistent set. Every string is cleaned and cut (see
``voyage_progress.core.text``): what the API sends as a label, a status or an error can neither act
on a receiver's screen nor make a bundle too big to send.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from ..._version import __version__
from ...core.models import BatchStatus
from ...core.text import clean_label, clean_text
from ...watcher import WatchedBatch
from . import ALL, BATCH, EVENT, SIDECAR, STATUS_ERROR, STATUS_PENDING, UNKNOWN, OscAddress
from ._codec import Arg, Message

__all__ = ["batch_messages", "batch_status", "event_message", "health_messages", "summary_messages"]


def _seconds(value: float | None) -> float:
    return value if value is not None and math.isfinite(value) and value >= 0 else UNKNOWN


def _deadline(value: float | None) -> float:
    """Seconds to the deadline: 0 once passed, ``UNKNOWN`` when there is none."""
    return max(0.0, value) if value is not None and math.isfinite(value) else UNKNOWN


def batch_status(batch: WatchedBatch) -> str:
    """The batch's status as receivers and the terminal see it: the API's, or the sidecar's own
    ``pending`` (not read yet) and ``error`` (cannot be read); all are in ``STATUSES``."""
    if batch.job is not None:
        return batch.job.status.value
    return STATUS_ERROR if batch.error else STATUS_PENDING


def batch_messages(prefix: str, batch: WatchedBatch, poll_age: float | None) -> list[Message]:
    """Every ``/batch/{slot}/...`` address for one batch."""
    slot = batch.slot
    event = batch.event
    status = batch_status(batch)
    values: list[tuple[OscAddress, Arg]] = [
        (BATCH.ID, clean_text(batch.batch_id)),
        (BATCH.LABEL, clean_label(batch.label)),
        (BATCH.STATUS, clean_text(status)),
        (BATCH.ERROR, clean_text(batch.error or (event.error_message if event else None) or "")),
        (BATCH.PHASE, BatchStatus(status).phase),
        (BATCH.PROGRESS, event.progress if event else 0.0),
        (BATCH.PERCENT, event.percent if event else 0.0),
        (BATCH.TOTAL, event.total if event else 0),
        (BATCH.COMPLETED, event.completed if event else 0),
        (BATCH.FAILED, event.failed if event else 0),
        (
            BATCH.RATE,
            event.rate if event and event.rate > 0 else (0.0 if event and event.is_terminal else UNKNOWN),
        ),
        (BATCH.ETA, _seconds(event.eta_seconds if event else None)),
        (BATCH.ETA_LOW, _seconds(event.eta_low if event else None)),
        (BATCH.ETA_HIGH, _seconds(event.eta_high if event else None)),
        (BATCH.ETA_FROM_HISTORY, int(bool(event and event.eta_from_history))),
        (BATCH.STALLED, int(bool(event and event.stalled))),
        (BATCH.DEADLINE, _deadline(event.deadline_seconds if event else None)),
        (BATCH.AT_RISK, int(bool(event and event.at_risk))),
        (BATCH.ELAPSED, _seconds(event.elapsed_seconds if event else None)),
        (BATCH.POLL_AGE, _seconds(poll_age)),
        (BATCH.IS_COMPLETE, int(bool(event and event.is_complete))),
        (BATCH.IS_FAILED, int(bool(event and event.is_failed))),
        (BATCH.IS_TERMINAL, int(bool(event and event.is_terminal) or batch.error is not None)),
        (BATCH.ANOMALIES, batch.anomalies),
    ]
    return [(address.full(prefix, slot), [value]) for address, value in values]


def summary_messages(prefix: str, batches: Iterable[WatchedBatch]) -> list[Message]:
    """``/all/...``: the sum over every watched batch."""
    total = completed = failed = active = 0
    eta = 0.0
    all_completed = True
    for batch in batches:
        event = batch.event
        if batch.is_active:
            active += 1
            batch_eta = event.eta_seconds if event else math.inf
            eta = max(eta, batch_eta)
        elif event is None or not event.is_complete:  # failed, cancelled, expired or unreadable
            all_completed = False
        if event is not None:
            total += event.total
            completed += event.completed
            failed += event.failed
    progress = min(1.0, (completed + failed) / total) if total else 0.0
    return [
        (ALL.PROGRESS.full(prefix), [progress]),
        (ALL.PERCENT.full(prefix), [progress * 100.0]),
        (ALL.ETA.full(prefix), [_seconds(eta if active or all_completed else math.inf)]),
        (ALL.ACTIVE.full(prefix), [active]),
        (ALL.TOTAL.full(prefix), [total]),
        (ALL.COMPLETED.full(prefix), [completed]),
        (ALL.FAILED.full(prefix), [failed]),
    ]


def health_messages(
    prefix: str,
    *,
    heartbeat: int,
    epoch: int,
    running: bool,
    api_ok: bool,
    poll_age: float | None,
    watching: int,
    message: str,
) -> list[Message]:
    """``/sidecar/...``: sent together every second."""
    return [
        (SIDECAR.HEARTBEAT.full(prefix), [heartbeat]),
        (SIDECAR.EPOCH.full(prefix), [epoch]),
        (SIDECAR.RUNNING.full(prefix), [int(running)]),
        (SIDECAR.API_OK.full(prefix), [int(api_ok)]),
        (SIDECAR.POLL_AGE.full(prefix), [_seconds(poll_age)]),
        (SIDECAR.WATCHING.full(prefix), [watching]),
        (SIDECAR.MESSAGE.full(prefix), [clean_text(message)]),
        (SIDECAR.VERSION.full(prefix), [__version__]),
    ]


def event_message(prefix: str, kind: str, batch_id: str = "", slot: int = -1) -> Message:
    return (EVENT.EVENT.full(prefix), [kind, batch_id, slot])
