"""Gesture library initialisation: fifteen gesture descriptions embedded in one batch.

    python3 examples/gesture_library.py

Prints ``Loading gestures: 7/15 (47%)`` as the batch moves, then each gesture's vector size.
"""

from __future__ import annotations

import json

from _connect import ExampleFailure, connect, run

GESTURES = [
    "open palm raised",
    "closed fist",
    "thumbs up",
    "thumbs down",
    "pointing left",
    "pointing right",
    "wave hello",
    "swipe up",
    "swipe down",
    "pinch to zoom",
    "two-finger rotate",
    "clap",
    "arms crossed",
    "hand on heart",
    "circle in the air",
]


async def main() -> None:
    async with connect() as connection:
        client = connection.client
        job = await client.submit_texts(
            GESTURES, model="voyage-3.5", input_type="document", metadata={"label": "gestures"}
        )
        async for event in client.stream_batch_progress(job.id, poll_interval=connection.poll_interval):
            done = event.completed + event.failed
            print(f"Loading gestures: {done}/{len(GESTURES)} ({event.percent:.0f}%)  [{event.status}]")
        if not event.is_complete or not event.job or not event.job.output_file_id:
            raise ExampleFailure(f"the gesture batch ended as {event.status}: {event.error_message}")
        output = await client.download_file(event.job.output_file_id)
        vectors = {}
        for line in output.decode().splitlines():
            record = json.loads(line)
            index = int(record["custom_id"].rsplit("-", 1)[1])
            vectors[GESTURES[index]] = record["response"]["body"]["data"][0]["embedding"]
        print(f"Loaded {len(vectors)} gestures, {len(next(iter(vectors.values())))} dimensions each.")


if __name__ == "__main__":
    run(main())
