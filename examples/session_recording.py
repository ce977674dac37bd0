"""Session recording: a large batch of transcript segments, its progress in TouchDesigner, and
a completion notice at the end.

    python examples/session_recording.py [HOST:PORT]

The sidecar runs inside this script: it sends the batch's progress as OSC (to 127.0.0.1:7000,
or HOST:PORT) for the TouchDesigner component, shows it here as a live bar, and announces the
end with ``/voyage/event complete`` before the script prints its own notice.
"""

from __future__ import annotations

import asyncio
import sys

from _connect import connect

from voyage_progress.sidecar import Destination, Intervals, Sidecar, SidecarConfig, SidecarView


def transcript_segments(count: int) -> list[str]:
    speakers = ["Performer", "Visitor", "Narrator"]
    return [f"{speakers[i % 3]} at {i // 60:02d}:{i % 60:02d}: segment {i}" for i in range(count)]


async def main(destination: str) -> None:
    segments = transcript_segments(20_000)
    async with connect() as connection:
        job = await connection.client.submit_texts(segments, per_request=10, metadata={"label": "session"})
        print(f"Session batch {job.id}: {len(segments)} segments in {len(segments) // 10} requests")
        config = SidecarConfig(
            batch_ids=[job.id],
            destinations=[Destination.parse(destination)],
            intervals=Intervals(connection.poll_interval, connection.poll_interval / 4, 60.0),
            control_port=None,
        )
        sidecar = Sidecar(config, connection.client, SidecarView("live" if sys.stdout.isatty() else "text"))
        stop = asyncio.Event()
        watching = asyncio.create_task(sidecar.run(stop))
        await sidecar.wait_all_ended()
        stop.set()
        await watching
    final = sidecar.watcher.batches[job.id].job
    assert final is not None
    counts = final.request_counts
    if final.status.value == "completed":
        print(f"Session recording embedded: {counts.completed} requests done, {counts.failed} failed.")
    else:
        reason = final.error_message or "see the error file"
        raise SystemExit(f"Session batch ended as {final.status}: {reason}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:7000"))
