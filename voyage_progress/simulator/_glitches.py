"""Batch objects that are well-formed JSON but wrong: what a client meets on a bad day.

A replica that lags answers with older counts; a bug reports more requests done than there
are; a new status appears before the client knows it; a field goes missing or changes type.
The ``glitch`` fault applies one of these to every batch object of an answer.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

__all__ = ["GLITCHES", "glitch_body"]

Batch = dict[str, Any]


def _stale_counts(batch: Batch, rng: random.Random) -> None:
    counts = batch.get("request_counts") or {}
    counts["completed"] = rng.randint(0, max(0, int(counts.get("completed") or 0)))
    counts["failed"] = rng.randint(0, max(0, int(counts.get("failed") or 0)))


def _more_than_total(batch: Batch, rng: random.Random) -> None:
    counts = batch.get("request_counts") or {}
    counts["completed"] = int(counts.get("total") or 0) + rng.randint(1, 50)


def _unknown_status(batch: Batch, rng: random.Random) -> None:
    batch["status"] = rng.choice(["paused", "queued", "IN_PROGRESS", ""])


def _missing_fields(batch: Batch, rng: random.Random) -> None:
    for name in rng.sample(["request_counts", "status", "created_at", "metadata", "errors"], 2):
        batch.pop(name, None)


def _wrong_types(batch: Batch, rng: random.Random) -> None:
    counts = batch.get("request_counts") or {}
    counts.update(total=str(counts.get("total")), completed=None, failed=rng.choice([[], "x", 1.5]))
    batch["created_at"] = rng.choice([12345, True, {"at": "now"}])
    batch["metadata"] = rng.choice([None, "label", [1, 2]])


GLITCHES: dict[str, Callable[[Batch, random.Random], None]] = {
    "stale_counts": _stale_counts,
    "more_than_total": _more_than_total,
    "unknown_status": _unknown_status,
    "missing_fields": _missing_fields,
    "wrong_types": _wrong_types,
}


def glitch_body(body: Any, rng: random.Random) -> list[str]:
    """Glitch every batch object of an answer (one batch, or a list page) in place; returns
    the glitches applied."""
    batches = body.get("data") if isinstance(body, dict) and body.get("object") == "list" else [body]
    applied = []
    for batch in batches or []:
        if isinstance(batch, dict) and batch.get("object") == "batch":
            name = rng.choice(list(GLITCHES))
            GLITCHES[name](batch, rng)
            applied.append(name)
    return applied
