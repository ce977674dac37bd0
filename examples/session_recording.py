"""Session recording: a large batch of transcript segments, its progress in TouchDesigner, and
a completion notice at the end.

    python3 examples/session_recording.py [HOST:PORT]

The sidecar runs inside this script: it sends the batch's progress as OSC (to 127.0.0.1:7450,
or HOST:PORT) for the TouchDesigner component, shows it here as a live bar, and announces the
end with ``/voyage/event complete`` before the script prints its own notice.
"""

from __future__ import annotations

import asyncio
import sys

from _connect import ExampleFailure, connect, describe, run

from voyage_progress._defaults import DEFAULT_MAX_POLL_FAILURES
from voyage_progress.sidecar import Destination, Intervals, Sidecar, SidecarConfig, SidecarView


def transcript_segments(count: int) -> list[str]:
    speakers = ["Performer", "Visitor", "Narrator"]
    return [f"{speakers[i % 3]} at {i // 60:02d}:{i % 60:02d}: segment {i}" for i in range(count)]


async def main(destination_text: str) -> None:
    try:
        destination = Destination.parse(destination_text)
    except ValueError:
        raise ExampleFailure(f"{destination_text!r} is not HOST:PORT, e.g. 127.0.0.1:7450") from None
    segments = transcript_segments(20_000)
    async with connect() as connection:
        job = await connection.client.submit_texts(segments, per_request=10, metadata={"label": "session"})
        print(f"Session batch {job.id}: {len(segments)} segments in {len(segments) // 10} requests")
        config = SidecarConfig(
            batch_ids=[job.id],
            destinations=[destination],
            intervals=Intervals(connection.poll_interval, connection.poll_interval / 4, 60.0),
            control_port=None,
        )
        sidecar = Sidecar(config, connection.client, SidecarView("live" if sys.stdout.isatty() else "text"))
        await watch_until_ended(sidecar)
    watched = sidecar.watcher.batches[job.id]
    if watched.job is None:
        raise ExampleFailure(f"session batch {job.id} could not be read: {watched.error}")
    counts = watched.job.request_counts
    if watched.job.status.value == "completed":
        print(f"Session recording embedded: {counts.completed} requests done, {counts.failed} failed.")
    else:
        reason = watched.job.error_message or "see the error file"
        raise ExampleFailure(f"session batch ended as {watched.job.status}: {reason}")


async def watch_until_ended(sidecar: Sidecar) -> None:
    """Run the sidecar until every batch has ended. The sidecar runs in the foreground, so one
    that cannot start or stops on an error ends the example with its error; an API that keeps
    failing ends it too, as it ends ``stream_batch_progress``, instead of a wait without end."""
    stop = asyncio.Event()
    over = asyncio.create_task(_over(sidecar))
    over.add_done_callback(lambda _: stop.set())
    try:
        await sidecar.run(stop)
    except Exception as exc:
        raise ExampleFailure(f"the sidecar stopped: {describe(exc)}") from exc
    finally:
        over.cancel()
    if not over.cancelled() and (failure := over.result()):
        raise ExampleFailure(failure)


async def _over(sidecar: Sidecar) -> str | None:
    """None once every batch has ended and its end was sent; why not, when the API gave up."""
    ended = asyncio.create_task(sidecar.wait_all_ended())
    health = sidecar.watcher.health
    try:
        while not ended.done():
            if health.consecutive_failures >= DEFAULT_MAX_POLL_FAILURES:
                return f"{health.consecutive_failures} polls in a row failed: {health.message}"
            await asyncio.wait([ended], timeout=0.1)
    finally:
        ended.cancel()
    return None


if __name__ == "__main__":
    run(main(sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:7450"))
