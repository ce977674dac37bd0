"""Archetype training: a callback that logs every 10 % of a batch, with its ETA and its range.

    python3 examples/archetype_training.py

Uses ``wait_for_batch_completion_with_progress`` and ``Milestones``, which reports each
10 % step exactly once even when the counts jump past several at a time.
"""

from __future__ import annotations

import logging

from _connect import connect, run

from voyage_progress import BatchProgressEvent, Milestones
from voyage_progress.core.format import format_duration

ARCHETYPES = ["the hero", "the mentor", "the trickster", "the shadow", "the herald", "the shapeshifter"]

log = logging.getLogger("archetypes")


async def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    texts = [f"{archetype}, scene {scene}" for scene in range(200) for archetype in ARCHETYPES]
    milestones = Milestones(step=10)

    def on_progress(event: BatchProgressEvent) -> None:
        for percent in milestones.crossed(event.percent):
            eta, low, high = (format_duration(s) for s in (event.eta_seconds, event.eta_low, event.eta_high))
            note = " (stalled)" if event.stalled else ""
            log.info("training corpus %3d%% embedded, ETA %s (%s to %s)%s", percent, eta, low, high, note)

    async with connect() as connection:
        job = await connection.client.submit_texts(texts, per_request=10, metadata={"label": "archetypes"})
        log.info("batch %s submitted: %d texts", job.id, len(texts))
        final = await connection.client.wait_for_batch_completion_with_progress(
            job.id, on_progress, poll_interval=connection.poll_interval
        )
    counts = final.request_counts
    log.info("done: %s, %d requests succeeded, %d failed", final.status, counts.completed, counts.failed)


if __name__ == "__main__":
    run(main())
