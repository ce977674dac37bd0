"""The official OpenAI Python SDK on Voyage's Batch API, with voyage-progress showing the progress.

    pip install openai
    python examples/openai_sdk.py

Voyage documents its Batch API for the OpenAI SDK ("Batch Inference",
https://docs.voyageai.com/docs/batch-inference; MongoDB's notebook "Voyage AI Batch API - OpenAI
SDK compatibility and migration guide", notebooks/tooling/voyageai_batch_api_openai_compatibility.ipynb
in github.com/mongodb-developer/GenAI-Showcase): a client made with your Voyage key and
``base_url="https://api.voyageai.com/v1"``, ``files.create(..., purpose="batch")``, then
``batches.create`` with the ``12h`` window and, since Voyage sets the model for the whole batch
rather than on each line, the model and its parameters in
``extra_body={"request_params": {...}}``; ``batches.retrieve``, ``batches.list`` and
``files.content`` as with OpenAI. The SDK creates the batch here, voyage-progress follows it
(``voyage-progress watch BATCH_ID`` would do the same from another terminal, or send it to
TouchDesigner), and the SDK reads the result.

This uses the SDK's async client, the same calls awaited, so that the simulator started when
``VOYAGE_API_KEY`` is not set can run in the same event loop.
"""

from __future__ import annotations

import json

from _connect import connect, run

from voyage_progress._format import format_duration

MOODS = [
    "a quiet room at dawn",
    "a crowd cheering in the rain",
    "neon reflections on wet asphalt",
    "a slow cello in an empty hall",
    "children laughing in a courtyard",
    "wind over a frozen lake",
    "a heartbeat under headphones",
    "sparks from a welding torch",
    "a lighthouse sweeping the fog",
    "footsteps in a long corridor",
    "a market at closing time",
    "the hum of a server room",
]
DIMENSIONS = 512


async def main() -> None:
    try:
        import openai
    except ImportError:
        raise SystemExit("examples/openai_sdk.py needs the OpenAI Python SDK: pip install openai") from None
    requests = [{"custom_id": f"mood-{i}", "body": {"input": [mood]}} for i, mood in enumerate(MOODS)]
    lines = "".join(json.dumps(request) + "\n" for request in requests)
    async with connect() as connection:
        base_url = connection.client.base_url
        async with openai.AsyncOpenAI(api_key=connection.api_key, base_url=base_url) as sdk:
            uploaded = await sdk.files.create(file=("moods.jsonl", lines.encode()), purpose="batch")
            print(f"Uploaded {uploaded.filename} as {uploaded.id}")
            batch = await sdk.batches.create(
                input_file_id=uploaded.id,
                endpoint="/v1/embeddings",
                completion_window="12h",  # type: ignore[arg-type]  # Voyage's window; the SDK types say 24h
                metadata={"label": "moods"},
                extra_body={
                    "request_params": {
                        "model": "voyage-3.5",
                        "input_type": "document",
                        "output_dimension": DIMENSIONS,
                    }
                },
            )
            print(f"Created {batch.id}: {batch.status}")

            async for event in connection.client.stream_batch_progress(
                batch.id, poll_interval=connection.poll_interval
            ):
                done = event.completed + event.failed
                print(
                    f"moods {done}/{event.total} ({event.percent:.0f}%) {event.status}, "
                    f"ETA {format_duration(event.eta_seconds)}"
                )

            final = await sdk.batches.retrieve(batch.id)
            newest = await sdk.batches.list(limit=10)
            listed = "among" if final.id in [b.id for b in newest.data] else "not among"
            print(f"Retrieved {final.id}: {final.status}, {listed} the 10 newest batches")
            if final.status != "completed" or not final.output_file_id:
                raise SystemExit(f"the batch ended as {final.status}; see its error file")
            output = await sdk.files.content(final.output_file_id)
            vectors = {
                record["custom_id"]: record["response"]["body"]["data"][0]["embedding"]
                for record in map(json.loads, output.text.splitlines())
            }
    sizes = {len(vector) for vector in vectors.values()}
    print(f"Embedded {len(vectors)} moods, {', '.join(map(str, sorted(sizes)))} dimensions each.")


if __name__ == "__main__":
    run(main())
