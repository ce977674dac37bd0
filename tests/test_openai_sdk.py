"""The third-party check: the OpenAI Python SDK, which Voyage documents for batches, works
against the simulator exactly as it is used against api.voyageai.com."""

from __future__ import annotations

import json

import openai
import pytest

from tests.conftest import jsonl
from voyage_progress.simulator import Simulator, run_simulator


@pytest.fixture
def sdk(sim: Simulator) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(api_key="voyage-test-key", base_url=sim.base_url, max_retries=0)


async def test_the_openai_sdk_runs_a_whole_batch(sdk: openai.AsyncOpenAI, sim: Simulator) -> None:
    uploaded = await sdk.files.create(file=("corpus.jsonl", jsonl(6)), purpose="batch")
    assert (
        uploaded.id.startswith("file-")
        and uploaded.filename == "corpus.jsonl"
        and uploaded.purpose == "batch"
    )

    batch = await sdk.batches.create(
        input_file_id=uploaded.id,
        endpoint="/v1/embeddings",
        completion_window="12h",  # type: ignore[arg-type]  # Voyage's window; OpenAI's types say 24h
        metadata={"corpus": "test"},
        extra_body={"request_params": {"model": "voyage-3.5", "output_dimension": 256}},
    )
    assert batch.status == "validating" and batch.metadata == {"corpus": "test"}

    retrieved = await sdk.batches.retrieve(batch.id)
    assert retrieved.id == batch.id and retrieved.endpoint == "/v1/embeddings"

    sim.advance(3600)
    done = await sdk.batches.retrieve(batch.id)
    assert done.status == "completed"
    assert done.request_counts is not None and done.request_counts.completed == 6
    content = await sdk.files.content(done.output_file_id)  # type: ignore[arg-type]
    lines = [json.loads(line) for line in content.text.splitlines()]
    assert sorted(line["custom_id"] for line in lines) == [f"req-{i}" for i in range(6)]
    assert all(len(line["response"]["body"]["data"][0]["embedding"]) == 256 for line in lines)


async def test_the_openai_sdk_lists_and_cancels(sdk: openai.AsyncOpenAI, sim: Simulator) -> None:
    ids = [sim.add_batch(10) for _ in range(5)]

    listed = [b.id async for b in sdk.batches.list(limit=2)]  # auto-pagination follows `after`
    assert listed == ids[::-1]
    assert sim.stats.by_route["GET /v1/batches"] == 3

    cancelling = await sdk.batches.cancel(ids[0])
    assert cancelling.status == "cancelling" and cancelling.cancelling_at is not None
    sim.advance(3600)
    assert (await sdk.batches.retrieve(ids[0])).status == "cancelled"

    with pytest.raises(openai.BadRequestError):
        await sdk.batches.cancel(ids[0])
    with pytest.raises(openai.NotFoundError):
        await sdk.batches.retrieve("batch-unknown")


async def test_the_openai_sdk_sees_401_for_a_wrong_key() -> None:
    async with run_simulator(speed=0, api_key="right-key") as sim:
        sdk = openai.AsyncOpenAI(api_key="wrong-key", base_url=sim.base_url, max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            await sdk.batches.list()
