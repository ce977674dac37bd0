"""The third-party check: the OpenAI Python SDK, which Voyage documents for batches, works
against the simulator exactly as it is used against api.voyageai.com; and against the
simulator's OpenAI dialect as it is used against api.openai.com."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

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


# -- the OpenAI dialect: the SDK against the simulator as it would be against api.openai.com ------


@pytest.fixture
async def openai_sim() -> AsyncIterator[Simulator]:
    async with run_simulator(speed=0, seed=4, dialect="openai") as simulator:
        yield simulator


def chat_jsonl(count: int) -> bytes:
    lines = [
        {
            "custom_id": f"task-{i}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"Say {i}"}]},
        }
        for i in range(count)
    ]
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


async def test_the_openai_sdk_runs_an_openai_batch(openai_sim: Simulator) -> None:
    sdk = openai.AsyncOpenAI(api_key="sk-test", base_url=openai_sim.base_url, max_retries=0)
    uploaded = await sdk.files.create(file=("tasks.jsonl", chat_jsonl(4)), purpose="batch")
    batch = await sdk.batches.create(
        input_file_id=uploaded.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        metadata={"show": "opening"},
    )
    assert (
        batch.id.startswith("batch_")
        and batch.status == "validating"
        and batch.metadata == {"show": "opening"}
    )
    assert batch.expires_at == batch.created_at + 24 * 3600 and batch.model == "gpt-4o-mini"

    openai_sim.advance(3600)
    done = await sdk.batches.retrieve(batch.id)
    assert done.status == "completed" and done.completed_at is not None
    assert done.request_counts is not None and done.request_counts.completed == 4
    assert done.output_file_id is not None
    lines = [json.loads(line) for line in (await sdk.files.content(done.output_file_id)).text.splitlines()]
    assert sorted(line["custom_id"] for line in lines) == [f"task-{i}" for i in range(4)]
    assert all(line["response"]["body"]["object"] == "chat.completion" for line in lines)
    assert all(line["id"].startswith("batch_req_") and line["error"] is None for line in lines)

    with pytest.raises(openai.BadRequestError, match="completion_window"):
        await sdk.batches.create(
            input_file_id=uploaded.id,
            endpoint="/v1/chat/completions",
            completion_window="12h",  # type: ignore[arg-type]
        )


async def test_the_openai_sdk_lists_cancels_and_sees_expired(openai_sim: Simulator) -> None:
    sdk = openai.AsyncOpenAI(api_key="sk-test", base_url=openai_sim.base_url, max_retries=0)
    ids = [openai_sim.add_batch(10) for _ in range(4)]
    late = openai_sim.add_batch(10, "expire")
    listed = [b.id async for b in sdk.batches.list(limit=2)]
    assert listed == [late, *ids[::-1]] and openai_sim.stats.by_route["GET /v1/batches"] == 3

    cancelling = await sdk.batches.cancel(ids[0])
    assert cancelling.status == "cancelling" and isinstance(cancelling.cancelling_at, int)
    openai_sim.advance(2 * 24 * 3600)
    assert (await sdk.batches.retrieve(ids[0])).status == "cancelled"
    expired = await sdk.batches.retrieve(late)
    assert expired.status == "expired" and expired.expired_at is not None and expired.error_file_id

    with pytest.raises(openai.NotFoundError):
        await sdk.batches.retrieve("batch_unknown")
    with pytest.raises(openai.BadRequestError):
        await sdk.batches.cancel(ids[0])


async def test_the_openai_sdk_sees_the_openai_dialects_errors() -> None:
    async with run_simulator(speed=0, dialect="openai", api_key="sk-right", faults="429=1") as sim:
        wrong = openai.AsyncOpenAI(api_key="sk-wrong", base_url=sim.base_url, max_retries=0)
        with pytest.raises(openai.AuthenticationError) as refused:
            await wrong.batches.list()
        right = openai.AsyncOpenAI(api_key="sk-right", base_url=sim.base_url, max_retries=0)
        with pytest.raises(openai.RateLimitError) as limited:
            await right.batches.list()
    assert refused.value.code == "invalid_api_key"
    assert limited.value.code == "rate_limit_exceeded" and limited.value.response.headers["retry-after"]
    assert limited.value.response.headers["x-request-id"].startswith("req_")
