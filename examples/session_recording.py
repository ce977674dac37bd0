"""Session recording: a large batch of transcript segments, with live progress and a
completion notice at the end.

    python examples/session_recording.py

The terminal shows a bar with percent, counts, rate and ETA. To see the same progress in
TouchDesigner, run the sidecar beside it instead (``voyage-progress watch BATCH_ID``).
"""

from __future__ import annotations

import asyncio

from _connect import connect

from voyage_progress._terminal import ProgressView


def transcript_segments(count: int) -> list[str]:
    speakers = ["Performer", "Visitor", "Narrator"]
    return [
        f"{speakers[i % 3]} at {i // 60:02d}:{i % 60:02d}: segment {i} of the session" for i in range(count)
    ]


async def main() -> None:
    segments = transcript_segments(20_000)
    async with connect() as connection:
        client = connection.client
        job = await client.submit_texts(segments, per_request=10, metadata={"label": "session"})
        print(f"Session batch {job.id}: {len(segments)} segments in {len(segments) // 10} requests")
        with ProgressView() as view:
            final = await client.wait_for_batch_completion_with_progress(
                job.id, lambda event: view.update(event, "session"), poll_interval=connection.poll_interval
            )
    counts = final.request_counts
    if final.status.value == "completed":
        print(f"Session recording embedded: {counts.completed} requests done, {counts.failed} failed.")
    else:
        raise SystemExit(
            f"Session batch ended as {final.status}: {final.error_message or 'see the error file'}"
        )


if __name__ == "__main__":
    asyncio.run(main())
