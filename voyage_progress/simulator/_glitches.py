"""Batch objects that are well-formed JSON but wrong: what a client meets on a bad day.

A replica that lags answers with older counts; a bug reports more requests done than there
are; a new status appears before the client knows it; a field goes missing or changes type.
The ``glitch`` fault applies one of these to every batch object of an answer.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._dialect import Dialect, GlitchShape

__all__ = ["GLITCHES", "glitch_body"]

Batch = dict[str, Any]


def _counts(batch: Batch) -> dict[str, Any]:
    counts = batch.get("request_counts")
    return counts if isinstance(counts, dict) else {}


def _stale_counts(batch: Batch, shape: GlitchShape, rng: random.Random) -> None:
    counts = _counts(batch)
    for name in shape.done_counts:
        counts[name] = rng.randint(0, max(0, int(counts.get(name) or 0)))


def _more_than_total(batch: Batch, shape: GlitchShape, rng: random.Random) -> None:
    counts = _counts(batch)
    done = shape.done_counts[0]
    if shape.total_count is None:  # the total is the sum of the counts: it changes with them
        counts[done] = int(counts.get(done) or 0) + rng.randint(1, 50)
    else:
        counts[done] = int(counts.get(shape.total_count) or 0) + rng.randint(1, 50)


def _unknown_status(batch: Batch, shape: GlitchShape, rng: random.Random) -> None:
    batch[shape.status_field] = rng.choice(["paused", "queued", "IN_PROGRESS", ""])


def _missing_fields(batch: Batch, shape: GlitchShape, rng: random.Random) -> None:
    for name in rng.sample(["request_counts", shape.status_field, *shape.droppable], 2):
        batch.pop(name, None)


def _wrong_types(batch: Batch, shape: GlitchShape, rng: random.Random) -> None:
    counts = _counts(batch)
    first, second, *_, last = [*shape.done_counts, *filter(None, [shape.total_count])]
    counts.update({last: str(counts.get(last)), first: None, second: rng.choice([[], "x", 1.5])})
    batch["created_at"] = rng.choice([True, {"at": "now"}, "yesterday"])
    if "metadata" in shape.droppable:
        batch["metadata"] = rng.choice([None, "label", [1, 2]])


GLITCHES: dict[str, Callable[[Batch, GlitchShape, random.Random], None]] = {
    "stale_counts": _stale_counts,
    "more_than_total": _more_than_total,
    "unknown_status": _unknown_status,
    "missing_fields": _missing_fields,
    "wrong_types": _wrong_types,
}


def glitch_body(body: Any, rng: random.Random, dialect: Dialect) -> list[str]:
    """Glitch every batch object of an answer (one batch, or a list page) in place, where the
    dialect keeps its fields; returns the glitches applied."""
    applied = []
    for batch in dialect.batches_in(body):
        name = rng.choice(list(GLITCHES))
        GLITCHES[name](batch, dialect.glitch_shape, rng)
        applied.append(name)
    return applied
